import { runOutsideContext } from "@tessera/platform/context";
import type { Orm } from "@tessera/platform/db";
import type { Logger } from "@tessera/platform/log";
import type { DataPlane } from "../data-plane.ts";
import { Tenant } from "../entities.ts";
import type { ComputeDriver, DatabaseDriver } from "../saga/drivers.ts";
import { withTenantScope } from "../scope.ts";
import { createWorkLoop } from "../work-loop.ts";
import { DELETE } from "./delete.ts";
import { MOVE, pastSwitch } from "./move.ts";
import { Irrecoverable, type OperationSettings, type Phase, type PhaseContext } from "./phases.ts";
import { dueOperations, lockOperation, type OperationRow, updateOperation } from "./store.ts";
import { UPGRADE, upgradeGivesUp } from "./upgrade.ts";

/** Options of {@link createOperationRunner}. */
export interface OperationRunnerOptions {
  readonly orm: Orm;
  readonly plane: DataPlane;
  readonly driver: DatabaseDriver | undefined;
  readonly compute: ComputeDriver | undefined;
  readonly logger: Logger;
  readonly settings: OperationSettings;
  readonly exportTenant: PhaseContext["exportTenant"];
  readonly leaseMs: number;
  readonly sweepIntervalMs: number;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  readonly phaseTimeoutMs: number;
  /** Fault injection for tests: called after a phase is recorded done. */
  readonly afterPhaseDone?: (tenantId: string, phase: string) => void | Promise<void>;
}

/** Runs tier moves, deletions and compute upgrades: phase by phase, resumable after a crash, with a lease per operation. */
export interface OperationRunner {
  /** Runs the operation as far as it can go now, in the background. */
  kick(operationId: string, tenantId?: string): void;
  start(): void;
  stop(): Promise<void>;
}

const MAX_ERROR = 1_000;

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, " ").slice(0, MAX_ERROR);
}

/** Creates the runner of tier moves, deletions and compute upgrades. */
export function createOperationRunner(options: OperationRunnerOptions): OperationRunner {
  const { orm, logger } = options;
  const log = logger.child({ component: "tenant-operations" });
  const loop = createWorkLoop({
    sweepIntervalMs: options.sweepIntervalMs,
    retryMs: options.retryInitialMs,
    sweep,
    wake: (id) => kick(id),
    logger: log,
    what: "operation",
  });
  const abort = { signal: loop.signal };
  const schedule = loop.schedule;
  /** Operation id → tenant id (the registry's row security needs the tenant to read an operation). */
  const tenantOf = new Map<string, string>();

  /** Claims the operation for one phase attempt; undefined when it is not ours to run now. */
  async function claim(
    id: string,
    tenantId: string,
  ): Promise<{ op: OperationRow; ctx: PhaseContext } | Date | undefined> {
    return withTenantScope(orm, tenantId, async (em) => {
      const op = await lockOperation(em, id);
      if (op?.state !== "running") return undefined;
      const now = new Date();
      if (op.lease_until && op.lease_until > now) return op.lease_until;
      if (op.next_attempt_at > now) return op.next_attempt_at;
      const tenant = await em.findOne(Tenant, { id: op.tenant_id });
      if (!tenant) return undefined;
      await updateOperation(em, id, {
        lease_until: new Date(now.getTime() + options.leaseMs),
        attempts: op.attempts + 1,
      });
      op.attempts += 1;
      const ctx: PhaseContext = {
        orm,
        plane: options.plane,
        driver: options.driver,
        compute: options.compute,
        op,
        tenant: {
          tenantId: tenant.id,
          slug: tenant.slug,
          region: tenant.region,
          plan: tenant.plan,
          placementDatabase: tenant.placementDatabase,
          tier: tenant.tier,
          status: tenant.status,
        },
        signal: abort.signal,
        settings: options.settings,
        exportTenant: options.exportTenant,
      };
      return { op, ctx };
    });
  }

  function phaseOf(op: OperationRow): Phase | undefined {
    return (op.kind === "move" ? MOVE : op.kind === "upgrade" ? UPGRADE : DELETE)[op.phase];
  }

  async function step(id: string, tenantId: string): Promise<boolean> {
    const claimed = await claim(id, tenantId);
    if (claimed === undefined) return false;
    if (claimed instanceof Date) {
      schedule(id, claimed);
      return false;
    }
    const { op, ctx } = claimed;
    const phase = phaseOf(op);
    const deadline = AbortSignal.any([abort.signal, AbortSignal.timeout(options.phaseTimeoutMs)]);
    const heartbeat = setInterval(
      () => {
        withTenantScope(orm, tenantId, (em) =>
          updateOperation(em, id, { lease_until: new Date(Date.now() + options.leaseMs) }),
        ).catch((err: unknown) => log.warn({ err }, "could not renew the operation's lease"));
      },
      Math.max(10, Math.floor(options.leaseMs / 3)),
    );
    heartbeat.unref();
    try {
      if (!phase) throw new Irrecoverable(`unknown phase "${op.phase}"`);
      const result = await phase({ ...ctx, signal: deadline });
      clearInterval(heartbeat);
      if ("waitUntil" in result) {
        await withTenantScope(orm, tenantId, (em) =>
          updateOperation(em, id, { lease_until: null, next_attempt_at: result.waitUntil, attempts: 0 }),
        );
        schedule(id, result.waitUntil);
        return false;
      }
      await withTenantScope(orm, tenantId, async (em) => {
        await result.commit?.(em);
        await updateOperation(em, id, {
          ...result.changes,
          phase: result.next,
          attempts: 0,
          // a rolled-back operation keeps why it rolled back
          ...(op.phase !== "rollback" && { last_error: null }),
          lease_until: null,
          next_attempt_at: new Date(),
        });
      });
      log.info({ operation_id: id, kind: op.kind, phase: op.phase, next: result.next }, "operation phase done");
      await options.afterPhaseDone?.(tenantId, `${op.kind}.${op.phase}`);
      return result.next !== "done";
    } catch (err) {
      clearInterval(heartbeat);
      if (abort.signal.aborted) {
        await withTenantScope(orm, tenantId, (em) =>
          updateOperation(em, id, {
            lease_until: null,
            last_error: "interrupted by a shutdown",
            attempts: op.attempts - 1,
          }),
        ).catch(() => {});
        return false;
      }
      const canRollBack =
        op.kind === "move" && !pastSwitch(op.phase) && op.phase !== "switch" && op.phase !== "rollback";
      const giveUp = canRollBack && (err instanceof Irrecoverable || op.attempts >= options.settings.maxAttempts);
      // an upgrade that cannot finish ends at once: the driver left the previous version running
      if (op.kind === "upgrade" && upgradeGivesUp(err, op.attempts, options.settings.maxAttempts)) {
        await withTenantScope(orm, tenantId, (em) =>
          updateOperation(em, id, {
            last_error: message(err),
            lease_until: null,
            state: "rolled_back",
            phase: "done",
            attempts: 0,
          }),
        );
        log.warn({ operation_id: id, attempts: op.attempts, error: message(err) }, "compute upgrade rolled back");
        return false;
      }
      const retryAt = new Date(
        Date.now() + Math.min(options.retryMaxMs, options.retryInitialMs * 2 ** Math.max(0, op.attempts - 1)),
      );
      await withTenantScope(orm, tenantId, (em) =>
        updateOperation(em, id, {
          last_error: message(err),
          lease_until: null,
          ...(giveUp
            ? { phase: "rollback", rolling_back: true, attempts: 0, next_attempt_at: new Date() }
            : { next_attempt_at: retryAt }),
        }),
      );
      log.warn(
        { operation_id: id, phase: op.phase, attempts: op.attempts, error: message(err), rolling_back: giveUp },
        "operation phase failed",
      );
      if (giveUp) return true;
      schedule(id, retryAt);
      return false;
    }
  }

  function kick(id: string, tenantId?: string): void {
    if (tenantId) tenantOf.set(id, tenantId.toLowerCase());
    void loop.run(id, () =>
      runOutsideContext(async () => {
        const tenant = await withTenantScopeLookup(id);
        if (!tenant) return;
        while (!loop.stopped() && (await step(id, tenant))) {
          // next phase at once
        }
      }),
    );
  }

  async function withTenantScopeLookup(id: string): Promise<string | undefined> {
    const known = tenantOf.get(id);
    if (known) return known;
    const due = await dueOperations(orm, 1000);
    for (const d of due) tenantOf.set(d.id, d.tenant_id);
    return tenantOf.get(id);
  }

  async function sweep(): Promise<void> {
    for (const row of await dueOperations(orm, 200)) {
      tenantOf.set(row.id, row.tenant_id);
      kick(row.id);
    }
  }

  return {
    kick,
    start: loop.start,
    stop: loop.stop,
  };
}
