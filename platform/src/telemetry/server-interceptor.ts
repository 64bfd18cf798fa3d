import { Code, type Interceptor } from "@connectrpc/connect";
import { propagation, ROOT_CONTEXT, SpanKind, trace } from "@opentelemetry/api";
import {
  grpcCodeName,
  headersGetter,
  RpcAttr,
  rpcIdentity,
  serverStatusOf,
  TELEMETRY_SCOPE,
} from "./rpc-attributes.ts";
import { serverInstruments } from "./rpc-metrics.ts";
import { endRpcSpan, OK, observeCall, secondsSince } from "./rpc-observe.ts";

// gRPC semantic conventions: on the server, only statuses that say the server failed mark the
// span as an error; a NOT_FOUND or PERMISSION_DENIED is the caller's problem, not ours.
const serverFailureCodes = new Set<number>([
  Code.Unknown,
  Code.DeadlineExceeded,
  Code.Unimplemented,
  Code.Internal,
  Code.Unavailable,
  Code.DataLoss,
]);

/**
 * The Connect server interceptor for traces and RED metrics. Put it FIRST in the interceptor
 * list (outermost), so it sees the final status after error mapping and times the whole call.
 *
 * - Continues the caller's trace from `traceparent` / `tracestate` (W3C) request headers, or
 *   starts a new one, with a SERVER span `<package.Service>/<Method>` that is active while the
 *   handler runs (so logs carry its trace_id).
 * - Records `rpc.server.duration` (seconds), `rpc.server.requests` and `rpc.server.errors`
 *   with attributes rpc.system, rpc.service, rpc.method, rpc.response.status_code only; never a
 *   tenant id (tenant usage belongs to metering, not metric labels).
 * - Streaming responses are measured to the end of the stream (last message, error, or the
 *   client going away, which counts as CANCELLED).
 * - Anything thrown that is not a ConnectError counts as INTERNAL, which is what Connect sends.
 */
export function telemetryServerInterceptor(): Interceptor {
  return (next) => async (req) => {
    const rpc = rpcIdentity(req.service.typeName, req.method.name, req.header);
    // The trace comes from the wire only: never inherit whatever context happens to be ambient.
    const parent = propagation.extract(ROOT_CONTEXT, req.header, headersGetter);
    const span = trace
      .getTracer(TELEMETRY_SCOPE)
      .startSpan(rpc.spanName, { kind: SpanKind.SERVER, attributes: rpc.attributes }, parent);
    const ctx = trace.setSpan(parent, span);
    const started = performance.now();
    return observeCall(req, next, ctx, serverStatusOf, (code, err) => {
      const attributes = { ...rpc.attributes, [RpcAttr.statusCode]: grpcCodeName(code) };
      const instruments = serverInstruments();
      instruments.duration.record(secondsSince(started), attributes);
      instruments.requests.add(1, attributes);
      if (code !== OK) instruments.errors.add(1, attributes);
      endRpcSpan(span, code, err, (c) => serverFailureCodes.has(c));
    });
  };
}

/**
 * Counts a call refused before the interceptors ran (the kit's request gate: no credential) in the
 * same RED metrics, so an endpoint's error rate includes the calls it turned away.
 */
export function recordServerRefusal(
  service: string,
  method: string,
  header: Headers,
  code: Code,
  started: number,
): void {
  const rpc = rpcIdentity(service, method, header);
  const attributes = { ...rpc.attributes, [RpcAttr.statusCode]: grpcCodeName(code) };
  const instruments = serverInstruments();
  instruments.duration.record(secondsSince(started), attributes);
  instruments.requests.add(1, attributes);
  instruments.errors.add(1, attributes);
}
