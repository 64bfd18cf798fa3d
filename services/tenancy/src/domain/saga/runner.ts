import { type EntityData, LockMode } from "@mikro-orm/core";
import { runAsTenant } from "@tessera/platform/context";
import type { Orm } from "@tessera/platform/db";
import type { Logger } from "@tessera/platform/log";
import { ProvisioningStep, type ProvisioningStepRow, Tenant } from "../entities.ts";
import { withRegistryTransaction, withTenantScope } from "../scope.ts";
import { viewOf } from "../tenants.ts";
import { createWorkLoop } from "../work-loop.ts";
import type { Drivers } from "./drivers.ts";
import { type StepOutcome, stepDefinition } from "./steps.ts";

/** How the saga runner behaves; every duration in milliseconds. */
export interface SagaRunnerOptions {
  readonly orm: Orm;
  readonly drivers: Drivers;
  readonly logger: Logger;
  /** How long a started step is reserved for its process (renewed while it runs). */
  readonly leaseMs: number;
  /** How often incomplete sagas are looked for (besides at start). */
  readonly sweepIntervalMs: number;
  /** Backoff after a step's first failure, doubling per attempt up to retryMaxMs. */
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /** Deadline of one attempt of a step's external work (driver calls). */
  readonly stepTimeoutMs: number;
  /**
   * Fault injection for tests only: called right after a step is recorded done, before the next
   * one starts (main.ts wires TENANCY_FAULT_CRASH_AFTER_STEP to a hard process kill here).
   */
  readonly afterStepDone?: (tenantId: string, step: string) => void | Promise<void>;
}

/** Runs provisioning sagas: in order, each step once, failed steps again with backoff, after restarts too. */
export interface SagaRunner {
  /** Runs the tenant's saga as far as it can go now (returns when it is done, failed or waiting). */
  run(tenantId: string): Promise<void>;
  /** Like run, in the background. */
  kick(tenantId: string): void;
  /** Resumes every incomplete saga now, then periodically. */
  start(): void;
  /** Stops starting steps, aborts running driver calls, waits for runs in progress. */
  stop(): Promise<void>;
}

type Claim =
  | { kind: "idle" }
  | { kind: "wait"; until: Date }
  | {
      kind: "claimed";
      step: string;
      attempts: number;
      spec: { tenantId: string; slug: string; region: string; plan: string; placementDatabase: string };
    };

const MAX_ERROR_LENGTH = 500;
const SWEEP_BATCH = 200;

function message(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s+/g, " ").slice(0, MAX_ERROR_LENGTH);
}

/**
 * The saga runner. Progress lives in `provisioning_steps`: a step is claimed (RUNNING, attempts+1,
 * a lease) in one transaction, its external work runs, and its registry effect commits together
 * with DONE in another. A process that dies mid-step leaves a RUNNING step whose lease expires, and
 * any replica then runs it again (which is why driver calls must be idempotent); a DONE step is
 * never run again. The per-tenant row locks make concurrent replicas safe.
 */
export function createSagaRunner(options: SagaRunnerOptions): SagaRunner {
  const { orm, logger } = options;
  const log = logger.child({ component: "provisioning" });
  const loop = createWorkLoop({
    sweepIntervalMs: options.sweepIntervalMs,
    retryMs: options.retryInitialMs,
    sweep,
    wake: kick,
    logger: log,
    what: "provisioning saga",
  });
  const abort = { signal: loop.signal };
  const schedule = loop.schedule;

  const backoff = (attempts: number) =>
    Math.min(options.retryMaxMs, options.retryInitialMs * 2 ** Math.max(0, attempts - 1));

  async function claimNext(tenantId: string): Promise<Claim> {
    return withTenantScope(orm, tenantId, async (em) => {
      const tenant = await em.findOne(Tenant, { id: tenantId });
      // a tenant offboarded while provisioning abandons its saga
      if (tenant?.status !== "provisioning") return { kind: "idle" };
      const steps = await em.find(
        ProvisioningStep,
        { tenantId },
        { orderBy: { position: "asc" }, lockMode: LockMode.PESSIMISTIC_WRITE },
      );
      const next = steps.find((s) => s.state !== "done");
      if (!next) return { kind: "idle" };
      const now = new Date();
      if (next.state === "running" && next.leaseUntil && next.leaseUntil > now) {
        return { kind: "wait", until: next.leaseUntil };
      }
      if (next.state !== "running" && next.nextAttemptAt > now) return { kind: "wait", until: next.nextAttemptAt };
      next.state = "running";
      next.attempts += 1;
      next.leaseUntil = new Date(now.getTime() + options.leaseMs);
      next.updatedAt = now;
      return {
        kind: "claimed",
        step: next.step,
        attempts: next.attempts,
        spec: {
          tenantId,
          slug: tenant.slug,
          region: tenant.region,
          plan: tenant.plan,
          placementDatabase: tenant.placementDatabase,
        },
      };
    });
  }

  /** Updates the claimed step unless another process took it over (its lease ran out). */
  async function updateClaimed(
    tenantId: string,
    step: string,
    attempts: number,
    data: EntityData<ProvisioningStepRow>,
  ): Promise<number> {
    return withTenantScope(orm, tenantId, (em) =>
      em.nativeUpdate(ProvisioningStep, { tenantId, step, state: "running", attempts }, data),
    );
  }

  async function fail(tenantId: string, step: string, attempts: number, err: unknown): Promise<void> {
    if (abort.signal.aborted) {
      // interrupted by shutdown, not failed: the next process starts the step again at once
      await updateClaimed(tenantId, step, attempts, {
        state: "pending",
        lastError: "interrupted by a shutdown",
        nextAttemptAt: new Date(),
        leaseUntil: null,
        updatedAt: new Date(),
      });
      return;
    }
    const retryAt = new Date(Date.now() + backoff(attempts));
    const updated = await updateClaimed(tenantId, step, attempts, {
      state: "failed",
      lastError: message(err),
      nextAttemptAt: retryAt,
      leaseUntil: null,
      updatedAt: new Date(),
    });
    if (updated > 0) {
      log.warn({ step, attempts, retry_at: retryAt.toISOString(), error: message(err) }, "provisioning step failed");
      schedule(tenantId, retryAt);
    }
  }

  async function commit(tenantId: string, step: string, attempts: number, outcome: StepOutcome): Promise<boolean> {
    const definition = stepDefinition(step);
    return withTenantScope(orm, tenantId, async (em) => {
      const row = await em.findOne(ProvisioningStep, { tenantId, step }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (row?.state !== "running" || row.attempts !== attempts) return false;
      const tenant = await em.findOne(Tenant, { id: tenantId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!tenant) return false;
      await definition?.commit?.(em, tenant, outcome, () => viewOf(em, tenant));
      row.state = "done";
      row.leaseUntil = null;
      row.lastError = null;
      row.updatedAt = new Date();
      return true;
    });
  }

  async function execute(claim: Extract<Claim, { kind: "claimed" }>): Promise<boolean> {
    const { step, attempts, spec } = claim;
    const definition = stepDefinition(step);
    const deadline = AbortSignal.any([abort.signal, AbortSignal.timeout(options.stepTimeoutMs)]);
    const heartbeat = setInterval(
      () => {
        updateClaimed(spec.tenantId, step, attempts, { leaseUntil: new Date(Date.now() + options.leaseMs) }).catch(
          (err: unknown) => log.warn({ step, err }, "could not renew the step's lease"),
        );
      },
      Math.max(10, Math.floor(options.leaseMs / 3)),
    );
    heartbeat.unref();
    let outcome: StepOutcome = {};
    try {
      if (!definition) throw new Error(`unknown step "${step}"`);
      if (definition.perform) outcome = await definition.perform(spec, options.drivers, deadline);
      deadline.throwIfAborted();
    } catch (err) {
      clearInterval(heartbeat);
      const reason =
        deadline.aborted && !abort.signal.aborted ? new Error(`step timed out after ${options.stepTimeoutMs} ms`) : err;
      await fail(spec.tenantId, step, attempts, reason);
      return false;
    }
    clearInterval(heartbeat);
    const done = await commit(spec.tenantId, step, attempts, outcome);
    if (!done) {
      log.warn({ step }, "provisioning step was taken over by another process");
      return false;
    }
    log.info({ step, attempts }, "provisioning step done");
    await options.afterStepDone?.(spec.tenantId, step);
    return true;
  }

  async function drive(tenantId: string): Promise<void> {
    while (!loop.stopped()) {
      const claim = await claimNext(tenantId);
      if (claim.kind === "idle") return;
      if (claim.kind === "wait") {
        schedule(tenantId, claim.until);
        return;
      }
      if (!(await execute(claim))) return;
    }
  }

  function run(tenantId: string): Promise<void> {
    const id = tenantId.toLowerCase();
    return loop.run(id, () => runAsTenant(id, () => drive(id), "tenancy-provisioning"));
  }

  function kick(tenantId: string): void {
    void run(tenantId);
  }

  async function sweep(): Promise<void> {
    const rows = await withRegistryTransaction(orm, (em) =>
      em.execute<Array<{ tenant_id: string }>>(
        `select distinct s.tenant_id from provisioning_steps s join tenants t on t.id = s.tenant_id
         where t.status = 'provisioning' and s.state <> 'done'
           and ((s.state <> 'running' and s.next_attempt_at <= now()) or (s.state = 'running' and s.lease_until <= now()))
         limit ${SWEEP_BATCH}`,
      ),
    );
    for (const row of rows) kick(row.tenant_id);
  }

  return {
    run,
    kick,
    start: loop.start,
    stop: loop.stop,
  };
}
