import type { AuthenticationResponseJSON } from "@simplewebauthn/server";
import type { TxEntityManager } from "@tessera/platform/db";
import { type ClientSeen, lockedOut } from "../../events/publish.ts";
import { mfaEvent } from "../../events/publish-mfa.ts";
import type { IdentityDeps } from "../deps.ts";
import { recordAccountFailure, recordIpFailure } from "../lockout.ts";
import { recordChallengeFailure } from "../mfa/challenges.ts";
import { type Challenged, finish, type Step, withChallenge } from "../mfa/verify.ts";
import type { Session } from "../sessions.ts";
import { type CeremonyFailure, challengeOf, parseCredentialJson, passkeyRefused, verifyAssertion } from "./ceremony.ts";
import { takeCeremonyChallenge } from "./challenges.ts";
import { lockPasskeyByCredentialId, recordPasskeyUse } from "./credentials.ts";

/**
 * A refused assertion counts like a wrong code: against the MFA challenge, the client address and
 * the account (lockout), audited as `mfa.verification_failed` with the reason.
 */
async function refuse(
  deps: IdentityDeps,
  em: TxEntityManager,
  c: Challenged,
  client: ClientSeen,
  reason: CeremonyFailure,
  factorId?: string,
): Promise<Step<Session>> {
  await recordChallengeFailure(em, c.challenge.id);
  await recordIpFailure(em, client.ip, deps.settings.ipLimit);
  const { failedCount, lockedUntil } = await recordAccountFailure(em, c.user.id, deps.settings.lockout);
  await mfaEvent(em, "verification_failed", {
    userId: c.user.id,
    factorType: "webauthn",
    failedAttempts: failedCount,
    failureReason: reason,
    client,
    ...(factorId && { factorId }),
  });
  if (lockedUntil) {
    await lockedOut(em, c.user.id, failedCount, lockedUntil, client);
    deps.logger.warn({ user_id: c.user.id, failed_attempts: failedCount }, "account locked after failed MFA answers");
  }
  const log = reason === "counter_regressed" ? deps.logger.warn : deps.logger.info;
  log.call(deps.logger, { user_id: c.user.id, factor_id: factorId ?? null, reason }, "passkey assertion refused");
  return { kind: "refused", error: passkeyRefused(reason) };
}

/**
 * VerifyMfa with a passkey: the assertion must answer the ceremony challenge issued with this
 * login's MFA challenge (single use), come from one of this user's passkeys, and verify (origin,
 * RP id, user verification, signature, a counter moving forward) → tokens with amr
 * ["pwd","hwk","user"].
 */
export async function verifyMfaWithPasskey(
  deps: IdentityDeps,
  input: { challengeToken: string; assertionJson: string; client: ClientSeen },
): Promise<Session> {
  const { client } = input;
  const response = parseCredentialJson<AuthenticationResponseJSON>(
    input.assertionJson,
    "webauthn_assertion_json",
    "get",
  );
  return withChallenge(deps, input.challengeToken, "verify", client, async (em, c) => {
    const challenge = challengeOf(response);
    const taken =
      challenge !== undefined &&
      (await takeCeremonyChallenge(em, challenge, "second_factor", {
        userId: c.user.id,
        mfaChallengeId: c.challenge.id,
      }));
    if (!taken || challenge === undefined) return refuse(deps, em, c, client, "challenge");
    const passkey = await lockPasskeyByCredentialId(em, response.id);
    // another user's passkey is as unknown here as one never registered
    if (!passkey || passkey.userId !== c.user.id) return refuse(deps, em, c, client, "unknown_credential");
    const verdict = await verifyAssertion(deps.settings.webauthn, response, challenge, passkey);
    if (!verdict.ok) return refuse(deps, em, c, client, verdict.reason, passkey.id);
    await recordPasskeyUse(em, passkey.id, verdict);
    return { kind: "ok", value: await finish(deps, em, c, client, "hwk") };
  });
}
