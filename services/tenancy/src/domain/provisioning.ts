import type { Orm } from "@tessera/platform/db";
import { NotFound } from "@tessera/platform/errors";
import { TENANT_NOT_FOUND } from "./access.ts";
import { ProvisioningStep, Tenant } from "./entities.ts";
import type { StepView } from "./model.ts";
import { withTenantScope } from "./scope.ts";

/** A tenant's provisioning saga, step by step in order; NotFound for an unknown tenant. */
export async function getProvisioning(orm: Orm, tenantId: string): Promise<{ steps: StepView[]; complete: boolean }> {
  const id = tenantId.toLowerCase();
  return withTenantScope(orm, id, async (em) => {
    const tenant = await em.findOne(Tenant, { id });
    if (!tenant) throw new NotFound(TENANT_NOT_FOUND);
    const rows = await em.find(ProvisioningStep, { tenantId: id }, { orderBy: { position: "asc" } });
    const steps = rows.map((r) => ({
      name: r.step,
      position: r.position,
      state: r.state,
      attempts: r.attempts,
      lastError: r.lastError ?? null,
      nextAttemptAt: r.nextAttemptAt,
      updatedAt: r.updatedAt,
    }));
    return { steps, complete: steps.every((s) => s.state === "done") };
  });
}
