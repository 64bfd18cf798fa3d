import type { Orm } from "@tessera/platform/db";
import { Tenant } from "../entities.ts";
import { withRegistryTransaction } from "../scope.ts";
import type { ResumeEntry } from "./local.ts";

/**
 * The silo tenants whose compute is installed and still wanted: active or suspended (a resumed
 * tenant must find its processes), or provisioning past `compute.install` (the step is done and
 * will not run again). Offboarding and deleted tenants are not served.
 */
export async function siloTenantsToResume(orm: Orm): Promise<ResumeEntry[]> {
  const rows = await withRegistryTransaction(orm, (em) =>
    em.find(
      Tenant,
      { tier: "silo", status: { $in: ["provisioning", "active", "suspended"] } },
      { orderBy: { id: "asc" } },
    ),
  );
  return rows
    .filter((t) => Object.keys(t.placementEndpoints ?? {}).length > 0)
    .map((t) => ({
      tenant: { tenantId: t.id, slug: t.slug, region: t.region, plan: t.plan },
      database: t.placementDatabase,
      endpoints: t.placementEndpoints,
    }));
}
