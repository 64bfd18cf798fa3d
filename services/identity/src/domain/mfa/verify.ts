import { randomUUID } from "node:crypto";
import { type TxEntityManager, withPlatformTransaction, withTenantTransaction } from "@tessera/platform/db";
import {
  FailedPrecondition,
  NotFound,
  PermissionDenied,
  ResourceExhausted,
  Unauthenticated,
} from "@tessera/platform/errors";
import { type ClientSeen, lockedOut, loginSucceeded } from "../../events/publish.ts";
import { mfaEvent } from "../../events/publish-mfa.ts";
import type { IdentityDeps } from "../deps.ts";
import {
  accountLockedUntil,
  ipBlocked,
  recordAccountFailure,
  recordIpFailure,
  resetAccountFailures,
} from "../lockout.ts";
import { PLATFORM_TENANT_ID, requireEdge } from "../roles.ts";
import { sha256Hex } from "../secrets.ts";
import type { Session } from "../sessions.ts";
import { startSession } from "../sessions.ts";
import { queryOne } from "../sql.ts";
import { tenantIsActive } from "../tenants.ts";
import { type MembershipRecord, membershipOf, type UserRecord, userById } from "../users.ts";
import {
  type ChallengePurpose,
  type ChallengeRecord,
  lockChallenge,
  recordChallengeFailure,
  spendChallenge,
} from "./challenges.ts";
import { type FactorRecord, insertPendingTotp, pendingFactor, useTotp } from "./factors.ts";
import { recoveryCodesRemaining, replaceRecoveryCodes, useRecoveryCode } from "./recovery.ts";
import { base32Of, type TotpParams, totpUri } from "./totp.ts";

const INVALID_CHALLENGE = "invalid or expired MFA challenge: sign in again";
const INVALID_CODE = "invalid code";
const DEFAULT_FACTOR_NAME = "Authenticator app";

/** A pending TOTP factor and what an authenticator app needs to add it (the secret: shown once). */
export interface TotpEnrollment {
  factor: FactorRecord;
  uri: string;
  secret: string;
  params: TotpParams;
}

/** A challenge checked and locked, with its user and (for a tenant session) membership. */
export interface Challenged {
  challenge: ChallengeRecord;
  user: UserRecord;
  membership: MembershipRecord | undefined;
}

/** What answering a challenge came to; `refused` is a wrong answer with its own error (passkeys). */
export type Step<T> =
  | { kind: "ok"; value: T }
  | { kind: "invalid" | "wrong" | "inactive" | "purpose" }
  | { kind: "refused"; error: Error };

/**
 * Runs `fn` in the challenge's tenant transaction with the challenge locked, after checking it is
 * live, of `purpose`, its user enabled and not locked out, and its membership and tenant still
 * there; maps every failure to the one answer it deserves.
 */
export async function withChallenge<T>(
  deps: IdentityDeps,
  token: string,
  purpose: ChallengePurpose,
  client: ClientSeen | undefined,
  fn: (em: TxEntityManager, c: Challenged) => Promise<Step<T>>,
): Promise<T> {
  requireEdge("identity.sessions.issue");
  const peek = await withPlatformTransaction(deps.orm, async (em) => ({
    blocked: client ? await ipBlocked(em, client.ip) : false,
    row: await queryOne<{ tenant_id: string | null }>(em, "select tenant_id from mfa_challenges where token_hash = ?", [
      sha256Hex(token),
    ]),
  }));
  if (peek.blocked) throw new ResourceExhausted("too many failed logins from this address: retry later");
  if (!peek.row) throw new Unauthenticated(INVALID_CHALLENGE);
  const tenantId = peek.row.tenant_id ?? undefined;
  const step = await withTenantTransaction(
    deps.orm,
    async (em): Promise<Step<T>> => {
      const challenge = await lockChallenge(em, token);
      if (!challenge) return { kind: "invalid" };
      if (challenge.purpose !== purpose) return { kind: "purpose" };
      const user = await userById(em, challenge.userId);
      if (!user || user.disabled || (await accountLockedUntil(em, user.id))) return { kind: "invalid" };
      let membership: MembershipRecord | undefined;
      if (tenantId !== undefined) {
        if (!(await tenantIsActive(em, tenantId))) return { kind: "inactive" };
        membership = await membershipOf(em, tenantId, user.id);
        if (!membership) return { kind: "invalid" };
      }
      return fn(em, { challenge, user, membership });
    },
    { tenantId: tenantId ?? PLATFORM_TENANT_ID },
  );
  switch (step.kind) {
    case "ok":
      return step.value;
    case "wrong":
      throw new Unauthenticated(INVALID_CODE);
    case "refused":
      throw step.error;
    case "inactive":
      throw new PermissionDenied("the tenant is not active");
    case "purpose":
      throw new FailedPrecondition(
        purpose === "verify"
          ? "this challenge only permits enrolling a factor (StartMfaEnrollment)"
          : "this challenge does not permit enrolling a factor",
      );
    default:
      throw new Unauthenticated(INVALID_CHALLENGE);
  }
}

/** A wrong code: counts against the challenge, the client address and the account (lockout). */
async function countFailure(
  deps: IdentityDeps,
  em: TxEntityManager,
  c: Challenged,
  client: ClientSeen,
  factorType: "totp" | "recovery_code",
): Promise<{ kind: "wrong" }> {
  await recordChallengeFailure(em, c.challenge.id);
  await recordIpFailure(em, client.ip, deps.settings.ipLimit);
  const { failedCount, lockedUntil } = await recordAccountFailure(em, c.user.id, deps.settings.lockout);
  await mfaEvent(em, "verification_failed", { userId: c.user.id, factorType, failedAttempts: failedCount, client });
  if (lockedUntil) {
    await lockedOut(em, c.user.id, failedCount, lockedUntil, client);
    deps.logger.warn({ user_id: c.user.id, failed_attempts: failedCount }, "account locked after failed MFA codes");
  }
  return { kind: "wrong" };
}

/** The challenge answered: spend it, forget the failures, start the session. */
export async function finish(
  deps: IdentityDeps,
  em: TxEntityManager,
  c: Challenged,
  client: ClientSeen,
  method: "otp" | "rcv" | "hwk",
): Promise<Session> {
  await spendChallenge(em, c.challenge.id);
  await resetAccountFailures(em, c.user.id);
  const session = await startSession(deps, em, c.user, c.membership, randomUUID(), {
    // a passkey verified the user (UV required): RFC 8176 hwk (proof of a key) + user (presence)
    amr: [...c.challenge.firstAmr, ...(method === "hwk" ? ["hwk", "user"] : [method])],
    authTime: new Date(),
  });
  await loginSucceeded(em, c.user.id, client);
  deps.logger.info(
    { user_id: c.user.id, session_tenant_id: c.membership?.tenantId ?? null, amr: method },
    "login succeeded",
  );
  return session;
}

/** VerifyMfa: a VERIFY challenge answered with a TOTP code or a recovery code → tokens. */
export async function verifyMfa(
  deps: IdentityDeps,
  input: { challengeToken: string; code: { kind: "totp" | "recovery_code"; value: string }; client: ClientSeen },
): Promise<Session> {
  const { code, client } = input;
  return withChallenge(deps, input.challengeToken, "verify", client, async (em, c) => {
    if (code.kind === "totp") {
      const factor = await useTotp(em, deps.settings.keyEncryptionKey, c.user.id, code.value);
      if (!factor) return countFailure(deps, em, c, client, "totp");
      return { kind: "ok", value: await finish(deps, em, c, client, "otp") };
    }
    if (!(await useRecoveryCode(em, c.user.id, code.value))) return countFailure(deps, em, c, client, "recovery_code");
    const remaining = await recoveryCodesRemaining(em, c.user.id);
    await mfaEvent(em, "recovery_code_used", {
      userId: c.user.id,
      factorType: "recovery_code",
      recoveryCodesRemaining: remaining,
      client,
    });
    return { kind: "ok", value: await finish(deps, em, c, client, "rcv") };
  });
}

/** Creates a pending TOTP factor and its enrolment data (shared by login-time and self-service enrolment). */
export async function pendingTotp(
  deps: IdentityDeps,
  em: TxEntityManager,
  user: UserRecord,
  displayName: string,
): Promise<TotpEnrollment> {
  const { factor, secret, params } = await insertPendingTotp(
    em,
    deps.settings.keyEncryptionKey,
    user.id,
    displayName || DEFAULT_FACTOR_NAME,
  );
  await mfaEvent(em, "totp_enrolled", { userId: user.id, factorId: factor.id, factorType: "totp" });
  return {
    factor,
    uri: totpUri(secret, params, deps.settings.mfa.issuer, user.email),
    secret: base32Of(secret),
    params,
  };
}

/** StartMfaEnrollment: an ENROLL challenge's user starts enrolling TOTP. */
export async function startEnrollment(
  deps: IdentityDeps,
  input: { challengeToken: string; displayName: string },
): Promise<TotpEnrollment> {
  return withChallenge(deps, input.challengeToken, "enroll", undefined, async (em, c) => ({
    kind: "ok",
    value: await pendingTotp(deps, em, c.user, input.displayName),
  }));
}

/** CompleteMfaEnrollment: confirms the pending factor with a code → tokens and the recovery codes. */
export async function completeEnrollment(
  deps: IdentityDeps,
  input: { challengeToken: string; factorId: string; code: string; client: ClientSeen },
): Promise<{ session: Session; recoveryCodes: string[] }> {
  const { client } = input;
  return withChallenge(deps, input.challengeToken, "enroll", client, async (em, c) => {
    if (!(await pendingFactor(em, c.user.id, input.factorId))) throw new NotFound("no pending factor with that id");
    const factor = await useTotp(em, deps.settings.keyEncryptionKey, c.user.id, input.code, {
      pendingId: input.factorId,
    });
    if (!factor) return countFailure(deps, em, c, client, "totp");
    const recoveryCodes = await replaceRecoveryCodes(em, c.user.id);
    await mfaEvent(em, "totp_confirmed", {
      userId: c.user.id,
      factorId: factor.id,
      factorType: "totp",
      recoveryCodesRemaining: recoveryCodes.length,
      client,
    });
    return { kind: "ok", value: { session: await finish(deps, em, c, client, "otp"), recoveryCodes } };
  });
}
