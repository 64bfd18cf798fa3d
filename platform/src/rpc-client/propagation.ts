import type { Interceptor } from "@connectrpc/connect";
import { currentContext } from "../context/index.ts";

/**
 * Client interceptor that carries the current request context to the next service: the
 * internal token as `authorization: Bearer …` and the request id as `x-request-id`. Headers the
 * caller set explicitly win. Trace context is the telemetry interceptor's job.
 */
export function propagationInterceptor(): Interceptor {
  return (next) => (req) => {
    const ctx = currentContext();
    if (ctx?.token && !req.header.has("authorization")) req.header.set("authorization", `Bearer ${ctx.token}`);
    if (ctx?.requestId && !req.header.has("x-request-id")) req.header.set("x-request-id", ctx.requestId);
    return next(req);
  };
}
