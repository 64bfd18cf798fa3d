import { createHash } from "node:crypto";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";

/** A response as it is kept for replay. */
export interface StoredResponse {
  readonly status: number;
  /** The representation headers worth replaying (content-type, etag, location). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** A request that holds its idempotency key until it finishes. */
export interface IdempotencyLease {
  /** Keeps the response for replay (for the store's lifetime). */
  complete(response: StoredResponse): Promise<void>;
  /** Forgets the key, so the client may retry with it (5xx, or the request never ran). */
  abandon(): Promise<void>;
}

/** What to do with a request that carries an idempotency key. */
export type IdempotencyOutcome =
  | { readonly kind: "proceed"; readonly lease: IdempotencyLease }
  | { readonly kind: "replay"; readonly response: StoredResponse }
  | { readonly kind: "in-flight" }
  | { readonly kind: "mismatch" };

/** Idempotency records, per scope (tenant + key). */
export interface IdempotencyStore {
  /** Claims the key for a request with this fingerprint, or says how the earlier one went. */
  begin(scope: string, fingerprint: string): Promise<IdempotencyOutcome>;
}

/** Valid `Idempotency-Key` values: 1–255 visible ASCII characters. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * The record key of an idempotency key: the tenant's id (from the verified exchange, never from
 * the request) plus a hash of the client's key, so tenant B can never reach tenant A's record.
 */
export function idempotencyScope(tenantId: string, key: string): string {
  return `${tenantId.toLowerCase().replace(/[^a-z0-9-]/g, "_")}.${sha256(key)}`;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/**
 * What makes two requests "the same" for an idempotency key: the caller (API key or user), the
 * method, the path and the JSON body (key order and whitespace do not matter).
 */
export function requestFingerprint(request: { subject: string; method: string; path: string; body: unknown }): string {
  return sha256(JSON.stringify([request.subject, request.method, request.path, canonical(request.body ?? null)]));
}

interface KeptRecord {
  v: 1;
  state: "pending" | "done";
  fingerprint: string;
  startedAt: number;
  response?: StoredResponse;
}

/** Options of {@link createKvIdempotencyStore}. */
export interface KvIdempotencyStoreOptions {
  /** KV bucket name (stream `KV_<bucket>`). */
  readonly bucket: string;
  /** How long records are kept after their last write (at least 24 h in production). */
  readonly ttlMs: number;
  /** How long an unfinished request holds its key before another may take it over. */
  readonly lockMs: number;
  /** Deadline of each KV operation. Default 5 000 ms. */
  readonly timeoutMs?: number;
  readonly now?: () => number;
}

function isWrongSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

const encoder = new TextEncoder();
const encode = (record: KeptRecord) => encoder.encode(JSON.stringify(record));

/**
 * Idempotency records in a NATS JetStream key-value bucket: atomic create claims a key (so two
 * replicas cannot both run one request), compare-and-set revisions finish or take it over, and the
 * bucket's max age removes records `ttlMs` after their last write.
 */
export async function createKvIdempotencyStore(
  nc: NatsConnection,
  options: KvIdempotencyStoreOptions,
): Promise<IdempotencyStore> {
  const timeout = options.timeoutMs ?? 5_000;
  const now = options.now ?? Date.now;
  const kv: KV = await new Kvm(nc).create(options.bucket, { ttl: options.ttlMs, history: 1, timeout });

  const lease = (key: string, revision: number, fingerprint: string, startedAt: number): IdempotencyLease => ({
    async complete(response) {
      await kv.update(key, encode({ v: 1, state: "done", fingerprint, startedAt, response }), revision, timeout);
    },
    async abandon() {
      await kv.delete(key, { previousSeq: revision }).catch((err: unknown) => {
        if (!isWrongSequence(err)) throw err;
      });
    },
  });

  return {
    async begin(scope, fingerprint) {
      for (let attempt = 0; attempt < 3; attempt++) {
        const startedAt = now();
        const pending = encode({ v: 1, state: "pending", fingerprint, startedAt });
        try {
          const revision = await kv.create(scope, pending);
          return { kind: "proceed", lease: lease(scope, revision, fingerprint, startedAt) };
        } catch (err) {
          if (!isWrongSequence(err)) throw err;
        }
        const entry = await kv.get(scope);
        if (entry?.operation !== "PUT") continue;
        const kept = entry.json<KeptRecord>();
        if (kept.fingerprint !== fingerprint) return { kind: "mismatch" };
        if (kept.state === "done" && kept.response) return { kind: "replay", response: kept.response };
        if (now() - kept.startedAt < options.lockMs) return { kind: "in-flight" };
        try {
          const revision = await kv.update(scope, pending, entry.revision, timeout);
          return { kind: "proceed", lease: lease(scope, revision, fingerprint, startedAt) };
        } catch (err) {
          if (!isWrongSequence(err)) throw err;
        }
      }
      return { kind: "in-flight" };
    },
  };
}
