import { context, diag, logs, type Meter, metrics, propagation, type Tracer, trace } from "@opentelemetry/api";
import {
  CompositePropagator,
  getBooleanFromEnv,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from "@opentelemetry/core";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import type { IMetricReader } from "@opentelemetry/sdk-metrics";
import { NodeSDK } from "@opentelemetry/sdk-node";
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  NoopSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace";
import { type Logger, rootLogger } from "../log/index.ts";
import { installDiagLogger } from "./diag-logger.ts";
import { type MetricsServer, startMetricsServer } from "./metrics-server.ts";

/** How a process sets up OpenTelemetry. Map it from the environment (see README.md). */
export interface TelemetryOptions {
  /** service.name on every span and metric, e.g. "projects". */
  service: string;
  /** service.version. */
  version?: string;
  /**
   * OTLP/HTTP base endpoint of a collector, e.g. `http://otel-collector:4318` (the value of
   * OTEL_EXPORTER_OTLP_ENDPOINT); traces are POSTed to `<endpoint>/v1/traces`. When absent,
   * spans are still created and sampled (trace ids reach logs and peers) but exported nowhere.
   */
  otlpEndpoint?: string;
  /** Deadline of each OTLP export request, and of flushing at shutdown. Default 5000 ms. */
  otlpTimeoutMs?: number;
  /** Port of the Prometheus `GET /metrics` endpoint (0 = any free port). No endpoint when absent. */
  metricsPort?: number;
  /** Address the metrics endpoint binds. Default 127.0.0.1; pods use 0.0.0.0 so Prometheus can scrape. */
  metricsHost?: string;
  /** An extra span exporter, flushed span by span (tests pass an InMemorySpanExporter). */
  traceExporter?: SpanExporter;
  /** An extra metric reader (tests, or a push exporter). */
  metricReader?: IMetricReader;
  /** Where the SDK's own warnings go; the root logger by default. */
  logger?: Logger;
}

/** The process's telemetry, once initialised. */
export interface Telemetry {
  /** A tracer named after the service, for spans the kit does not create itself. */
  readonly tracer: Tracer;
  /** A meter named after the service, for the service's own metrics. */
  readonly meter: Meter;
  /** The Prometheus scrape URL, when metricsPort was given. */
  readonly metricsUrl?: string;
  /** Flushes pending spans (bounded by the OTLP timeout), stops /metrics and unregisters the globals. Idempotent. */
  shutdown(): Promise<void>;
}

const DEFAULT_OTLP_TIMEOUT_MS = 5_000;

let active: Telemetry | undefined;

function validate(options: TelemetryOptions): void {
  const problems: string[] = [];
  if (typeof options.service !== "string" || options.service.trim() === "")
    problems.push("service must be a non-empty name");
  const port = options.metricsPort;
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    problems.push(`metricsPort must be an integer from 0 to 65535, got ${String(port)}`);
  }
  if (options.metricsHost !== undefined && options.metricsHost.trim() === "")
    problems.push("metricsHost must not be empty");
  const timeout = options.otlpTimeoutMs;
  if (timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0)) {
    problems.push(`otlpTimeoutMs must be a positive integer, got ${String(timeout)}`);
  }
  if (options.otlpEndpoint !== undefined) {
    const url = URL.parse(options.otlpEndpoint);
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
      problems.push("otlpEndpoint must be an http:// or https:// URL");
    }
  }
  if (problems.length > 0) throw new Error(`telemetry: invalid options: ${problems.join("; ")}`);
}

/** `<base>/v1/traces`, as the OTLP spec derives the traces URL from OTEL_EXPORTER_OTLP_ENDPOINT. */
export function otlpTracesUrl(endpoint: string): string {
  const base = endpoint.replace(/\/+$/, "");
  return base.endsWith("/v1/traces") ? base : `${base}/v1/traces`;
}

function spanProcessors(options: TelemetryOptions, timeoutMs: number): SpanProcessor[] {
  const processors: SpanProcessor[] = [];
  if (options.traceExporter) processors.push(new SimpleSpanProcessor({ exporter: options.traceExporter }));
  if (options.otlpEndpoint !== undefined) {
    const exporter = new OTLPTraceExporter({ url: otlpTracesUrl(options.otlpEndpoint), timeoutMillis: timeoutMs });
    processors.push(new BatchSpanProcessor({ exporter, exportTimeoutMillis: timeoutMs }));
  }
  // Without any processor NodeSDK would install no tracer provider at all, and then no span
  // (hence no trace id in logs or in outgoing headers) would exist.
  if (processors.length === 0) processors.push(new NoopSpanProcessor());
  return processors;
}

function withDeadline(work: Promise<unknown>, ms: number, what: string, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      log.warn({ component: "opentelemetry" }, `${what} did not finish within ${ms} ms; giving up`);
      resolve();
    }, ms);
  });
  const done = work.then(
    () => undefined,
    (err: unknown) => log.warn({ component: "opentelemetry", err }, `${what} failed`),
  );
  return Promise.race([done, deadline]).finally(() => clearTimeout(timer));
}

function unregisterGlobals(): void {
  trace.disable();
  metrics.disable();
  logs.disable();
  propagation.disable();
  context.disable();
  diag.disable();
}

/**
 * Sets up OpenTelemetry for this process: the global tracer and meter providers, W3C
 * trace-context + baggage propagators and an AsyncLocalStorage context manager; traces to
 * OTLP/HTTP when configured; metrics on a Prometheus `/metrics` endpoint when a port is given.
 * Call once, first thing in main, and `shutdown()` on exit. Throws on invalid options, when the
 * metrics port cannot be bound, and when telemetry is already initialised in this process.
 * Honours OTEL_SDK_DISABLED=true (then everything is a no-op).
 */
export async function initTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  validate(options);
  if (active) throw new Error("telemetry: already initialised in this process; call shutdown() first");
  const service = options.service.trim();
  const log = options.logger ?? rootLogger();
  const handles = (metricsUrl?: string) => ({
    tracer: trace.getTracer(service, options.version),
    meter: metrics.getMeter(service, options.version),
    ...(metricsUrl !== undefined ? { metricsUrl } : {}),
  });

  if (getBooleanFromEnv("OTEL_SDK_DISABLED")) {
    return { ...handles(), shutdown: async () => {} };
  }

  const timeoutMs = options.otlpTimeoutMs ?? DEFAULT_OTLP_TIMEOUT_MS;
  const prometheus =
    options.metricsPort !== undefined ? new PrometheusExporter({ preventServerStart: true }) : undefined;
  const readers: IMetricReader[] = [];
  if (prometheus) readers.push(prometheus);
  if (options.metricReader) readers.push(options.metricReader);

  const sdk = new NodeSDK({
    resource: defaultResource().merge(
      resourceFromAttributes({
        "service.name": service,
        ...(options.version !== undefined ? { "service.version": options.version } : {}),
      }),
    ),
    // Host/process detectors would put command lines and host names on every metric series.
    autoDetectResources: false,
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: spanProcessors(options, timeoutMs),
    textMapPropagator: new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    }),
    metricReaders: readers,
    // Logs go through pino to stdout; an empty list also stops NodeSDK defaulting to an OTLP log exporter.
    logRecordProcessors: [],
    instrumentations: [],
  });
  installDiagLogger(log);
  sdk.start();

  let server: MetricsServer | undefined;
  if (prometheus && options.metricsPort !== undefined) {
    try {
      server = await startMetricsServer(prometheus, options.metricsPort, options.metricsHost ?? "127.0.0.1");
    } catch (err) {
      await withDeadline(sdk.shutdown(), timeoutMs, "telemetry shutdown", log);
      unregisterGlobals();
      throw err;
    }
  }

  let stopping: Promise<void> | undefined;
  const telemetry: Telemetry = {
    ...handles(server?.url),
    shutdown() {
      stopping ??= (async () => {
        await withDeadline(sdk.shutdown(), timeoutMs + 1_000, "telemetry shutdown", log);
        await server?.close();
        unregisterGlobals();
        if (active === telemetry) active = undefined;
      })();
      return stopping;
    },
  };
  active = telemetry;
  return telemetry;
}
