import type { Interceptor } from "@connectrpc/connect";
import { context, propagation, SpanKind, trace } from "@opentelemetry/api";
import {
  clientStatusOf,
  grpcCodeName,
  headersSetter,
  RpcAttr,
  rpcIdentity,
  TELEMETRY_SCOPE,
} from "./rpc-attributes.ts";
import { clientInstruments } from "./rpc-metrics.ts";
import { endRpcSpan, OK, observeCall, secondsSince } from "./rpc-observe.ts";

/**
 * The Connect client interceptor for traces and latency. Put it FIRST in the transport's
 * interceptor list, so retries and auth added by later interceptors happen inside its span.
 *
 * Starts a CLIENT span `<package.Service>/<Method>` as a child of the active span (for a call
 * made from a handler: that handler's SERVER span), writes W3C `traceparent` / `tracestate`
 * (and `baggage`, when there is any) into the request headers, and records
 * `rpc.client.duration` (seconds; streams until their last message) by rpc.system,
 * rpc.service, rpc.method and rpc.response.status_code. Any non-OK status marks the span as an error.
 */
export function telemetryClientInterceptor(): Interceptor {
  return (next) => async (req) => {
    const rpc = rpcIdentity(req.service.typeName, req.method.name, req.header);
    const parent = context.active();
    const span = trace
      .getTracer(TELEMETRY_SCOPE)
      .startSpan(
        rpc.spanName,
        { kind: SpanKind.CLIENT, attributes: { ...rpc.attributes, ...serverAddress(req.url) } },
        parent,
      );
    const ctx = trace.setSpan(parent, span);
    propagation.inject(ctx, req.header, headersSetter);
    const started = performance.now();
    return observeCall(req, next, ctx, clientStatusOf, (code, err) => {
      clientInstruments().duration.record(secondsSince(started), {
        ...rpc.attributes,
        [RpcAttr.statusCode]: grpcCodeName(code),
      });
      endRpcSpan(span, code, err, (c) => c !== OK);
    });
  };
}

function serverAddress(url: string): Record<string, string | number> {
  try {
    const u = new URL(url);
    const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
    return { "server.address": u.hostname, "server.port": port };
  } catch {
    return {};
  }
}
