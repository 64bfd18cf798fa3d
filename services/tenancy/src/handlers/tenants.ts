import type { ServiceImpl } from "@connectrpc/connect";
import { FailedPrecondition, InvalidArgument, PermissionDenied } from "@tessera/platform/errors";
import type { TenantService } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { statusFromProto, tenantToProto, tierFromProto } from "../contract.ts";
import { callerCan, currentCaller, requirePermission, requireTenantAccess } from "../domain/access.ts";
import { missingDriver, sagaSteps } from "../domain/saga/steps.ts";
import {
  createTenant,
  getTenant,
  listTenants,
  type ReadScope,
  requirePlan,
  type TenantChanges,
  tierFor,
  updateTenant,
} from "../domain/tenants.ts";
import type { HandlerDeps } from "./context.ts";

const DEFAULT_PAGE_SIZE = 50;
const UPDATABLE = ["display_name", "region", "verified_domains"] as const;

type Impl = ServiceImpl<typeof TenantService>;

/** CreateTenant, GetTenant, ListTenants, UpdateTenant. */
export function tenantHandlers(
  deps: HandlerDeps,
): Pick<Impl, "createTenant" | "getTenant" | "listTenants" | "updateTenant"> {
  const { orm, runner } = deps;
  return {
    async createTenant(req) {
      requirePermission(currentCaller(), "tenant.create");
      const tier = tierFor(requirePlan(req.plan), tierFromProto(req.tier));
      const missing = missingDriver(tier, deps.drivers);
      if (missing) {
        throw new FailedPrecondition(`the ${tier} tier cannot be provisioned here`, [
          { field: "tier", message: `the ${tier} tier needs a ${missing} driver, and none is configured` },
        ]);
      }
      const { tenant } = await createTenant(
        orm,
        {
          requestId: req.requestId,
          slug: req.slug,
          displayName: req.displayName,
          tier,
          plan: req.plan,
          region: req.region,
          verifiedDomains: req.verifiedDomains,
        },
        sagaSteps(tier),
      );
      if (tenant.status !== "provisioning") return { tenant: tenantToProto(tenant) };
      // a pool tenant's saga is a few local writes: finish it before answering
      if (tier !== "pool") {
        runner.kick(tenant.id);
        return { tenant: tenantToProto(tenant) };
      }
      await runner.run(tenant.id);
      return { tenant: tenantToProto(await getTenant(orm, tenant.id)) };
    },

    async getTenant(req) {
      requireTenantAccess(currentCaller(), req.tenantId, "tenant.read");
      return { tenant: tenantToProto(await getTenant(orm, req.tenantId)) };
    },

    async listTenants(req) {
      const caller = currentCaller();
      let scope: ReadScope;
      if (callerCan(caller, "tenant.list")) scope = {};
      else {
        requirePermission(caller, "tenant.read");
        if (caller.tenantId === undefined) throw new PermissionDenied('missing permission "tenant.list"');
        scope = { tenantId: caller.tenantId };
      }
      const page = await listTenants(
        orm,
        scope,
        { status: statusFromProto(req.status), tier: tierFromProto(req.tier), plan: req.plan || undefined },
        { size: req.page?.pageSize || DEFAULT_PAGE_SIZE, token: req.page?.pageToken ?? "" },
      );
      return { tenants: page.tenants.map(tenantToProto), page: { nextPageToken: page.nextPageToken } };
    },

    async updateTenant(req) {
      const caller = currentCaller();
      requireTenantAccess(caller, req.tenantId, "tenant.update");
      const paths = req.updateMask?.paths ?? [];
      const unknown = paths.filter((p) => !(UPDATABLE as readonly string[]).includes(p));
      if (paths.length === 0 || unknown.length > 0) {
        throw new InvalidArgument("bad update_mask", [
          {
            field: "update_mask",
            message:
              paths.length === 0
                ? `name the fields to change: ${UPDATABLE.join(", ")}`
                : `cannot update ${unknown.join(", ")}; updatable: ${UPDATABLE.join(", ")}`,
          },
        ]);
      }
      const changes: { -readonly [K in keyof TenantChanges]: TenantChanges[K] } = {};
      if (paths.includes("display_name")) {
        if (req.displayName.trim() === "") {
          throw new InvalidArgument("display_name is required", [
            { field: "display_name", message: "must contain a non-space character" },
          ]);
        }
        changes.displayName = req.displayName;
      }
      if (paths.includes("region")) {
        requirePermission(caller, "tenant.manage");
        if (req.region === "") {
          throw new InvalidArgument("region is required", [{ field: "region", message: "must not be empty" }]);
        }
        changes.region = req.region;
      }
      if (paths.includes("verified_domains")) {
        requirePermission(caller, "tenant.manage");
        changes.verifiedDomains = req.verifiedDomains;
      }
      return { tenant: tenantToProto(await updateTenant(orm, req.tenantId, changes)) };
    },
  };
}
