import { SpanStatusCode, trace } from "@opentelemetry/api";
import { runWithContext } from "@tessera/platform/context";
import type { Logger } from "@tessera/platform/log";
import type pg from "pg";
import type { HeadStore } from "../events/publish-heads.ts";
import { checkpointProblem, storedCheckpoints } from "./anchor.ts";
import { retentionDays } from "./plans.ts";
import { PLATFORM_TENANT_ID } from "./record.ts";
import {
  type AuditKeys,
  type AuditSigner,
  CHECKPOINT_FORMAT,
  claimed,
  type SignedStatement,
  signStatement,
} from "./signing.ts";
import { pgSql } from "./sql.ts";
import { verifyChain } from "./verify.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const tracer = trace.getTracer("@tessera/audit");

/** How retention runs. */
export interface RetentionOptions {
  /** A pool connected as the role allowed to remove records (the database owner; see README). */
  pool: pg.Pool;
  /** Days records of the platform tenant (no plan) are kept. */
  platformRetentionDays: number;
  /** Most records removed per tenant per run (the rest go on the next run). Default 10 000. */
  maxRecordsPerRun?: number;
  logger: Logger;
  /** The clock (tests move it forward instead of back-dating records, which would break their hashes). */
  now?: () => Date;
  /** Signs each checkpoint (stored with it); without it checkpoints are stored unsigned. */
  signer?: AuditSigner | undefined;
  /** Trusted keys: a prefix is not removed beyond a checkpoint whose signature they do not verify. */
  keys?: AuditKeys | undefined;
  /**
   * Where signed heads and checkpoints are published: the prefix is checked against the published
   * head before it goes, and each new checkpoint is published after its transaction commits.
   */
  store?: HeadStore | undefined;
  /** Called with a tenant whose checkpoint could not be published (the head publisher retries). */
  onUnpublished?: (tenantId: string) => void;
}

/** What one run did for one tenant. */
export interface RetentionOutcome {
  tenantId: string;
  removed: number;
  /** The checkpoint recorded: the sequence of the last record removed. */
  checkpointSeq?: number;
  /** Why nothing was removed although records had expired (a broken chain is kept as evidence). */
  refused?: string;
}

const TENANTS = `select h.tenant_id, p.plan from audit_heads h left join audit_tenant_plans p on p.tenant_id = h.tenant_id order by h.tenant_id`;

interface TenantRun {
  cutoff: Date;
  maxRecords: number;
  signer?: AuditSigner | undefined;
  keys?: AuditKeys | undefined;
  /** The tenant's latest published head, when there is one. */
  published?: { sequence: number; hash: string } | undefined;
}

async function enforceForTenant(
  client: pg.PoolClient,
  tenantId: string,
  run: TenantRun,
): Promise<RetentionOutcome & { signed?: SignedStatement }> {
  const { cutoff, maxRecords, published } = run;
  const sql = pgSql(client);
  await client.query("begin");
  try {
    await sql(`select set_config('app.tenant_id', ?, true)`, [tenantId]);
    // serialises with appends and with another replica's retention of this tenant
    await sql(`select last_seq from audit_heads where tenant_id = ? for update`, [tenantId]);
    const [expired] = await sql<{ seq: string | null; first: string | null }>(
      `select max(seq) as seq, min(seq) as first from audit_records where tenant_id = ? and recorded_at < ?`,
      [tenantId, cutoff],
    );
    if (!expired?.seq || !expired.first) {
      await client.query("commit");
      return { tenantId, removed: 0 };
    }
    const upTo = Math.min(Number(expired.seq), Number(expired.first) + maxRecords - 1);
    // the prefix about to go must verify, up to the published signed head and against it: a broken
    // or rewritten chain is evidence, and is kept
    const check = await verifyChain(sql, tenantId, { to: Math.max(upTo, published?.sequence ?? 0) });
    if (!check.ok) {
      await client.query("rollback");
      return { tenantId, removed: 0, refused: `chain broken at ${check.firstBrokenSeq}: ${check.reason}` };
    }
    const [base] = run.keys && run.keys.trusted.size > 0 ? await storedCheckpoints(sql, tenantId) : [];
    const baseProblem = base && run.keys && checkpointProblem(run.keys, tenantId, base, base.signed);
    if (baseProblem) {
      await client.query("rollback");
      return { tenantId, removed: 0, refused: `the checkpoint at ${base.seq} the chain starts from: ${baseProblem}` };
    }
    if (published && published.sequence > check.to && check.from <= published.sequence) {
      await client.query("rollback");
      return { tenantId, removed: 0, refused: `the published head (${published.sequence}) is beyond the log` };
    }
    if (published && published.sequence >= check.from) {
      const [at] = await sql<{ hash: Buffer }>(`select hash from audit_records where tenant_id = ? and seq = ?`, [
        tenantId,
        published.sequence,
      ]);
      if (at?.hash.toString("hex") !== published.hash) {
        await client.query("rollback");
        return { tenantId, removed: 0, refused: `the record at ${published.sequence} differs from the published head` };
      }
    }
    const [last] = await sql<{ hash: Buffer }>(`select hash from audit_records where tenant_id = ? and seq = ?`, [
      tenantId,
      upTo,
    ]);
    const removed = await client.query(`delete from audit_records where tenant_id = $1 and seq <= $2`, [
      tenantId,
      upTo,
    ]);
    const signed =
      run.signer && last
        ? signStatement(run.signer, {
            format: CHECKPOINT_FORMAT,
            tenant_id: tenantId,
            sequence: upTo,
            hash: last.hash.toString("hex"),
            signed_at: new Date().toISOString(),
          })
        : undefined;
    await sql(
      `insert into audit_checkpoints (tenant_id, seq, hash, removed, statement, signature, key_id) values (?, ?, ?, ?, ?, ?, ?)`,
      [tenantId, upTo, last?.hash, removed.rowCount ?? 0, signed?.payload, signed?.signature, signed?.keyId],
    );
    await client.query("commit");
    return { tenantId, removed: removed.rowCount ?? 0, checkpointSeq: upTo, ...(signed && { signed }) };
  } catch (err) {
    await client.query("rollback").catch(() => {});
    throw err;
  }
}

/**
 * Removes, per tenant, the whole prefix of its log older than its plan's `audit_retention_days`
 * (the free plan when audit has not seen the tenant's plan; `platformRetentionDays` for the
 * platform tenant), after verifying that prefix, and records a checkpoint (sequence and hash of
 * the last removed record) from which VerifyChain continues. One transaction per tenant.
 */
export async function enforceRetention(options: RetentionOptions): Promise<RetentionOutcome[]> {
  const now = (options.now ?? (() => new Date()))();
  const maxRecords = options.maxRecordsPerRun ?? 10_000;
  const tenants = await pgSql(options.pool)<{ tenant_id: string; plan: string | null }>(TENANTS);
  const outcomes: RetentionOutcome[] = [];
  for (const { tenant_id: tenantId, plan } of tenants) {
    const days = tenantId === PLATFORM_TENANT_ID ? options.platformRetentionDays : retentionDays(plan ?? undefined);
    const cutoff = new Date(now.getTime() - days * DAY_MS);
    const outcome = await runWithContext({ tenantId }, () =>
      tracer.startActiveSpan("audit.retention", async (span) => {
        const published = options.store && (await options.store.latestHead(tenantId));
        const client = await options.pool.connect();
        try {
          const { signed, ...result } = await enforceForTenant(client, tenantId, {
            cutoff,
            maxRecords,
            signer: options.signer,
            keys: options.keys,
            published: published ? claimed(published) : undefined,
          });
          if (signed && result.checkpointSeq !== undefined) {
            await options.store?.publishCheckpoint(tenantId, result.checkpointSeq, signed).catch((err: unknown) => {
              options.onUnpublished?.(tenantId);
              options.logger.warn(
                { err_message: err instanceof Error ? err.message : String(err) },
                "publishing the audit checkpoint failed; retried by the head publisher",
              );
            });
          }
          if (result.refused) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: result.refused });
            options.logger.error(
              { reason: result.refused },
              "audit retention refused: the expired prefix does not verify",
            );
          } else if (result.removed > 0) {
            options.logger.info(
              { removed: result.removed, checkpoint_seq: result.checkpointSeq, retention_days: days },
              "expired audit records removed",
            );
          }
          return result;
        } finally {
          client.release();
          span.end();
        }
      }),
    );
    outcomes.push(outcome);
  }
  return outcomes;
}

/** A periodic retention job. */
export interface RetentionJob {
  /** Runs retention now (waits for a run in progress first). */
  runNow(): Promise<RetentionOutcome[]>;
  stop(): Promise<void>;
}

/** Runs enforceRetention every `intervalMs` (first run after `initialDelayMs`), one run at a time. */
export function startRetentionJob(
  options: RetentionOptions & { intervalMs: number; initialDelayMs?: number },
): RetentionJob {
  let running: Promise<RetentionOutcome[]> = Promise.resolve([]);
  let stopped = false;
  const run = () => {
    running = running
      .catch(() => [])
      .then(() => (stopped ? [] : enforceRetention(options)))
      .catch((err: unknown) => {
        options.logger.warn(
          { err_message: err instanceof Error ? err.message : String(err) },
          "audit retention failed",
        );
        return [];
      });
    return running;
  };
  const first = setTimeout(run, options.initialDelayMs ?? 30_000);
  const timer = setInterval(run, options.intervalMs);
  first.unref();
  timer.unref();
  return {
    runNow: run,
    async stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(timer);
      await running.catch(() => {});
    },
  };
}
