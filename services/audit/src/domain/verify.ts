import { chainHash, GENESIS_HASH } from "./record.ts";
import { RECORD_COLUMNS, type RecordRow, recordFromRow, type Sql } from "./sql.ts";

/** The part of a tenant's log to verify; 0 or absent ends are open (start of the retained log, head). */
export interface VerifyRange {
  readonly from?: number;
  readonly to?: number;
}

/** What retention left where it removed a prefix: the last removed record's sequence and hash. */
export interface Checkpoint {
  readonly seq: number;
  readonly hash: Buffer;
  readonly createdAt: Date;
}

/** The answer of verifyChain. */
export interface VerifyResult {
  readonly ok: boolean;
  /** The first sequence at which the chain breaks, when it does. */
  readonly firstBrokenSeq?: number;
  readonly reason?: string;
  /** The range verified (0 and 0 for an empty log). */
  readonly from: number;
  readonly to: number;
  readonly verified: number;
  readonly checkpoint?: Checkpoint;
}

interface Link {
  seq: number;
  hash: Buffer;
}

const HEAD = `select last_seq, last_hash from audit_heads where tenant_id = ?`;
const CHECKPOINT = `select seq, hash, created_at from audit_checkpoints where tenant_id = ? order by seq desc limit 1`;
const ONE = `select seq, hash from audit_records where tenant_id = ? and seq = ?`;

/** The latest retention checkpoint of a tenant, if retention ever removed a prefix. */
export async function latestCheckpoint(sql: Sql, tenantId: string): Promise<Checkpoint | undefined> {
  const [row] = await sql<{ seq: string | number; hash: Buffer; created_at: Date }>(CHECKPOINT, [tenantId]);
  return row ? { seq: Number(row.seq), hash: row.hash, createdAt: new Date(row.created_at) } : undefined;
}

/**
 * Verifies a tenant's hash chain over a range, reading records in sequence order in batches
 * (memory stays flat however long the log). Every record must follow its predecessor without a
 * gap, carry its predecessor's hash, and hash to its stored hash; a range that ends at the head
 * must end exactly at the head row's sequence and hash (so a removed last record is found too).
 * The chain starts from genesis, or from the latest retention checkpoint. Answers ok, or the
 * first sequence at which a record was changed, removed or misplaced. Run it inside one snapshot
 * (a repeatable-read transaction) so concurrent appends and retention do not look like breaks.
 */
export async function verifyChain(
  sql: Sql,
  tenantId: string,
  range: VerifyRange = {},
  batchSize = 1_000,
): Promise<VerifyResult> {
  const [head] = await sql<{ last_seq: string | number; last_hash: Buffer }>(HEAD, [tenantId]);
  const checkpoint = await latestCheckpoint(sql, tenantId);
  const base: Link = checkpoint ?? { seq: 0, hash: GENESIS_HASH };
  const headLink: Link = head ? { seq: Number(head.last_seq), hash: head.last_hash } : base;
  const from = Math.max(range.from || base.seq + 1, base.seq + 1);
  const toHead = !range.to || range.to >= headLink.seq;
  const to = toHead ? headLink.seq : (range.to as number);
  const withCheckpoint = checkpoint ? { checkpoint } : {};
  const result = (fields: Partial<VerifyResult> & { verified: number }): VerifyResult => ({
    ok: fields.firstBrokenSeq === undefined,
    from: fields.verified > 0 || fields.firstBrokenSeq !== undefined ? from : 0,
    to: fields.verified > 0 || fields.firstBrokenSeq !== undefined ? to : 0,
    ...withCheckpoint,
    ...fields,
  });
  if (from > to + 1 || (from > to && !toHead)) return result({ verified: 0 });

  let prev: Link = base;
  if (from > base.seq + 1) {
    const [anchor] = await sql<{ seq: string | number; hash: Buffer }>(ONE, [tenantId, from - 1]);
    if (!anchor) return result({ verified: 0, firstBrokenSeq: from - 1, reason: "sequence missing" });
    prev = { seq: Number(anchor.seq), hash: anchor.hash };
  }

  let verified = 0;
  const upper = toHead ? "" : " and seq <= ?";
  const text = `select ${RECORD_COLUMNS} from audit_records where tenant_id = ? and seq > ?${upper} order by seq limit ?`;
  for (;;) {
    const params = toHead ? [tenantId, prev.seq, batchSize] : [tenantId, prev.seq, to, batchSize];
    const rows = await sql<RecordRow>(text, params);
    for (const row of rows) {
      const record = recordFromRow(row);
      const expected = prev.seq + 1;
      if (record.seq !== expected) return result({ verified, firstBrokenSeq: expected, reason: "sequence missing" });
      if (!record.prevHash.equals(prev.hash)) {
        return result({ verified, firstBrokenSeq: record.seq, reason: "previous hash does not match" });
      }
      if (!chainHash(record.prevHash, record).equals(record.hash)) {
        return result({ verified, firstBrokenSeq: record.seq, reason: "hash does not match the record" });
      }
      verified += 1;
      prev = { seq: record.seq, hash: record.hash };
    }
    if (rows.length < batchSize) break;
  }

  const end: Link = toHead ? headLink : { seq: to, hash: prev.hash };
  if (prev.seq < end.seq) return result({ verified, firstBrokenSeq: prev.seq + 1, reason: "sequence missing" });
  if (prev.seq > end.seq) return result({ verified, firstBrokenSeq: end.seq + 1, reason: "record beyond the head" });
  if (!prev.hash.equals(end.hash)) {
    return result({ verified, firstBrokenSeq: prev.seq, reason: "head does not match the last record" });
  }
  return result({ verified });
}
