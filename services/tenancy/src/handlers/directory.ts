import type { ServiceImpl } from "@connectrpc/connect";
import { NotFound } from "@tessera/platform/errors";
import { PLANS, planToProto } from "@tessera/platform/plans";
import type { TenantService } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { stepToProto, tenantToProto } from "../contract.ts";
import { currentCaller, requirePermission, requireTenantAccess, TENANT_NOT_FOUND } from "../domain/access.ts";
import { domainOfEmail } from "../domain/domains.ts";
import { getProvisioning } from "../domain/provisioning.ts";
import { type ResolveKey, resolveTenant } from "../domain/tenants.ts";
import type { HandlerDeps } from "./context.ts";
import { operationView } from "./operations.ts";

type Impl = ServiceImpl<typeof TenantService>;

/** ResolveTenant (for the edges), GetProvisioning and ListPlans. */
export function directoryHandlers(deps: HandlerDeps): Pick<Impl, "resolveTenant" | "getProvisioning" | "listPlans"> {
  const { orm } = deps;
  return {
    async resolveTenant(req) {
      const caller = currentCaller();
      requirePermission(caller, "tenant.resolve");
      let key: ResolveKey;
      switch (req.key.case) {
        case "tenantId":
          key = { id: req.key.value };
          break;
        case "slug":
          key = { slug: req.key.value };
          break;
        case "emailDomain":
          key = { domain: domainOfEmail(req.key.value, "email_domain") };
          break;
        default:
          // the contract requires one of the keys; this is a second line
          throw new NotFound(TENANT_NOT_FOUND);
      }
      const scope = caller.tenantId === undefined ? {} : { tenantId: caller.tenantId };
      const tenant = await resolveTenant(orm, scope, key);
      if (!tenant) throw new NotFound(TENANT_NOT_FOUND);
      return { tenant: tenantToProto(tenant), cacheTtlSeconds: deps.resolveCacheTtlSeconds };
    },

    async getProvisioning(req) {
      requireTenantAccess(currentCaller(), req.tenantId, "tenant.provisioning.read");
      const saga = await getProvisioning(orm, req.tenantId);
      const operation = await operationView(orm, req.tenantId.toLowerCase());
      return {
        tenantId: req.tenantId.toLowerCase(),
        steps: saga.steps.map(stepToProto),
        complete: saga.complete,
        ...(operation && { operation }),
      };
    },

    async listPlans() {
      currentCaller();
      return { plans: PLANS.map(planToProto) };
    },
  };
}
