import { AsyncLocalStorage } from "node:async_hooks";
import type { StreamRequest, StreamResponse, UnaryRequest, UnaryResponse } from "@connectrpc/connect";
import { type RequestContext, runWithContext } from "./index.ts";

type AnyRequest = UnaryRequest | StreamRequest;
type AnyResponse = UnaryResponse | StreamResponse;

/**
 * Calls `next(req)` inside the given context (see `runWithContext`), for interceptors that
 * establish the tenant or principal. Unlike a bare `runWithContext(ctx, () => next(req))`, it
 * also holds for server-streaming handlers, whose body runs only when the response is iterated.
 */
export function nextWithContext(
  ctx: Partial<RequestContext>,
  next: (req: AnyRequest) => Promise<AnyResponse>,
  req: AnyRequest,
): Promise<AnyResponse> {
  return runWithContext(ctx, async () => {
    const res = await next(req);
    if (!res.stream) return res;
    const inContext = AsyncLocalStorage.snapshot();
    return { ...res, message: bindIterable(res.message, inContext) };
  });
}

function bindIterable<T>(source: AsyncIterable<T>, inContext: <R>(fn: () => R) => R): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const it = inContext(() => source[Symbol.asyncIterator]());
      return {
        next: (...args) => inContext(() => it.next(...args)),
        return: (value) =>
          inContext(() => (it.return ? it.return(value) : Promise.resolve({ done: true as const, value: undefined }))),
        throw: (err) => inContext(() => (it.throw ? it.throw(err) : Promise.reject(err))),
      };
    },
  };
}
