import { trace } from "@opentelemetry/api";
import pino from "pino";
import { currentContext } from "../context/index.ts";
import { REDACT_PATHS, scrubLine } from "./redact.ts";

export type Logger = pino.Logger;

export interface LoggerOptions {
  service: string;
  level?: string;
  /** Where lines go; stdout when omitted. Tests pass a stream to capture them. */
  destination?: pino.DestinationStream;
}

/** Marker written as tenant_id for work that belongs to no tenant (start-up, platform jobs). */
export const PLATFORM_TENANT = "-platform-";

/**
 * A pino JSON logger whose every line carries service, tenant_id, request_id (from the request
 * context) and trace_id/span_id (from the active span). Secret-named fields are redacted, inline
 * credentials in messages are masked, and JSON encoding keeps CR/LF from starting a new line.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? process.env.LOG_LEVEL ?? "info",
      base: { service: options.service },
      messageKey: "msg",
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: "[REDACTED]" },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((a) => (typeof a === "string" ? scrubLine(a) : a));
          method.apply(this, scrubbed as Parameters<typeof method>);
        },
      },
      serializers: {
        err: (err: unknown) => {
          const s = pino.stdSerializers.err(err as Error);
          return { ...s, message: scrubLine(String(s.message ?? "")), stack: scrubLine(String(s.stack ?? "")) };
        },
      },
      mixin() {
        const ctx = currentContext();
        const span = trace.getActiveSpan()?.spanContext();
        return {
          tenant_id: ctx?.tenantId ?? PLATFORM_TENANT,
          request_id: ctx?.requestId,
          trace_id: span?.traceId ?? ctx?.traceId,
          span_id: span?.spanId,
        };
      },
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}

let root: Logger | undefined;

/** The process-wide logger (service "tessera" until a process sets its own). */
export function rootLogger(): Logger {
  root ??= createLogger({ service: process.env.SERVICE_NAME ?? "tessera" });
  return root;
}

/** Installs the process-wide logger; call once from main. */
export function setRootLogger(logger: Logger): void {
  root = logger;
}
