import type { StreamRequest, StreamResponse, UnaryRequest, UnaryResponse } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Context, context, type Exception, type Span, SpanStatusCode } from "@opentelemetry/api";
import { scrubLine } from "../log/index.ts";
import { grpcCodeName, RpcAttr } from "./rpc-attributes.ts";

type AnyRequest = UnaryRequest | StreamRequest;
type AnyResponse = UnaryResponse | StreamResponse;
type Next = (req: AnyRequest) => Promise<AnyResponse>;

/** Status 0: gRPC's OK, which Connect's Code enum leaves out. */
export const OK = 0;

/** Called exactly once per call with the final status and, on failure, what was thrown. */
export type CallEnd = (code: number, err: unknown) => void;

/**
 * Runs `next` with `ctx` active and reports the call's end once: for unary calls when the
 * response arrives, for streaming calls when the response stream ends, fails or is abandoned
 * (then CANCELLED, or the deadline's status). Each pull from the stream also runs with `ctx` active, so
 * a streaming handler's body (which runs lazily, as it is pulled) sees the span too.
 */
export async function observeCall(
  req: AnyRequest,
  next: Next,
  ctx: Context,
  statusOf: (err: unknown) => number,
  onEnd: CallEnd,
): Promise<AnyResponse> {
  let res: AnyResponse;
  try {
    res = await context.with(ctx, () => next(req));
  } catch (err) {
    onEnd(statusOf(err), err);
    throw err;
  }
  if (!res.stream) {
    onEnd(completedStatus(req.signal), undefined);
    return res;
  }
  return { ...res, message: observeStream(res.message, ctx, req.signal, statusOf, onEnd) };
}

/**
 * The status of a call whose response completed: OK, unless the call's signal was aborted
 * first. Connect ends an abandoned stream quietly (the client stopped reading, or the peer
 * reset it) and lets a handler that ignored its deadline finish, so "done" alone is not "OK".
 */
function completedStatus(signal: AbortSignal): number {
  if (!signal.aborted) return OK;
  const reason: unknown = signal.reason;
  return reason instanceof ConnectError ? reason.code : Code.Canceled;
}

/**
 * Wraps a response stream so the call's end is reported once, however the stream finishes:
 * exhausted (OK), failed (its status), or closed early by the consumer (`return`: the client
 * went away or stopped reading, CANCELLED; `throw`: the consumer failed writing, CANCELLED
 * unless it names a status). A hand-written iterator rather than a generator, because a
 * generator closed before its first pull never runs its `finally`.
 */
function observeStream<T>(
  source: AsyncIterable<T>,
  ctx: Context,
  signal: AbortSignal,
  statusOf: (err: unknown) => number,
  onEnd: CallEnd,
): AsyncIterable<T> {
  let ended = false;
  const end = (code: number, err: unknown) => {
    if (ended) return;
    ended = true;
    onEnd(code, err);
  };
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const it = source[Symbol.asyncIterator]();
      return {
        async next() {
          try {
            const step = await context.with(ctx, () => it.next());
            if (step.done === true) end(completedStatus(signal), undefined);
            return step;
          } catch (err) {
            end(statusOf(err), err);
            throw err;
          }
        },
        async return(value?: unknown) {
          end(Code.Canceled, undefined);
          try {
            await context.with(ctx, () => it.return?.(value));
          } catch {
            // The source failing while it is being closed changes nothing: the call was cancelled.
          }
          return { done: true, value: undefined };
        },
        async throw(err?: unknown) {
          end(err instanceof ConnectError ? err.code : Code.Canceled, err);
          const rethrow = it.throw?.bind(it);
          if (rethrow) return context.with(ctx, () => rethrow(err));
          throw err;
        },
      };
    },
  };
}

/** An exception for a span event with credentials masked, as logs mask them. */
function safeException(err: unknown): Exception {
  if (err instanceof Error) {
    const out: Exception = { name: err.name, message: scrubLine(err.message) };
    if (err.stack !== undefined) out.stack = scrubLine(err.stack);
    return out;
  }
  return { name: "Error", message: scrubLine(String(err)) };
}

/**
 * Sets the final status on a span and ends it. `isError` decides which codes mark the span as
 * failed (servers: only codes that mean the server failed; clients: any non-OK code).
 */
export function endRpcSpan(span: Span, code: number, err: unknown, isError: (code: number) => boolean): void {
  const name = grpcCodeName(code);
  span.setAttribute(RpcAttr.grpcStatusCode, code);
  span.setAttribute(RpcAttr.statusCode, name);
  if (err !== undefined) span.recordException(safeException(err));
  if (isError(code)) {
    const message = err instanceof Error ? scrubLine(err.message) : name;
    span.setStatus({ code: SpanStatusCode.ERROR, message });
  }
  span.end();
}

/** Seconds elapsed since a `performance.now()` reading. */
export function secondsSince(startedMs: number): number {
  return (performance.now() - startedMs) / 1000;
}
