import type { TxEntityManager } from "@tessera/platform/db";
import { POOL_DATABASE, parseDatabaseRef } from "@tessera/platform/db";
import { publishTenantEvent } from "../../events/publish-tenant-event.ts";
import { Tenant, type TenantRow } from "../entities.ts";
import { POOL } from "../model.ts";
import { withTenantScope } from "../scope.ts";
import { viewOf } from "../tenants.ts";
import { Irrecoverable, type Phase, type PhaseContext } from "./phases.ts";
import { operationTables, recordBatch, recordTables } from "./store.ts";

/**
 * The phases of a tier move, in order (then `done`); `rollback` undoes one that cannot finish. The
 * bulk of the rows is copied before the fence (`precopy`, the tenant keeps writing); under the
 * fence `copy` only brings the target up to date with what changed meanwhile, so the write pause
 * is the time to compare and patch, not to copy.
 */
export const MOVE_PHASES = ["prepare", "precopy", "fence", "copy", "verify", "switch", "drain", "cleanup"] as const;
/** Phases after which the move only goes forward. */
export const POINT_OF_NO_RETURN = "switch";

const tableKey = (service: string, table: string) => `${service}.${table}`;

async function setTenant(
  em: TxEntityManager,
  tenantId: string,
  change: (row: TenantRow) => void,
  event?: "tenant.moving" | "tenant.moved" | "tenant.move_rolled_back" | "tenant.upgraded",
): Promise<void> {
  const row = await em.findOne(Tenant, { id: tenantId });
  if (!row) throw new Error("tenant vanished during an operation");
  change(row);
  await em.flush();
  if (event) await publishTenantEvent(em, event, await viewOf(em, row));
}

/**
 * Bridge ⇄ silo on the same server keeps the database (its name is the tenant's own): only the
 * compute changes, so nothing is copied or fenced.
 */
const inPlace = (op: PhaseContext["op"]) => op.target_database === op.source_database;

const prepare: Phase = async (ctx) => {
  const { op, tenant, plane, driver, compute, signal } = ctx;
  let target = op.target_database;
  if (op.to_tier === "pool") target = POOL_DATABASE;
  else {
    if (!driver) throw new Irrecoverable("no database driver configured");
    if (!target) {
      target = (await driver.createDatabase(tenant, signal, op.target_server || undefined)).database;
    }
    await driver.migrateDatabase(tenant, target, signal);
  }
  // into silo: the tenant's own compute comes up before anything is fenced (a failure rolls back
  // cheaply); the edges are pointed at it by the switch
  let installed = op.compute;
  if (op.to_tier === "silo") {
    if (!compute) throw new Irrecoverable("no compute driver configured");
    installed = await compute.install(tenant, target, signal);
  }
  if (target === op.source_database) {
    return { next: "switch", changes: { target_database: target, compute: installed } };
  }
  // the target may carry a fence from when the tenant moved away from it
  for (const svc of plane.routed) {
    await svc.client.setWriteFence({ tenantId: tenant.tenantId, database: target, fenced: false }, { signal });
  }
  const tables = await describeSource(ctx);
  return {
    next: "precopy",
    changes: { target_database: target, compute: installed },
    commit: (em) => recordTables(em, op, tables),
  };
};

async function describeSource(ctx: PhaseContext): Promise<Array<{ service: string; table: string; rows: number }>> {
  const tables: Array<{ service: string; table: string; rows: number }> = [];
  for (const svc of ctx.plane.routed) {
    const described = await svc.client.describeTenantData(
      { tenantId: ctx.tenant.tenantId, database: ctx.op.source_database },
      { signal: ctx.signal },
    );
    for (const t of described.tables) tables.push({ service: svc.name, table: t.table, rows: Number(t.rows) });
  }
  return tables;
}

/** Runs `batch` over every table not yet done, saving progress after each batch. */
async function eachBatch(
  ctx: PhaseContext,
  batch: (
    svc: PhaseContext["plane"]["routed"][number],
    table: string,
    afterKey: string,
  ) => Promise<{ counted: number; lastKey: string; done: boolean }>,
): Promise<void> {
  const { op, orm, plane, signal } = ctx;
  const tables = await withTenantScope(orm, op.tenant_id, (em) => operationTables(em, op.id));
  for (const t of tables) {
    if (t.done) continue;
    const svc = plane.routed.find((s) => s.name === t.service);
    if (!svc) throw new Irrecoverable(`service ${t.service} is no longer configured`);
    let after = t.last_key;
    for (;;) {
      signal.throwIfAborted();
      const b = await batch(svc, t.table_name, after);
      await recordBatch(orm, op, t, { copied: b.counted, lastKey: b.lastKey, done: b.done });
      after = b.lastKey;
      if (b.done) break;
    }
  }
}

const precopy: Phase = async (ctx) => {
  const { op, tenant, signal } = ctx;
  await eachBatch(ctx, async (svc, table, afterKey) => {
    const b = await svc.client.copyTenantData(
      {
        tenantId: tenant.tenantId,
        fromDatabase: op.source_database,
        toDatabase: op.target_database,
        table,
        afterKey,
        limit: ctx.settings.batchRows,
      },
      { signal },
    );
    return { counted: b.copied, lastKey: b.lastKey, done: b.done };
  });
  return { next: "fence" };
};

const fence: Phase = async (ctx) => {
  const { op, tenant, plane, signal } = ctx;
  const reason = `moving to the ${op.to_tier} tier`;
  for (const svc of plane.routed) {
    await svc.client.setWriteFence(
      { tenantId: tenant.tenantId, database: op.source_database, fenced: true, reason },
      { signal },
    );
  }
  const tables = await describeSource(ctx);
  return {
    next: "copy",
    changes: { fenced_at: op.fenced_at ?? new Date() },
    async commit(em) {
      await recordTables(em, op, tables, true);
      await setTenant(
        em,
        op.tenant_id,
        (t) => {
          t.writesFenced = true;
        },
        "tenant.moving",
      );
    },
  };
};

/** Under the fence: the target catches up with what changed during the pre-copy. */
const copy: Phase = async (ctx) => {
  const { op, tenant, signal } = ctx;
  await eachBatch(ctx, async (svc, table, afterKey) => {
    const b = await svc.client.syncTenantData(
      {
        tenantId: tenant.tenantId,
        fromDatabase: op.source_database,
        toDatabase: op.target_database,
        table,
        afterKey,
        limit: Math.min(10_000, ctx.settings.batchRows * 5),
      },
      { signal },
    );
    return { counted: b.examined, lastKey: b.lastKey, done: b.done };
  });
  return { next: "verify" };
};

const verify: Phase = async (ctx) => {
  const { op, tenant, plane, signal } = ctx;
  for (const svc of plane.routed) {
    const [source, target] = await Promise.all(
      [op.source_database, op.target_database].map((database) =>
        svc.client.describeTenantData({ tenantId: tenant.tenantId, database }, { signal }),
      ),
    );
    if (!source || !target) throw new Error("describe failed");
    if (source.pendingEvents > 0n) {
      // the source's outbox must be published before the target's events may follow
      throw new Error(`${source.pendingEvents} events of ${svc.name} are still to be published from the source`);
    }
    for (const s of source.tables) {
      const t = target.tables.find((x) => x.table === s.table);
      if (!t || t.rows !== s.rows || t.checksum !== s.checksum) {
        throw new Irrecoverable(
          `${tableKey(svc.name, s.table)} differs after the copy: ${s.rows} rows at the source, ${t?.rows ?? 0} at the target`,
        );
      }
    }
  }
  return { next: "switch" };
};

const switchPlacement: Phase = async (ctx) => {
  const { op } = ctx;
  return {
    next: "drain",
    changes: { switched_at: new Date() },
    async commit(em) {
      await setTenant(
        em,
        op.tenant_id,
        (t) => {
          t.tier = op.to_tier as TenantRow["tier"];
          t.placementDatabase = op.target_database;
          t.writesFenced = false;
          if (op.to_tier === "silo") {
            if (!op.compute) throw new Error("the move into silo has no compute recorded");
            t.placementNamespace = op.compute.namespace;
            t.placementEndpoints = { ...op.compute.endpoints };
            t.computeVersion = op.compute.version;
          } else if (op.from_tier === "silo") {
            t.placementNamespace = POOL;
            t.placementEndpoints = {};
            t.computeVersion = "";
          }
        },
        "tenant.moved",
      );
    },
  };
};

const drain: Phase = async (ctx) => {
  const until = new Date((ctx.op.switched_at ?? new Date()).getTime() + ctx.settings.drainMs);
  return until > new Date() ? { waitUntil: until } : { next: "cleanup" };
};

const cleanup: Phase = async (ctx) => {
  const { op, tenant, plane, signal, driver, compute } = ctx;
  const until = new Date((op.switched_at ?? new Date()).getTime() + ctx.settings.graceMs);
  if (until > new Date()) return { waitUntil: until };
  // out of silo: the tenant's own compute goes first (requests it still had finished in the drain)
  if (op.from_tier === "silo") {
    if (!compute) throw new Error("no compute driver configured to remove the tenant's silo compute");
    await compute.uninstall(tenant, signal);
  }
  if (inPlace(op)) return { next: "done", changes: { state: "succeeded" } };
  for (const svc of plane.routed) {
    await svc.client.deleteTenantData({ tenantId: tenant.tenantId, database: op.source_database }, { signal });
  }
  // the source stays fenced (a stale route can only fail, never write where nobody reads)
  if (parseDatabaseRef(op.source_database).kind === "dedicated") {
    await driver?.dropDatabase(tenant, op.source_database, signal);
  }
  return { next: "done", changes: { state: "succeeded" } };
};

/** Undoes a move that has not switched: target rows gone, source unfenced, the tenant where it was. */
const rollback: Phase = async (ctx) => {
  const { op, tenant, plane, signal, driver, compute } = ctx;
  const target = op.target_database;
  // a move into silo may have installed the tenant's compute already
  if (op.to_tier === "silo" && compute) await compute.uninstall(tenant, signal);
  if (target && target !== op.source_database) {
    for (const svc of plane.routed) {
      await svc.client.deleteTenantData({ tenantId: tenant.tenantId, database: target }, { signal });
      // a pool target is not the tenant's home: keep its writes out of it again
      if (target === POOL_DATABASE)
        await svc.client.setWriteFence(
          { tenantId: tenant.tenantId, database: target, fenced: true, reason: "the tenant lives elsewhere" },
          { signal },
        );
    }
    if (parseDatabaseRef(target).kind === "dedicated") await driver?.dropDatabase(tenant, target, signal);
  }
  for (const svc of plane.routed) {
    await svc.client.setWriteFence(
      { tenantId: tenant.tenantId, database: op.source_database, fenced: false },
      { signal },
    );
  }
  return {
    next: "done",
    changes: { state: "rolled_back" },
    async commit(em) {
      await setTenant(
        em,
        op.tenant_id,
        (t) => {
          t.writesFenced = false;
        },
        "tenant.move_rolled_back",
      );
    },
  };
};

/** The move's phase functions by name. */
export const MOVE: Readonly<Record<string, Phase>> = {
  prepare,
  precopy,
  fence,
  copy,
  verify,
  switch: switchPlacement,
  drain,
  cleanup,
  rollback,
};

/** Whether the move has passed its point of no return (it then only goes forward). */
export function pastSwitch(phase: string): boolean {
  return ["drain", "cleanup", "done"].includes(phase);
}

/** Copy ETA from progress so far: undefined until something was copied. */
export function estimateCopyEnd(
  startedAt: Date | null,
  tables: ReadonlyArray<{ rows_total: string; rows_done: string }>,
): Date | undefined {
  if (!startedAt) return undefined;
  const total = tables.reduce((n, t) => n + Number(t.rows_total), 0);
  const done = tables.reduce((n, t) => n + Math.min(Number(t.rows_done), Number(t.rows_total)), 0);
  if (done === 0 || done >= total) return undefined;
  const elapsed = Date.now() - startedAt.getTime();
  return new Date(Date.now() + (elapsed / done) * (total - done));
}

export type { PhaseContext };
