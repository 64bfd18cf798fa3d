import type { TxEntityManager } from "@tessera/platform/db";
import type { IdentityDeps } from "../deps.ts";
import type { MembershipRecord } from "../users.ts";
import { type ChallengePurpose, createChallenge } from "./challenges.ts";
import { activeFactorKinds } from "./factors.ts";
import { policyOf, requirementFor } from "./policy.ts";
import { recoveryCodesRemaining } from "./recovery.ts";

/** Factor types a challenge can be answered with (or, for enrolment, may be enrolled). */
export type ChallengeFactor = "totp" | "recovery_code";

/** What Login returns instead of tokens when a second factor is due. */
export interface LoginChallenge {
  token: string;
  expiresAt: Date;
  purpose: ChallengePurpose;
  factors: ChallengeFactor[];
}

/** Login's MFA decision after a correct password. */
export type LoginGate =
  | { kind: "none"; mustEnrollBy: Date | undefined }
  | { kind: "challenge"; challenge: LoginChallenge };

/**
 * Decides, in the login's transaction, whether a correct password is enough: a user with an
 * active factor must give it (VERIFY challenge); a member whom the tenant's policy requires to use
 * one must enrol one once the grace period is over (ENROLL challenge), and is told the deadline
 * while it lasts. The policy is the tenant's the session is for: a member of two tenants meets
 * each tenant's policy when signing in to it.
 */
export async function mfaAtLogin(
  deps: IdentityDeps,
  em: TxEntityManager,
  userId: string,
  membership: MembershipRecord | undefined,
): Promise<LoginGate> {
  const ttlMs = deps.settings.mfa.challengeTtlMs;
  const tenantId = membership?.tenantId;
  const kinds = await activeFactorKinds(em, userId);
  if (kinds.length > 0) {
    const factors: ChallengeFactor[] = [...kinds];
    if ((await recoveryCodesRemaining(em, userId)) > 0) factors.push("recovery_code");
    const issued = await createChallenge(em, { userId, tenantId, purpose: "verify", ttlMs });
    return { kind: "challenge", challenge: { ...issued, purpose: "verify", factors } };
  }
  if (!membership) return { kind: "none", mustEnrollBy: undefined };
  const requirement = requirementFor(await policyOf(em, membership.tenantId), membership.role, membership.createdAt);
  if (!requirement.required) return { kind: "none", mustEnrollBy: undefined };
  if (requirement.enrollBy.getTime() > Date.now()) return { kind: "none", mustEnrollBy: requirement.enrollBy };
  const issued = await createChallenge(em, { userId, tenantId, purpose: "enroll", ttlMs });
  return { kind: "challenge", challenge: { ...issued, purpose: "enroll", factors: ["totp"] } };
}
