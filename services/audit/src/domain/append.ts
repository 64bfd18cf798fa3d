import type { DerivedFields } from "./derive.ts";
import { type AuditRecord, chainHash, GENESIS_HASH, type RecordFields } from "./record.ts";
import { RECORD_COLUMNS, type Sql } from "./sql.ts";

const ENSURE_HEAD = `insert into audit_heads (tenant_id, last_seq, last_hash) values (?, 0, ?) on conflict (tenant_id) do nothing`;
const LOCK_HEAD = `select last_seq, last_hash from audit_heads where tenant_id = ? for update`;
const ALREADY = `select seq from audit_records where tenant_id = ? and event_id = ?`;
const INSERT = `insert into audit_records (${RECORD_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
const MOVE_HEAD = `update audit_heads set last_seq = ?, last_hash = ?, updated_at = now() where tenant_id = ?`;

/** What appendRecord did. */
export type AppendResult = { appended: true; record: AuditRecord } | { appended: false; seq: number };

/**
 * Appends one record to its tenant's chain, in the caller's transaction (set to that tenant).
 * The tenant's head row is locked for the rest of the transaction, so appends of one tenant are
 * serialised: the next sequence is the head's + 1 (no gaps, no duplicates) and the record links
 * to the head's hash. An event already recorded (same event id) is not recorded again.
 */
export async function appendRecord(sql: Sql, fields: DerivedFields, recordedAt = new Date()): Promise<AppendResult> {
  await sql(ENSURE_HEAD, [fields.tenantId, GENESIS_HASH]);
  const [head] = await sql<{ last_seq: string | number; last_hash: Buffer }>(LOCK_HEAD, [fields.tenantId]);
  if (!head) throw new Error("audit head row vanished inside its transaction");
  const [existing] = await sql<{ seq: string | number }>(ALREADY, [fields.tenantId, fields.eventId]);
  if (existing) return { appended: false, seq: Number(existing.seq) };

  const record: RecordFields = { ...fields, seq: Number(head.last_seq) + 1, recordedAt };
  const prevHash = head.last_hash;
  const hash = chainHash(prevHash, record);
  await sql(INSERT, [
    record.tenantId,
    record.seq,
    record.eventId,
    record.occurredAt,
    record.recordedAt,
    record.actorKind,
    record.actorId,
    record.action,
    record.targetType,
    record.targetId,
    record.outcome,
    record.sourceIp,
    record.userAgent,
    prevHash,
    hash,
  ]);
  await sql(MOVE_HEAD, [record.seq, hash, record.tenantId]);
  return { appended: true, record: { ...record, prevHash, hash } };
}
