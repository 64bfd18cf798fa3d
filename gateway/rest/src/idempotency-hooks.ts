import type { Logger } from "@tessera/platform/log";
import type { FastifyReply, FastifyRequest } from "fastify";
import { IDEMPOTENCY_KEY_PATTERN, type IdempotencyStore, idempotencyScope, requestFingerprint } from "./idempotency.ts";
import { ProblemError } from "./problems.ts";
import { stateOf } from "./request-state.ts";

const REPLAYED_HEADERS = ["content-type", "etag", "location"];

/**
 * preHandler of creations: with an `Idempotency-Key`, claims the key for this tenant (the first
 * request runs), replays the stored response of a finished one, refuses a different request under
 * the same key (422) and a duplicate while the first still runs (409). The key scope is the
 * tenant of the verified credential; the fingerprint binds caller, method, path and body.
 */
export function idempotencyPreHandler(store: IdempotencyStore, logger: Logger) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const key = req.headers["idempotency-key"];
    if (key === undefined) return undefined;
    if (typeof key !== "string" || !IDEMPOTENCY_KEY_PATTERN.test(key)) {
      throw new ProblemError("invalid-request", "Invalid Idempotency-Key.", [
        { field: "Idempotency-Key", message: "must be one value of 1–255 visible ASCII characters" },
      ]);
    }
    const state = stateOf(req);
    if (!state.tenantId) throw new Error("idempotency needs an authenticated tenant");
    const fingerprint = requestFingerprint({
      subject: state.subject ?? "",
      method: req.method,
      path: req.url.split("?")[0] ?? "",
      body: req.body,
    });
    let outcome: Awaited<ReturnType<IdempotencyStore["begin"]>>;
    try {
      outcome = await store.begin(idempotencyScope(state.tenantId, key), fingerprint);
    } catch (err) {
      logger.warn({ err }, "idempotency store unavailable");
      throw new ProblemError("unavailable", "Idempotency keys cannot be checked right now; retry later.");
    }
    switch (outcome.kind) {
      case "proceed":
        state.idempotency = outcome.lease;
        return undefined;
      case "replay": {
        state.replayed = true;
        const { status, headers, body } = outcome.response;
        return reply
          .code(status)
          .headers({ ...headers, "idempotent-replayed": "true" })
          .send(body);
      }
      case "in-flight":
        throw new ProblemError(
          "idempotency-key-in-use",
          "A request with this Idempotency-Key is still being processed; retry later.",
          undefined,
          { "retry-after": "1" },
        );
      case "mismatch":
        throw new ProblemError(
          "idempotency-key-reused",
          "This Idempotency-Key was used for a different request (caller, method, path or body).",
        );
    }
  };
}

/**
 * onSend part: keeps the response of a request that claimed a key (2xx and 4xx: the outcome of
 * running it), or frees the key after a 5xx or 429 so the client can retry with it.
 */
export async function settleIdempotency(
  req: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
  logger: Logger,
): Promise<void> {
  const state = stateOf(req);
  const lease = state.idempotency;
  if (!lease) return;
  state.idempotency = undefined;
  const status = reply.statusCode;
  const body = typeof payload === "string" ? payload : Buffer.isBuffer(payload) ? payload.toString("utf8") : undefined;
  try {
    if (status >= 500 || status === 429 || body === undefined) {
      await lease.abandon();
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of REPLAYED_HEADERS) {
      const value = reply.getHeader(name);
      if (value !== undefined) headers[name] = String(value);
    }
    await lease.complete({ status, headers, body: withoutSecrets(body, req.routeOptions.config?.tessera?.notStored) });
  } catch (err) {
    // the key stays claimed until IDEMPOTENCY_LOCK_MS passes; then a retry takes it over
    logger.warn({ err, status_code: status }, "could not record the idempotent response");
  }
}

/** The body to keep: without the route's secret fields (a replay must not hand a secret out again). */
function withoutSecrets(body: string, fields: readonly string[] | undefined): string {
  if (!fields?.length) return body;
  try {
    const value = JSON.parse(body) as unknown;
    if (!value || typeof value !== "object" || Array.isArray(value)) return body;
    const kept = { ...(value as Record<string, unknown>) };
    for (const f of fields) delete kept[f];
    return JSON.stringify(kept);
  } catch {
    return body;
  }
}
