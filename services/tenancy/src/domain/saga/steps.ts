import type { TxEntityManager } from "@tessera/platform/db";
import { publishTenantEvent } from "../../events/publish-tenant-event.ts";
import type { TenantRow } from "../entities.ts";
import { POOL, type TenantView, type Tier } from "../model.ts";
import type { Drivers, TenantSpec } from "./drivers.ts";

/** What a step's external part hands to its commit. */
export type StepOutcome = Readonly<Record<string, string>>;

/**
 * One idempotent step of a provisioning saga. `perform` does work outside the registry (driver
 * calls; it may run again after a crash, so it must be idempotent itself); `commit` records the
 * effect in the registry in the same transaction that marks the step done, so the registry's part
 * happens exactly once.
 */
export interface StepDefinition {
  readonly name: string;
  perform?(
    tenant: TenantSpec & { placementDatabase: string },
    drivers: Drivers,
    signal: AbortSignal,
  ): Promise<StepOutcome>;
  commit?(em: TxEntityManager, tenant: TenantRow, outcome: StepOutcome, view: () => Promise<TenantView>): Promise<void>;
}

/** Error of a step that cannot run in this deployment (a driver is not configured). */
export class MissingDriver extends Error {
  override name = "MissingDriver";
}

const assignPool: StepDefinition = {
  name: "directory.assign_pool",
  async commit(_em, tenant) {
    tenant.placementDatabase = POOL;
    tenant.placementNamespace = POOL;
  },
};

const assignPoolCompute: StepDefinition = {
  name: "directory.assign_pool_compute",
  async commit(_em, tenant) {
    tenant.placementNamespace = POOL;
  },
};

const createDatabase: StepDefinition = {
  name: "database.create",
  async perform(tenant, drivers, signal) {
    if (!drivers.database) throw new MissingDriver("no database driver configured");
    const { database } = await drivers.database.createDatabase(
      { tenantId: tenant.tenantId, slug: tenant.slug, region: tenant.region, plan: tenant.plan },
      signal,
    );
    return { database };
  },
  async commit(_em, tenant, outcome) {
    if (outcome.database) tenant.placementDatabase = outcome.database;
  },
};

const migrateDatabase: StepDefinition = {
  name: "database.migrate",
  async perform(tenant, drivers, signal) {
    if (!drivers.database) throw new MissingDriver("no database driver configured");
    await drivers.database.migrateDatabase(
      { tenantId: tenant.tenantId, slug: tenant.slug, region: tenant.region, plan: tenant.plan },
      tenant.placementDatabase,
      signal,
    );
    return {};
  },
};

const installCompute: StepDefinition = {
  name: "compute.install",
  async perform(tenant, drivers, signal) {
    if (!drivers.compute) throw new MissingDriver("no compute driver configured");
    const state = await drivers.compute.install(
      { tenantId: tenant.tenantId, slug: tenant.slug, region: tenant.region, plan: tenant.plan },
      tenant.placementDatabase,
      signal,
    );
    return { namespace: state.namespace, endpoints: JSON.stringify(state.endpoints), version: state.version };
  },
  async commit(_em, tenant, outcome) {
    if (outcome.namespace) tenant.placementNamespace = outcome.namespace;
    if (outcome.endpoints) tenant.placementEndpoints = JSON.parse(outcome.endpoints) as Record<string, string>;
    if (outcome.version !== undefined) tenant.computeVersion = outcome.version;
  },
};

const activate: StepDefinition = {
  name: "tenant.activate",
  async commit(em, tenant, _outcome, view) {
    if (tenant.status !== "provisioning") return;
    tenant.status = "active";
    await em.flush();
    await publishTenantEvent(em, "tenant.activated", await view());
  },
};

const SAGAS: Record<Tier, readonly StepDefinition[]> = {
  pool: [assignPool, activate],
  bridge: [createDatabase, migrateDatabase, assignPoolCompute, activate],
  silo: [createDatabase, migrateDatabase, installCompute, activate],
};

const BY_NAME = new Map(Object.values(SAGAS).flatMap((steps) => steps.map((s) => [s.name, s] as const)));

/** The step names of a tier's provisioning saga, in order. */
export function sagaSteps(tier: Tier): string[] {
  return SAGAS[tier].map((s) => s.name);
}

/** A step by name (undefined for a name this version does not know). */
export function stepDefinition(name: string): StepDefinition | undefined {
  return BY_NAME.get(name);
}

/** Every step name any saga uses. */
export const STEP_NAMES: readonly string[] = [...BY_NAME.keys()];

/** Which driver a tier needs and this deployment lacks; undefined when the tier can be provisioned. */
export function missingDriver(tier: Tier, drivers: Drivers): string | undefined {
  if (tier === "pool") return undefined;
  if (!drivers.database) return "database";
  if (tier === "silo" && !drivers.compute) return "compute";
  return undefined;
}
