import { env, z } from "../config/index.ts";
import type { TelemetryOptions } from "./init.ts";

/**
 * The telemetry variables every service reads; spread into the service's config schema:
 * `z.object({ ...telemetryEnv, DATABASE_URL: env.postgresUrl() })`.
 */
export const telemetryEnv = {
  OTEL_EXPORTER_OTLP_ENDPOINT: env.url().optional(),
  OTEL_EXPORTER_OTLP_TIMEOUT: env.durationMs(5_000),
  METRICS_PORT: env.port(9464),
  METRICS_HOST: z.string().min(1).default("127.0.0.1"),
};

/** The parsed values of {@link telemetryEnv}. */
export type TelemetryEnv = z.infer<z.ZodObject<typeof telemetryEnv>>;

/** initTelemetry options from a service's parsed config. */
export function telemetryOptionsFromEnv(service: string, config: TelemetryEnv, version?: string): TelemetryOptions {
  return {
    service,
    ...(version !== undefined ? { version } : {}),
    ...(config.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined ? { otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT } : {}),
    otlpTimeoutMs: config.OTEL_EXPORTER_OTLP_TIMEOUT,
    metricsPort: config.METRICS_PORT,
    metricsHost: config.METRICS_HOST,
  };
}
