import type { TxEntityManager } from "@tessera/platform/db";
import type pg from "pg";
import type { AuditRecord, RecordFields } from "./record.ts";

/**
 * One SQL statement with `?` placeholders, returning rows. The domain code runs on either an ORM
 * transaction (the service) or a plain pg client (retention as the owner, tamper tests): both
 * adapt to this.
 */
export type Sql = <R extends object = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<R[]>;

/** Statements through an EntityManager bound to a transaction. */
export function emSql(em: TxEntityManager): Sql {
  return async <R extends object>(text: string, params: unknown[] = []) => {
    const rows = await em.execute(text, params, "all");
    return rows as unknown as R[];
  };
}

/** Statements through a pg client or pool (`?` becomes `$1`, `$2`, …). */
export function pgSql(client: pg.ClientBase | pg.Pool): Sql {
  return async <R extends object>(text: string, params: unknown[] = []) => {
    let n = 0;
    const numbered = text.replace(/\?/g, () => `$${++n}`);
    const result = await client.query(numbered, params);
    return result.rows as R[];
  };
}

/** Columns of audit_records in the order RECORD_COLUMNS lists them. */
export const RECORD_COLUMNS =
  "tenant_id, seq, event_id, occurred_at, recorded_at, actor_kind, actor_id, action, target_type, target_id, outcome, source_ip, user_agent, prev_hash, hash";

/** A row of audit_records as the driver returns it. */
export interface RecordRow {
  tenant_id: string;
  seq: string | number;
  event_id: string;
  occurred_at: Date | string;
  recorded_at: Date | string;
  actor_kind: string;
  actor_id: string;
  action: string;
  target_type: string;
  target_id: string;
  outcome: string;
  source_ip: string;
  user_agent: string;
  prev_hash: Buffer;
  hash: Buffer;
}

const date = (value: Date | string) => (value instanceof Date ? value : new Date(value));

/** A stored row as a record. */
export function recordFromRow(row: RecordRow): AuditRecord {
  return {
    tenantId: row.tenant_id,
    seq: Number(row.seq),
    eventId: row.event_id,
    occurredAt: date(row.occurred_at),
    recordedAt: date(row.recorded_at),
    actorKind: row.actor_kind as RecordFields["actorKind"],
    actorId: row.actor_id,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    outcome: row.outcome as RecordFields["outcome"],
    sourceIp: row.source_ip,
    userAgent: row.user_agent,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}
