import type { TxEntityManager } from "@tessera/platform/db";
import type { IdentityDeps } from "../deps.ts";
import type { MembershipRecord } from "../users.ts";
import { passkeyOptionsForChallenge } from "../webauthn/second-factor-options.ts";
import { type ChallengePurpose, createChallenge } from "./challenges.ts";
import { activeFactorKinds } from "./factors.ts";
import { policyOf, requirementFor } from "./policy.ts";
import { recoveryCodesRemaining } from "./recovery.ts";

/** Factor types a challenge can be answered with (or, for enrolment, may be enrolled). */
export type ChallengeFactor = "totp" | "webauthn" | "recovery_code";

const FACTOR_ORDER: readonly ChallengeFactor[] = ["totp", "webauthn", "recovery_code"];

/** What Login returns instead of tokens when a second factor is due. */
export interface LoginChallenge {
  token: string;
  expiresAt: Date;
  purpose: ChallengePurpose;
  factors: ChallengeFactor[];
  /** With a passkey among the factors: WebAuthn request options (JSON) bound to this challenge. */
  webauthnOptionsJson?: string;
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
  firstAmr: readonly string[] = ["pwd"],
): Promise<LoginGate> {
  const ttlMs = deps.settings.mfa.challengeTtlMs;
  const tenantId = membership?.tenantId;
  const kinds = await activeFactorKinds(em, userId);
  if (kinds.length > 0) {
    const factors: ChallengeFactor[] = [...kinds];
    if ((await recoveryCodesRemaining(em, userId)) > 0) factors.push("recovery_code");
    factors.sort((a, b) => FACTOR_ORDER.indexOf(a) - FACTOR_ORDER.indexOf(b));
    const issued = await createChallenge(em, { userId, tenantId, purpose: "verify", ttlMs, firstAmr });
    const webauthnOptionsJson = kinds.includes("webauthn")
      ? await passkeyOptionsForChallenge(deps, em, userId, issued.id)
      : undefined;
    return {
      kind: "challenge",
      challenge: { ...issued, purpose: "verify", factors, ...(webauthnOptionsJson && { webauthnOptionsJson }) },
    };
  }
  if (!membership) return { kind: "none", mustEnrollBy: undefined };
  const requirement = requirementFor(await policyOf(em, membership.tenantId), membership.role, membership.createdAt);
  if (!requirement.required) return { kind: "none", mustEnrollBy: undefined };
  if (requirement.enrollBy.getTime() > Date.now()) return { kind: "none", mustEnrollBy: requirement.enrollBy };
  const issued = await createChallenge(em, { userId, tenantId, purpose: "enroll", ttlMs, firstAmr });
  return { kind: "challenge", challenge: { ...issued, purpose: "enroll", factors: ["totp"] } };
}
