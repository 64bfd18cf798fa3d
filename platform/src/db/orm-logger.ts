import type { LogContext, LoggerNamespace, Logger as OrmLogger } from "@mikro-orm/core";
import type { Logger } from "../log/index.ts";

/**
 * Routes MikroORM's logging into the kit's pino logger. Queries are logged at debug level only
 * when enabled, and never with their parameter values (the `query-params` namespace is not
 * enabled by `debug: true`), so row data does not reach the logs.
 */
export function createOrmLogger(log: Logger, debugMode: boolean | LoggerNamespace[]): OrmLogger {
  let mode = debugMode;
  const isEnabled = (namespace: LoggerNamespace, context?: LogContext): boolean => {
    if (context?.enabled !== undefined) return context.enabled;
    const active = context?.debugMode ?? mode;
    if (active === true) return namespace !== "query-params";
    return Array.isArray(active) && active.includes(namespace);
  };
  return {
    log(namespace, message, context) {
      if (context?.level === "error") log.error({ orm: namespace }, message);
      else if (context?.level === "warning") log.warn({ orm: namespace }, message);
      else if (isEnabled(namespace as LoggerNamespace, context)) log.debug({ orm: namespace }, message);
    },
    warn(namespace, message) {
      log.warn({ orm: namespace }, message);
    },
    error(namespace, message) {
      log.error({ orm: namespace }, message);
    },
    logQuery(context) {
      if (!isEnabled("query", context)) return;
      log.debug(
        { orm: "query", sql: context.query, took_ms: context.took, affected: context.affected, rows: context.results },
        "sql",
      );
    },
    setDebugMode(next) {
      mode = next;
    },
    isEnabled,
  };
}
