import { ACR_MFA, hasRecentMfa } from "@tessera/platform/auth";
import type { TxEntityManager } from "@tessera/platform/db";
import { PermissionDenied } from "@tessera/platform/errors";
import type { IdentityDeps } from "../deps.ts";
import { highestRole } from "../roles.ts";
import { membershipOf } from "../users.ts";
import { activeFactorKinds } from "./factors.ts";
import { policyOf, requirementFor } from "./policy.ts";

/** The ErrorInfo reason of a refusal for want of a recent second factor. */
export const STEP_UP_REQUIRED = "STEP_UP_REQUIRED";
/** The ErrorInfo domain of identity's reasons. */
export const IDENTITY_ERROR_DOMAIN = "identity.tessera.io";

/**
 * Whether MFA applies to a user acting in a tenant: they have an active factor, or the tenant's
 * policy requires one of their role and the grace period is over (such a user had to enrol to
 * sign in). A user still within grace, or under no policy and without a factor, is not asked.
 */
export async function mfaApplies(em: TxEntityManager, userId: string, tenantId: string | undefined): Promise<boolean> {
  if ((await activeFactorKinds(em, userId)).length > 0) return true;
  if (tenantId === undefined) return false;
  const membership = await membershipOf(em, tenantId, userId);
  if (!membership) return false;
  const requirement = requirementFor(await policyOf(em, tenantId), membership.role, membership.createdAt);
  return requirement.required && requirement.enrollBy.getTime() <= Date.now();
}

/** The refusal: PERMISSION_DENIED with ErrorInfo `STEP_UP_REQUIRED` (acr_values, max_age in seconds). */
export function stepUpRequired(deps: IdentityDeps): PermissionDenied {
  return new PermissionDenied(
    "this operation needs a recent sign-in with a second factor: sign in again with your authenticator",
    [],
    {
      info: {
        reason: STEP_UP_REQUIRED,
        domain: IDENTITY_ERROR_DOMAIN,
        metadata: {
          acr_values: ACR_MFA,
          max_age: String(Math.floor(deps.settings.mfa.stepUpMaxAgeMs / 1000)),
        },
      },
    },
  );
}

/**
 * Step-up for sensitive operations: when MFA applies to the calling user (see {@link mfaApplies}),
 * their token must carry `acr` = urn:tessera:acr:mfa with an `auth_time` within
 * IDENTITY_STEP_UP_MAX_AGE_MS. Callers other than users (API keys, services) are not asked.
 */
export async function requireStepUp(
  deps: IdentityDeps,
  em: TxEntityManager,
  caller: { kind: string; subject: string; roles: readonly string[] },
  tenantId: string | undefined,
): Promise<void> {
  if (caller.kind !== "user") return;
  if (hasRecentMfa(deps.settings.mfa.stepUpMaxAgeMs)) return;
  // platform sessions (no tenant) have no policy: only their own enrolment counts
  const applies = await mfaApplies(
    em,
    caller.subject,
    tenantId !== undefined && highestRole(caller.roles) ? tenantId : undefined,
  );
  if (applies) throw stepUpRequired(deps);
}
