import {
  type Counter,
  type Histogram,
  type MeterProvider,
  metrics,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import type { Logger } from "@tessera/platform/log";
import { RPC_DURATION_BUCKETS } from "@tessera/platform/telemetry";
import type { FastifyReply, FastifyRequest } from "fastify";
import { inRequestScope, stateOf } from "./request-state.ts";

/** Instrumentation scope of the edge's spans and metrics. */
export const SCOPE = "@tessera/rest-gateway";

/** Route label of requests no route matched (keeps label values bounded). */
export const UNMATCHED_ROUTE = "unmatched";

interface HttpInstruments {
  duration: Histogram;
  requests: Counter;
  errors: Counter;
}

// keyed by provider: instruments made before initTelemetry would stay no-ops otherwise
const cache = new WeakMap<MeterProvider, HttpInstruments>();

function instruments(): HttpInstruments {
  const provider = metrics.getMeterProvider();
  let found = cache.get(provider);
  if (!found) {
    const meter = provider.getMeter(SCOPE);
    found = {
      duration: meter.createHistogram("http.server.duration_seconds", {
        description: "Duration of REST requests, from the first byte read to the response sent.",
        unit: "s",
        advice: { explicitBucketBoundaries: [...RPC_DURATION_BUCKETS] },
      }),
      requests: meter.createCounter("http.server.requests", {
        description: "REST requests completed, by route, method and status code.",
        unit: "{request}",
      }),
      errors: meter.createCounter("http.server.errors", {
        description: "REST requests answered with a 4xx or 5xx status, by route, method and status code.",
        unit: "{request}",
      }),
    };
    cache.set(provider, found);
  }
  return found;
}

/** The edge's tracer (resolved per use: telemetry may be initialised after this module loads). */
export const tracer = () => trace.getTracer(SCOPE);

/** The route template of a request (`/v1/projects/:projectId`), never the raw path with ids. */
export function routeOf(req: FastifyRequest): string {
  return req.routeOptions.url ?? UNMATCHED_ROUTE;
}

/** First hook: starts the request's SERVER span, continuing the caller's trace (`traceparent`). */
export async function startRequestSpan(req: FastifyRequest): Promise<void> {
  const state = stateOf(req);
  state.parentContext = propagation.extract(ROOT_CONTEXT, req.headers);
  const route = routeOf(req);
  state.span = tracer().startSpan(
    route === UNMATCHED_ROUTE ? req.method : `${req.method} ${route}`,
    {
      kind: SpanKind.SERVER,
      attributes: { "http.request.method": req.method, "http.route": route, "url.scheme": req.protocol },
    },
    state.parentContext,
  );
}

/**
 * Last hook: RED metrics (labels route, method, status_code; never a tenant), the span's status,
 * and one JSON access-log line that carries tenant_id, request_id and trace_id.
 */
export function finishRequest(logger: Logger) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const state = stateOf(req);
    const seconds = Number(process.hrtime.bigint() - state.startedAt) / 1e9;
    const status = reply.statusCode;
    const labels = { route: routeOf(req), method: req.method, status_code: String(status) };
    const m = instruments();
    m.duration.record(seconds, labels);
    m.requests.add(1, labels);
    if (status >= 400) m.errors.add(1, labels);
    const span = state.span;
    if (span) {
      span.setAttribute("http.response.status_code", status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    }
    inRequestScope(state, () => {
      const line = {
        method: req.method,
        route: labels.route,
        path: req.url.split("?")[0],
        status_code: status,
        duration_ms: Math.round(seconds * 1000 * 10) / 10,
        ...(state.subject !== undefined && { subject: state.subject }),
        ...(state.replayed && { idempotent_replay: true }),
      };
      if (status >= 500) logger.error(line, "request");
      else if (labels.route === "/healthz") logger.debug(line, "request");
      else logger.info(line, "request");
    });
    span?.end();
  };
}
