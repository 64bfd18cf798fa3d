import type { TxEntityManager } from "@tessera/platform/db";
import type { IdentityDeps } from "../deps.ts";
import { assertionOptions } from "./ceremony.ts";
import { newCeremonyChallenge } from "./challenges.ts";
import { passkeysOf } from "./credentials.ts";

/**
 * WebAuthn request options for a login's VERIFY challenge: the user's passkeys, user verification
 * required, a fresh ceremony challenge bound to the MFA challenge (JSON, for the client's
 * PublicKeyCredential.parseRequestOptionsFromJSON).
 */
export async function passkeyOptionsForChallenge(
  deps: IdentityDeps,
  em: TxEntityManager,
  userId: string,
  mfaChallengeId: string,
): Promise<string> {
  const settings = deps.settings.webauthn;
  const { challenge } = await newCeremonyChallenge(em, {
    purpose: "second_factor",
    ttlMs: Math.min(settings.challengeTtlMs, deps.settings.mfa.challengeTtlMs),
    userId,
    mfaChallengeId,
  });
  return JSON.stringify(await assertionOptions(settings, await passkeysOf(em, userId), challenge));
}
