import type { ServiceImpl } from "@connectrpc/connect";
import type { TenantService } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { tenantToProto } from "../contract.ts";
import { currentCaller, requireTenantAccess } from "../domain/access.ts";
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
      return { tenant: tenantToProto(await changePlan(orm, req.tenantId, req.plan)) };
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
