import type { Orm } from "@tessera/platform/db";
import type { HeadStore } from "../events/publish-heads.ts";
import {
  type AuditKeys,
  CHECKPOINT_FORMAT,
  type CheckpointStatement,
  checkStatement,
  claimed,
  HEAD_FORMAT,
  type HeadStatement,
  type SignedStatement,
} from "./signing.ts";
import { readSnapshot } from "./snapshot.ts";
import type { Sql } from "./sql.ts";
import { type VerifyRange, type VerifyResult, verifyChain } from "./verify.ts";

/** What VerifyChain found (the contract's ChainFinding, by name). */
export type Finding =
  | "intact"
  | "record_broken"
  | "head_mismatch"
  | "truncated"
  | "checkpoint_unsigned"
  | "checkpoint_unpublished";

/** The chain verified in the database, then against what was signed and published outside it. */
export interface AnchoredResult extends VerifyResult {
  readonly finding: Finding;
  readonly publishedHead?: SignedStatement;
  /** Records after the published head (appended, not signed yet). */
  readonly unsignedCount: number;
  readonly anchored: boolean;
  readonly anchorNote?: string;
}

/** A stored retention checkpoint with its signed statement (NULLs before signing existed, or forged). */
export interface StoredCheckpoint {
  readonly seq: number;
  readonly hash: Buffer;
  readonly signed?: SignedStatement;
}

/** What verification anchors to: the keys and, when NATS is there, the published statements. */
export interface AnchorDeps {
  readonly orm: Orm;
  readonly keys: AuditKeys;
  readonly store?: HeadStore | undefined;
}

const CHECKPOINTS = `select seq, hash, statement, signature, key_id from audit_checkpoints where tenant_id = ? order by seq desc limit 50`;

/** The tenant's checkpoints, newest first (at most 50). */
export async function storedCheckpoints(sql: Sql, tenantId: string): Promise<StoredCheckpoint[]> {
  const rows = await sql<{
    seq: string | number;
    hash: Buffer;
    statement: string | null;
    signature: string | null;
    key_id: string | null;
  }>(CHECKPOINTS, [tenantId]);
  return rows.map((r) => ({
    seq: Number(r.seq),
    hash: r.hash,
    ...(r.statement && { signed: { payload: r.statement, signature: r.signature ?? "", keyId: r.key_id ?? "" } }),
  }));
}

/** Whether a signed checkpoint statement is valid and states exactly this checkpoint. */
export function checkpointProblem(keys: AuditKeys, tenantId: string, cp: StoredCheckpoint, signed?: SignedStatement) {
  if (!signed) return "it has no signed statement";
  const check = checkStatement<CheckpointStatement>(keys, signed, CHECKPOINT_FORMAT, tenantId);
  if (!check.ok) return check.problem;
  if (check.statement.sequence !== cp.seq || check.statement.hash !== cp.hash.toString("hex")) {
    return `its signed statement is about sequence ${check.statement.sequence}, hash ${check.statement.hash.slice(0, 12)}…`;
  }
  return undefined;
}

const HEAD_ROW = `select last_seq, last_hash from audit_heads where tenant_id = ?`;
const RECORD_HASH = `select hash from audit_records where tenant_id = ? and seq = ?`;

/**
 * VerifyChain: recomputes the tenant's chain in the database (one snapshot), then checks it against
 * the latest signed head published outside the database — the record at its sequence must carry its
 * hash (else history was rewritten and rehashed), and the database must reach it (else its tail was
 * cut) — and the retention checkpoint the log starts from against its signature and publication.
 * The published head is read before the snapshot, so it is never ahead of an honest database.
 */
export async function verifyAnchored(deps: AnchorDeps, tenantId: string, range: VerifyRange): Promise<AnchoredResult> {
  const { keys, store } = deps;
  const notes: string[] = [];
  let publishedHead: SignedStatement | undefined;
  if (!store) notes.push("signed heads are not published here (no NATS)");
  else {
    try {
      publishedHead = await store.latestHead(tenantId);
    } catch (err) {
      notes.push(`the published heads could not be read: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (keys.trusted.size === 0) notes.push("no public keys to verify signatures with (AUDIT_VERIFY_KEYS)");
  const claim = publishedHead && claimed(publishedHead);

  const db = await readSnapshot(deps.orm, tenantId, async (sql) => {
    const chain = await verifyChain(sql, tenantId, range);
    const [head] = await sql<{ last_seq: string | number; last_hash: Buffer }>(HEAD_ROW, [tenantId]);
    const checkpoints = await storedCheckpoints(sql, tenantId);
    const [atClaim] = claim ? await sql<{ hash: Buffer }>(RECORD_HASH, [tenantId, claim.sequence]) : [];
    return { chain, headSeq: head ? Number(head.last_seq) : 0, checkpoints, atClaim: atClaim?.hash };
  });
  const { chain, headSeq, checkpoints } = db;
  const latest = checkpoints[0];
  const base = {
    ...chain,
    ...(publishedHead && { publishedHead }),
    unsignedCount: Math.max(0, headSeq - (claim?.sequence ?? latest?.seq ?? 0)),
  };
  const fail = (finding: Finding, firstBrokenSeq: number, reason: string): AnchoredResult => ({
    ...base,
    ok: false,
    finding,
    firstBrokenSeq,
    reason,
    anchored: true,
  });
  if (!chain.ok) return { ...base, finding: "record_broken", anchored: false, anchorNote: notes.join("; ") };
  const canVerify = keys.trusted.size > 0;

  // the checkpoint the retained log starts from (when the range starts there)
  const fromStart = !range.from || (latest !== undefined && range.from <= latest.seq + 1);
  if (latest && fromStart && canVerify) {
    let published: SignedStatement | undefined;
    let lookup = store ? "" : "unknown (no NATS)";
    if (store) {
      try {
        published = await store.checkpoint(tenantId, latest.seq);
      } catch (err) {
        lookup = `unknown (${err instanceof Error ? err.message : String(err)})`;
      }
    }
    const problem = checkpointProblem(keys, tenantId, latest, published ?? latest.signed);
    if (problem) {
      const genuine = checkpoints.slice(1).find((cp) => !checkpointProblem(keys, tenantId, cp, cp.signed));
      return fail(
        "checkpoint_unsigned",
        (genuine?.seq ?? 0) + 1,
        `the retention checkpoint at sequence ${latest.seq} is not trustworthy: ${problem}` +
          `${published ? " (as published)" : lookup ? "" : ", and it is not among the published checkpoints"}; ` +
          `records ${(genuine?.seq ?? 0) + 1}–${latest.seq} were removed without a signed checkpoint`,
      );
    }
    if (!published && store && !lookup) {
      return fail(
        "checkpoint_unpublished",
        latest.seq,
        `the retention checkpoint at sequence ${latest.seq} is signed but was never published outside the database`,
      );
    }
    if (lookup) notes.push(`whether the checkpoint was published is ${lookup}`);
  }

  if (!publishedHead || !claim) {
    if (store && canVerify && !notes.some((n) => n.startsWith("the published"))) {
      notes.push(headSeq > 0 ? "no signed head has been published for this log yet" : "the log is empty");
    }
    return { ...base, finding: "intact", anchored: false, anchorNote: notes.join("; ") };
  }
  if (!canVerify) return { ...base, finding: "intact", anchored: false, anchorNote: notes.join("; ") };
  const check = checkStatement<HeadStatement>(keys, publishedHead, HEAD_FORMAT, tenantId);
  if (!check.ok)
    return fail("head_mismatch", claim.sequence, `the published head is not trustworthy: ${check.problem}`);
  const signed = check.statement;
  const toHead = !range.to || range.to >= headSeq;
  if (signed.sequence > headSeq) {
    if (!toHead) return { ...base, finding: "intact", anchored: true };
    return fail(
      "truncated",
      headSeq + 1,
      `the published signed head is at sequence ${signed.sequence} (signed ${signed.signed_at}) but the database's ` +
        `head is at ${headSeq}: records ${headSeq + 1}–${signed.sequence} were removed and the head moved back`,
    );
  }
  const inRange = signed.sequence >= (range.from || 0) && (toHead || signed.sequence <= (range.to ?? 0));
  if (db.atClaim && inRange && db.atClaim.toString("hex") !== signed.hash) {
    return fail(
      "head_mismatch",
      signed.sequence,
      `the record at sequence ${signed.sequence} does not carry the hash of the published signed head ` +
        `(signed ${signed.signed_at}, ${signed.hash.slice(0, 12)}… ≠ ${db.atClaim.toString("hex").slice(0, 12)}…): ` +
        `a record at or before it was rewritten and the hashes after it recomputed`,
    );
  }
  if (!db.atClaim && latest && signed.sequence === latest.seq && latest.hash.toString("hex") !== signed.hash) {
    return fail(
      "head_mismatch",
      signed.sequence,
      `the retention checkpoint at ${latest.seq} does not carry the hash of the published signed head`,
    );
  }
  return { ...base, finding: "intact", anchored: true, ...(notes.length > 0 && { anchorNote: notes.join("; ") }) };
}
