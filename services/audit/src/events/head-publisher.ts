import type { Orm } from "@tessera/platform/db";
import type { Logger } from "@tessera/platform/log";
import { checkpointProblem, storedCheckpoints } from "../domain/anchor.ts";
import { type AuditKeys, type AuditSigner, claimed, HEAD_FORMAT, signStatement } from "../domain/signing.ts";
import { readSnapshot } from "../domain/snapshot.ts";
import { verifyChain } from "../domain/verify.ts";
import type { HeadStore } from "./publish-heads.ts";

/** Signs and publishes tenants' chain heads. */
export interface HeadPublisher {
  /** A tenant's log grew (called after the appending transaction committed). */
  touched(tenantId: string): void;
  /** Signs and publishes the head of every touched tenant now. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/** Options of startHeadPublisher. */
export interface HeadPublisherOptions {
  orm: Orm;
  store: HeadStore;
  signer: AuditSigner;
  keys: AuditKeys;
  logger: Logger;
  /** How often touched tenants' heads are signed and published: the bound on the unsigned tail. */
  intervalMs: number;
  /** Every tenant with a log (the owner role's view); swept at start and every `sweepIntervalMs`. */
  listTenants?: () => Promise<string[]>;
  sweepIntervalMs?: number;
}

/** What one tenant's publication did. */
type Outcome = "published" | "current" | "refused";

const HEAD_ROW = `select last_seq, last_hash from audit_heads where tenant_id = ?`;
const RECORD_HASH = `select hash from audit_records where tenant_id = ? and seq = ?`;

/**
 * Every `intervalMs`, for each tenant whose log grew: reads the latest published head, checks in
 * one snapshot that the database's chain extends it (the record at its sequence still carries its
 * hash and every later record links and hashes correctly; a chain that does not is never signed,
 * it is logged as an error), signs the new head and publishes it (never moving it back). A
 * checkpoint that retention signed but could not publish is published then too.
 */
export function startHeadPublisher(options: HeadPublisherOptions): HeadPublisher {
  const { orm, store, signer, keys, logger } = options;
  const dirty = new Set<string>();
  let running: Promise<void> = Promise.resolve();
  let stopped = false;

  async function publishTenant(tenantId: string): Promise<Outcome> {
    const published = await store.latestHead(tenantId);
    const claim = published && claimed(published);
    const plan = await readSnapshot(orm, tenantId, async (sql) => {
      const [head] = await sql<{ last_seq: string | number; last_hash: Buffer }>(HEAD_ROW, [tenantId]);
      const headSeq = head ? Number(head.last_seq) : 0;
      const [latest] = await storedCheckpoints(sql, tenantId);
      if (!head || headSeq === 0 || (claim && claim.sequence >= headSeq)) {
        if (claim && claim.sequence > headSeq) return { refused: `the published head (${claim.sequence}) is ahead` };
        return { headSeq, latest };
      }
      // the new head must extend the published one: signing never blesses a rewrite
      let from = 0;
      if (latest && (!claim || claim.sequence <= latest.seq)) {
        const problem = checkpointProblem(keys, tenantId, latest, latest.signed);
        if (problem) return { refused: `the checkpoint at ${latest.seq} the chain starts from: ${problem}` };
      }
      if (claim && claim.sequence > (latest?.seq ?? 0)) {
        const [at] = await sql<{ hash: Buffer }>(RECORD_HASH, [tenantId, claim.sequence]);
        if (at?.hash.toString("hex") !== claim.hash) {
          return { refused: `the record at ${claim.sequence} no longer carries the published head's hash` };
        }
        from = claim.sequence + 1;
      }
      const check = await verifyChain(sql, tenantId, { from });
      if (!check.ok) return { refused: `chain broken at ${check.firstBrokenSeq}: ${check.reason}` };
      return { headSeq, latest, sign: { seq: headSeq, hash: head.last_hash.toString("hex") } };
    });
    if ("refused" in plan) {
      logger.error({ tenant_id: tenantId, reason: plan.refused }, "audit head not signed: the chain does not verify");
      return "refused";
    }
    if (plan.latest && !checkpointProblem(keys, tenantId, plan.latest, plan.latest.signed)) {
      const signedCheckpoint = plan.latest.signed;
      if (signedCheckpoint && !(await store.checkpoint(tenantId, plan.latest.seq))) {
        await store.publishCheckpoint(tenantId, plan.latest.seq, signedCheckpoint);
      }
    }
    if (!plan.sign) return "current";
    const statement = signStatement(signer, {
      format: HEAD_FORMAT,
      tenant_id: tenantId,
      sequence: plan.sign.seq,
      hash: plan.sign.hash,
      signed_at: new Date().toISOString(),
    });
    return (await store.publishHead(tenantId, statement)) ? "published" : "current";
  }

  async function flushOnce(): Promise<void> {
    const tenants = [...dirty];
    dirty.clear();
    for (const tenantId of tenants) {
      if (stopped) return;
      try {
        const outcome = await publishTenant(tenantId);
        if (outcome === "published") logger.debug({ tenant_id: tenantId }, "audit head signed and published");
      } catch (err) {
        // tried again on the next flush
        dirty.add(tenantId);
        logger.warn(
          { tenant_id: tenantId, err_message: err instanceof Error ? err.message : String(err) },
          "publishing the audit head failed",
        );
      }
    }
  }

  const flush = () => {
    running = running.catch(() => {}).then(() => (stopped ? undefined : flushOnce()));
    return running;
  };
  const sweep = async () => {
    try {
      for (const tenantId of (await options.listTenants?.()) ?? []) dirty.add(tenantId);
    } catch (err) {
      logger.warn({ err_message: err instanceof Error ? err.message : String(err) }, "listing audit tenants failed");
    }
  };
  const timer = setInterval(() => void flush(), options.intervalMs);
  timer.unref();
  const sweeper = options.listTenants ? setInterval(() => void sweep(), options.sweepIntervalMs ?? 300_000) : undefined;
  sweeper?.unref();
  void sweep();

  return {
    touched: (tenantId) => {
      dirty.add(tenantId);
    },
    flush,
    async stop() {
      stopped = true;
      clearInterval(timer);
      if (sweeper) clearInterval(sweeper);
      await running.catch(() => {});
    },
  };
}
