import { AsyncLocalStorage } from "node:async_hooks";
import { type Context, context, type Span, trace } from "@opentelemetry/api";
import { runWithContext } from "@tessera/platform/context";
import { type EdgeCredential, runWithCredential, type TokenExchanger } from "@tessera/platform/edge";
import type { FastifyRequest } from "fastify";
import type { IdempotencyLease } from "./idempotency.ts";
import type { RateLimitDecision } from "./rate-limit.ts";

/** What the edge knows about one request, from its first hook to its last. */
export interface EdgeState {
  readonly requestId: string;
  readonly startedAt: bigint;
  /** The SERVER span of the request and the context it continues (from `traceparent`). */
  span: Span | undefined;
  parentContext: Context;
  credential: EdgeCredential | undefined;
  /** The caller's tenant, from the exchanged (identity-signed) token; never from the request. */
  tenantId: string | undefined;
  /** The caller: user id or API key id. */
  subject: string | undefined;
  /** Internal tokens exchanged for this request, per audience (one exchange per audience and request). */
  readonly tokens: Map<string, Promise<string>>;
  rateLimit: RateLimitDecision | undefined;
  idempotency: IdempotencyLease | undefined;
  /** The response came from the idempotency store. */
  replayed: boolean;
}

const states = new WeakMap<FastifyRequest, EdgeState>();

/** The edge state of a request (created on first use). */
export function stateOf(req: FastifyRequest): EdgeState {
  let state = states.get(req);
  if (!state) {
    state = {
      requestId: req.id,
      startedAt: process.hrtime.bigint(),
      span: undefined,
      parentContext: context.active(),
      credential: undefined,
      tenantId: undefined,
      subject: undefined,
      tokens: new Map(),
      rateLimit: undefined,
      idempotency: undefined,
      replayed: false,
    };
    states.set(req, state);
  }
  return state;
}

const tokenMemo = new AsyncLocalStorage<Map<string, Promise<string>>>();

/**
 * Runs fn as part of the request: its span active (so logs carry trace_id and outgoing calls
 * continue the trace), the kit's request context set (tenant_id and request_id in every log
 * line), and the caller's credential available to the exchange interceptor.
 */
export function inRequestScope<T>(state: EdgeState, fn: () => T): T {
  const otelContext = state.span ? trace.setSpan(state.parentContext, state.span) : state.parentContext;
  return context.with(otelContext, () =>
    runWithContext(
      { requestId: state.requestId, tenantId: state.tenantId, principal: undefined, token: undefined },
      () => tokenMemo.run(state.tokens, () => (state.credential ? runWithCredential(state.credential, fn) : fn())),
    ),
  );
}

/**
 * An exchanger that exchanges a credential at most once per audience and request (the result is
 * shared by every call the request makes), and on every request anew: an API key revoked now
 * fails on the next request, not on some later one.
 */
export function requestScopedExchanger(inner: TokenExchanger): TokenExchanger {
  return {
    internalToken(credential, audience) {
      const memo = tokenMemo.getStore();
      if (!memo) return inner.internalToken(credential, audience);
      let token = memo.get(audience);
      if (!token) {
        token = inner.internalToken(credential, audience);
        memo.set(audience, token);
        token.catch(() => memo.delete(audience));
      }
      return token;
    },
    stats: () => inner.stats(),
    close: () => inner.close(),
  };
}
