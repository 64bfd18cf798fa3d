import { createHash } from "node:crypto";

/** Kinds of actor a record names (the envelope's ActorKind, by name). */
export type ActorKindName = "user" | "api_key" | "service" | "system" | "unspecified";

/** How the recorded action ended. */
export type OutcomeName = "success" | "failure" | "denied";

/** The tenant id of platform-level events (no tenant): visible to platform admins only. */
export const PLATFORM_TENANT_ID = "00000000-0000-0000-0000-000000000000";

/** What the chain starts from: the "previous hash" of a tenant's first record. */
export const GENESIS_HASH: Buffer = Buffer.alloc(32);

/** The fields of one audit record that its hash covers. */
export interface RecordFields {
  readonly tenantId: string;
  readonly seq: number;
  readonly eventId: string;
  readonly occurredAt: Date;
  readonly recordedAt: Date;
  readonly actorKind: ActorKindName;
  readonly actorId: string;
  readonly action: string;
  readonly targetType: string;
  readonly targetId: string;
  readonly outcome: OutcomeName;
  /** Empty when unknown. */
  readonly sourceIp: string;
  /** Empty when unknown. */
  readonly userAgent: string;
}

/** One stored record: its fields, the previous record's hash and its own. */
export interface AuditRecord extends RecordFields {
  readonly prevHash: Buffer;
  readonly hash: Buffer;
}

type Json = string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };

/**
 * Canonical JSON: object keys sorted by UTF-16 code units at every level, no whitespace, strings
 * and numbers as JSON.stringify writes them. The same value always gives the same text.
 */
export function canonicalJson(value: Json): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v: Json) => canonicalJson(v)).join(",")}]`;
  const entries = Object.keys(value)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, Json>)[key] ?? null)}`);
  return `{${entries.join(",")}}`;
}

/** The canonical text of a record (every field but the hashes), which its hash covers. */
export function canonicalRecord(r: RecordFields): string {
  return canonicalJson({
    action: r.action,
    actor: { id: r.actorId, kind: r.actorKind },
    event_id: r.eventId,
    occurred_at: r.occurredAt.toISOString(),
    outcome: r.outcome,
    recorded_at: r.recordedAt.toISOString(),
    sequence: r.seq,
    source_ip: r.sourceIp,
    target: { id: r.targetId, type: r.targetType },
    tenant_id: r.tenantId,
    user_agent: r.userAgent,
  });
}

/** SHA-256(previous hash ‖ UTF-8 of the canonical record). */
export function chainHash(prevHash: Buffer, fields: RecordFields): Buffer {
  return createHash("sha256").update(prevHash).update(canonicalRecord(fields), "utf8").digest();
}

/** A string as PostgreSQL text stores it and JSON hashes it alike: well-formed UTF-16, no NUL. */
export function storableText(value: string, maxLength: number): string {
  return value.toWellFormed().replaceAll("\u0000", "").slice(0, maxLength).toWellFormed();
}
