import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { claimed, type SignedStatement } from "../domain/signing.ts";

/** Default JetStream key-value bucket of the published heads and checkpoints. */
export const HEADS_BUCKET = "audit_heads";

/** Versions of a tenant's head the bucket keeps (JetStream's maximum per key). */
const HISTORY = 64;

/**
 * Where audit publishes signed statements outside its database: a JetStream key-value bucket
 * written only by audit's NATS user. `head.<tenant>` holds the tenant's latest signed head (never
 * moved back); `checkpoint.<tenant>.<sequence>` each signed retention checkpoint (one key each, so
 * every checkpoint is kept).
 */
export interface HeadStore {
  latestHead(tenantId: string): Promise<SignedStatement | undefined>;
  /** Publishes a head unless the published one is already at or beyond it; false when it was. */
  publishHead(tenantId: string, head: SignedStatement): Promise<boolean>;
  checkpoint(tenantId: string, seq: number): Promise<SignedStatement | undefined>;
  publishCheckpoint(tenantId: string, seq: number, checkpoint: SignedStatement): Promise<void>;
}

type Stored = { payload: string; signature: string; key_id: string };

const encode = (s: SignedStatement) =>
  JSON.stringify({ payload: s.payload, signature: s.signature, key_id: s.keyId } satisfies Stored);

function decode(value: Uint8Array): SignedStatement | undefined {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(value)) as Partial<Stored>;
    if (typeof parsed.payload !== "string") return undefined;
    return { payload: parsed.payload, signature: parsed.signature ?? "", keyId: parsed.key_id ?? "" };
  } catch {
    return undefined;
  }
}

const headKey = (tenantId: string) => `head.${tenantId}`;
const checkpointKey = (tenantId: string, seq: number) => `checkpoint.${tenantId}.${seq}`;

/** Opens (creating when missing) the bucket; every call has the `timeoutMs` deadline. */
export async function openHeadStore(
  nats: NatsConnection,
  bucket = HEADS_BUCKET,
  timeoutMs = 5_000,
): Promise<HeadStore> {
  const kv: KV = await new Kvm(nats).create(bucket, {
    history: HISTORY,
    timeout: timeoutMs,
    description: "Tessera audit: each tenant's signed chain head and signed retention checkpoints",
  });
  const read = async (key: string) => {
    const entry = await kv.get(key);
    return entry && entry.operation === "PUT" ? decode(entry.value) : undefined;
  };
  return {
    latestHead: (tenantId) => read(headKey(tenantId)),
    async publishHead(tenantId, head) {
      const seq = claimed(head)?.sequence ?? 0;
      // compare-and-set on the key's revision: replicas racing never move a head back
      for (let attempt = 0; attempt < 5; attempt++) {
        const entry = await kv.get(headKey(tenantId));
        const current = entry && entry.operation === "PUT" ? decode(entry.value) : undefined;
        if (current && (claimed(current)?.sequence ?? 0) >= seq) return false;
        try {
          if (entry) await kv.update(headKey(tenantId), encode(head), entry.revision, timeoutMs);
          else await kv.create(headKey(tenantId), encode(head));
          return true;
        } catch (err) {
          if (!/wrong last sequence|key exists/i.test(err instanceof Error ? err.message : String(err))) throw err;
        }
      }
      throw new Error(`publishing the head of ${tenantId} kept conflicting with another writer`);
    },
    checkpoint: (tenantId, seq) => read(checkpointKey(tenantId, seq)),
    async publishCheckpoint(tenantId, seq, checkpoint) {
      await kv.put(checkpointKey(tenantId, seq), encode(checkpoint));
    },
  };
}
