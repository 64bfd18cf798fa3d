import { POOL_DATABASE, parseDatabaseRef } from "@tessera/platform/db";
import { publishTenantEvent } from "../../events/publish-tenant-event.ts";
import { ProvisioningStep, Tenant, TenantDomain } from "../entities.ts";
import { viewOf } from "../tenants.ts";
import type { Phase } from "./phases.ts";

/** The phases of a deletion, in order (then `done`). */
export const DELETE_PHASES = ["export", "delete_data", "drop_databases", "finish"] as const;

const exportFirst: Phase = async (ctx) => {
  if (ctx.op.export_id) return { next: "delete_data" };
  const exportId = await ctx.exportTenant(ctx.tenant.tenantId, ctx.signal);
  return { next: "delete_data", changes: { export_id: exportId } };
};

const deleteData: Phase = async (ctx) => {
  const { tenant, plane, signal } = ctx;
  for (const svc of plane.services) {
    const database = svc.routed ? tenant.placementDatabase || POOL_DATABASE : POOL_DATABASE;
    await svc.client.deleteTenantData({ tenantId: tenant.tenantId, database }, { signal });
  }
  return { next: "drop_databases" };
};

/**
 * A silo tenant's release and namespace go first (its services stop before their database does),
 * then its dedicated databases. Both are idempotent, so a retried phase repeats them harmlessly.
 */
const dropDatabases: Phase = async (ctx) => {
  const { tenant, driver, compute, signal } = ctx;
  if (tenant.tier === "silo") {
    if (!compute) throw new Error("no compute driver configured to uninstall the tenant's release");
    await compute.uninstall(tenant, signal);
  }
  if (parseDatabaseRef(tenant.placementDatabase).kind === "dedicated") {
    if (!driver) throw new Error("no database driver configured to drop the tenant's database");
    await driver.dropDatabase(tenant, tenant.placementDatabase, signal);
  }
  return { next: "finish" };
};

const finish: Phase = async (ctx) => {
  const { op } = ctx;
  return {
    next: "done",
    changes: { state: "succeeded" },
    async commit(em) {
      const row = await em.findOne(Tenant, { id: op.tenant_id });
      if (!row) return;
      row.status = "deleted";
      row.placementDatabase = "";
      row.placementNamespace = "";
      row.writesFenced = false;
      await em.nativeDelete(TenantDomain, { tenantId: op.tenant_id });
      await em.nativeDelete(ProvisioningStep, { tenantId: op.tenant_id });
      await em.flush();
      await publishTenantEvent(em, "tenant.deleted", await viewOf(em, row), { reason: "deleted after offboarding" });
    },
  };
};

/** The deletion's phase functions by name. */
export const DELETE: Readonly<Record<string, Phase>> = {
  export: exportFirst,
  delete_data: deleteData,
  drop_databases: dropDatabases,
  finish,
};
