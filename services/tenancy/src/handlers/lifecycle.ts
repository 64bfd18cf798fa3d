import { randomUUID } from "node:crypto";
import type { ServiceImpl } from "@connectrpc/connect";
import { FailedPrecondition } from "@tessera/platform/errors";
import { rootLogger } from "@tessera/platform/log";
import type { TenantService } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { tenantToProto } from "../contract.ts";
import { currentCaller, requireTenantAccess } from "../domain/access.ts";
import { startUpgrade } from "../domain/operations/start.ts";
import { changePlan, offboardTenant, resumeTenant, suspendTenant } from "../domain/tenants.ts";
import type { HandlerDeps } from "./context.ts";

type Impl = ServiceImpl<typeof TenantService>;

/** ChangePlan, SuspendTenant, ResumeTenant, OffboardTenant: platform operators only. */
export function lifecycleHandlers(
  deps: HandlerDeps,
): Pick<Impl, "changePlan" | "suspendTenant" | "resumeTenant" | "offboardTenant"> {
  const { orm } = deps;
  return {
    async changePlan(req) {
      requireTenantAccess(currentCaller(), req.tenantId, "tenant.plan.change");
      const tenant = await changePlan(orm, req.tenantId, req.plan);
      // a silo tenant's compute is sized by its plan (quota, replicas): roll it out as an upgrade
      if (tenant.tier === "silo" && tenant.status === "active" && deps.drivers.compute) {
        try {
          const op = await startUpgrade(orm, { tenantId: tenant.id, requestId: randomUUID() });
          deps.operations.kick(op.id, op.tenant_id);
        } catch (err) {
          if (!(err instanceof FailedPrecondition)) throw err;
          rootLogger().warn(
            { tenant_id: tenant.id, reason: err.message },
            "the new plan's sizing applies at the tenant's next upgrade (./tessera tenants upgrade)",
          );
        }
      }
      return { tenant: tenantToProto(tenant) };
    },
    async suspendTenant(req) {
      requireTenantAccess(currentCaller(), req.tenantId, "tenant.suspend");
      return { tenant: tenantToProto(await suspendTenant(orm, req.tenantId, req.reason)) };
    },
    async resumeTenant(req) {
      requireTenantAccess(currentCaller(), req.tenantId, "tenant.resume");
      return { tenant: tenantToProto(await resumeTenant(orm, req.tenantId)) };
    },
    async offboardTenant(req) {
      requireTenantAccess(currentCaller(), req.tenantId, "tenant.offboard");
      return { tenant: tenantToProto(await offboardTenant(orm, req.tenantId, req.reason)) };
    },
  };
}
