import { type DiagLogger, DiagLogLevel, diag } from "@opentelemetry/api";
import { getStringFromEnv } from "@opentelemetry/core";
import type { Logger } from "../log/index.ts";

function describe(arg: unknown): string {
  if (arg instanceof Error) return `${arg.name}: ${arg.message}`;
  if (typeof arg === "string") return arg;
  try {
    return JSON.stringify(arg);
  } catch {
    return String(arg);
  }
}

/**
 * Routes the SDK's own warnings (an unreachable collector, a failed export) into the service's
 * JSON log, where they would otherwise vanish. Skipped when OTEL_LOG_LEVEL is set: then the
 * SDK's console logger is what the operator asked for.
 */
export function installDiagLogger(log: Logger): boolean {
  if (getStringFromEnv("OTEL_LOG_LEVEL") !== undefined) return false;
  const child = log.child({ component: "opentelemetry" });
  const line =
    (level: "error" | "warn" | "info" | "debug") =>
    (message: string, ...args: unknown[]) =>
      child[level](args.length > 0 ? `${message} ${args.map(describe).join(" ")}` : message);
  const logger: DiagLogger = {
    error: line("error"),
    warn: line("warn"),
    info: line("info"),
    debug: line("debug"),
    verbose: line("debug"),
  };
  return diag.setLogger(logger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
}
