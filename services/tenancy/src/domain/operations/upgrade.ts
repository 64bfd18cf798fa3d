import { publishTenantEvent } from "../../events/publish-tenant-event.ts";
import { Tenant } from "../entities.ts";
import { ComputeUpgradeFailed } from "../saga/drivers.ts";
import { viewOf } from "../tenants.ts";
import { Irrecoverable, type Phase } from "./phases.ts";

/**
 * A silo tenant's compute rolled to the platform's current version: one phase. The driver leaves
 * the previous version running when the new one does not become healthy (ComputeUpgradeFailed):
 * the operation then ends rolled back at once, with the driver's reason; other failures are
 * retried, and after the attempts allowed it ends rolled back too (nothing changed).
 */
const upgrade: Phase = async (ctx) => {
  const { op, tenant, compute, signal } = ctx;
  if (!compute) throw new Irrecoverable("no compute driver configured");
  if (tenant.tier !== "silo")
    throw new Irrecoverable(`only a silo tenant's compute can be upgraded (it is ${tenant.tier})`);
  if (tenant.status !== "active") throw new Irrecoverable(`the tenant is ${tenant.status}, no longer active`);
  const state = await compute.upgrade(tenant, tenant.placementDatabase, signal);
  return {
    next: "done",
    changes: { state: "succeeded", compute: state },
    async commit(em) {
      const row = await em.findOne(Tenant, { id: op.tenant_id });
      if (!row) throw new Error("tenant vanished during an upgrade");
      row.placementNamespace = state.namespace;
      row.placementEndpoints = { ...state.endpoints };
      row.computeVersion = state.version;
      await em.flush();
      // the edges' caches follow the (possibly new) endpoints at once
      await publishTenantEvent(em, "tenant.upgraded", await viewOf(em, row));
    },
  };
};

/** The upgrade's phase functions by name. */
export const UPGRADE: Readonly<Record<string, Phase>> = { upgrade };

/** Whether a failed upgrade attempt ends the operation now rather than being retried. */
export function upgradeGivesUp(err: unknown, attempts: number, maxAttempts: number): boolean {
  return err instanceof ComputeUpgradeFailed || err instanceof Irrecoverable || attempts >= maxAttempts;
}
