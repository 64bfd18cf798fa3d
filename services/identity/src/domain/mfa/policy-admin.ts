import { withTenantTransaction } from "@tessera/platform/db";
import { InvalidArgument, PermissionDenied } from "@tessera/platform/errors";
import { mfaPolicyChanged } from "../../events/publish-mfa.ts";
import type { IdentityDeps } from "../deps.ts";
import { caller, PLATFORM_ADMIN, permissions } from "../roles.ts";
import { requireActiveTenant } from "../tenants.ts";
import { type MfaPolicyMode, type MfaPolicyRecord, policyOf, storePolicy } from "./policy.ts";
import { requireStepUp } from "./step-up.ts";

/** Which tenant a policy call is about: the caller's own, or (platform admins) the one named. */
function targetTenant(requested: string): string {
  const { principal, tenantId } = caller();
  if (tenantId !== undefined) {
    permissions.requirePermission("identity.mfa_policy.manage");
    if (requested !== "" && requested.toLowerCase() !== tenantId.toLowerCase()) {
      throw new PermissionDenied("tenant callers manage their own tenant's policy only", [
        { field: "tenant_id", message: "leave empty (your token's tenant is used)" },
      ]);
    }
    return tenantId.toLowerCase();
  }
  if (!principal.roles.includes(PLATFORM_ADMIN)) throw new PermissionDenied("this call needs a token for a tenant");
  permissions.requirePermission("identity.mfa_policy.manage_any");
  if (requested === "") {
    throw new InvalidArgument("platform admins name the tenant", [{ field: "tenant_id", message: "required" }]);
  }
  return requested.toLowerCase();
}

/** The tenant's policy (owners, admins; platform admins for any tenant). */
export function getMfaPolicy(deps: IdentityDeps, requestedTenant: string): Promise<MfaPolicyRecord> {
  const tenantId = targetTenant(requestedTenant);
  return withTenantTransaction(deps.orm, (em) => policyOf(em, tenantId), { tenantId });
}

/** Sets the tenant's policy; a sensitive operation (step-up applies), audited as `mfa_policy.changed`. */
export async function setMfaPolicy(
  deps: IdentityDeps,
  input: { tenantId: string; mode: MfaPolicyMode; gracePeriodDays: number },
): Promise<MfaPolicyRecord> {
  const tenantId = targetTenant(input.tenantId);
  const { principal, tenantId: callerTenant } = caller();
  const policy = await withTenantTransaction(
    deps.orm,
    async (em) => {
      await requireStepUp(deps, em, principal, callerTenant?.toLowerCase());
      await requireActiveTenant(em, tenantId);
      const before = await policyOf(em, tenantId, true);
      const after = await storePolicy(em, { ...input, tenantId, updatedBy: principal.subject });
      await mfaPolicyChanged(em, tenantId, {
        mode: after.mode,
        previousMode: before.mode,
        gracePeriodDays: after.gracePeriodDays,
      });
      return after;
    },
    { tenantId },
  );
  deps.logger.info({ mfa_policy: policy.mode, grace_period_days: policy.gracePeriodDays }, "MFA policy set");
  return policy;
}
