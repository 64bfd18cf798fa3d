import type { RegistrationResponseJSON } from "@simplewebauthn/server";
import { AlreadyExists, InvalidArgument, NotFound } from "@tessera/platform/errors";
import { mfaEvent } from "../../events/publish-mfa.ts";
import type { IdentityDeps } from "../deps.ts";
import { activeFactorKinds } from "../mfa/factors.ts";
import { asSelf, removeFactor } from "../mfa/manage.ts";
import { recoveryCodesRemaining, replaceRecoveryCodes } from "../mfa/recovery.ts";
import {
  challengeOf,
  FAILURE_MESSAGES,
  parseCredentialJson,
  registrationOptions,
  verifyRegistration,
} from "./ceremony.ts";
import { newCeremonyChallenge, takeCeremonyChallenge } from "./challenges.ts";
import {
  credentialExists,
  insertPasskey,
  type PasskeyRecord,
  passkeyOfUser,
  passkeysOf,
  renamePasskey,
} from "./credentials.ts";

const DEFAULT_NAME = "Passkey";

/** Creation options for the caller (step-up once they have an active factor). */
export function startRegistration(deps: IdentityDeps): Promise<{ optionsJson: string; expiresAt: Date }> {
  return asSelf(deps, true, async (em, { user }) => {
    const settings = deps.settings.webauthn;
    const { challenge, expiresAt } = await newCeremonyChallenge(em, {
      purpose: "register",
      ttlMs: settings.challengeTtlMs,
      userId: user.id,
    });
    const options = await registrationOptions(settings, user, await passkeysOf(em, user.id), challenge);
    return { optionsJson: JSON.stringify(options), expiresAt };
  });
}

/**
 * Verifies the new credential against the caller's registration challenge (spent by this use,
 * whatever the outcome) and stores it as an active factor; the first factor brings the recovery
 * codes. A refused registration is INVALID_ARGUMENT with the reason.
 */
export async function finishRegistration(
  deps: IdentityDeps,
  input: { credentialJson: string; displayName: string },
): Promise<{ passkey: PasskeyRecord; recoveryCodes: string[] }> {
  const response = parseCredentialJson<RegistrationResponseJSON>(input.credentialJson, "credential_json", "create");
  const outcome = await asSelf(deps, true, async (em, { user }) => {
    const challenge = challengeOf(response);
    const taken =
      challenge !== undefined && (await takeCeremonyChallenge(em, challenge, "register", { userId: user.id }));
    if (!taken || challenge === undefined) return { ok: false as const, reason: "challenge" as const };
    const verdict = await verifyRegistration(deps.settings.webauthn, response, challenge);
    if (!verdict.ok) return verdict;
    if (await credentialExists(em, verdict.credential.credentialId))
      return { ok: false as const, reason: "exists" as const };
    const first = (await activeFactorKinds(em, user.id)).length === 0;
    const passkey = await insertPasskey(em, {
      ...verdict.credential,
      userId: user.id,
      displayName: input.displayName.trim() || DEFAULT_NAME,
    });
    const recoveryCodes = first ? await replaceRecoveryCodes(em, user.id) : [];
    await mfaEvent(em, "passkey_registered", {
      userId: user.id,
      factorId: passkey.id,
      factorType: "webauthn",
      recoveryCodesRemaining: await recoveryCodesRemaining(em, user.id),
    });
    deps.logger.info({ user_id: user.id, factor_id: passkey.id, aaguid: passkey.aaguid }, "passkey registered");
    return { ok: true as const, passkey, recoveryCodes };
  });
  if (outcome.ok) return { passkey: outcome.passkey, recoveryCodes: outcome.recoveryCodes };
  if (outcome.reason === "exists") throw new AlreadyExists("this passkey is already registered");
  deps.logger.info({ reason: outcome.reason }, "passkey registration refused");
  throw new InvalidArgument(`passkey registration refused: ${FAILURE_MESSAGES[outcome.reason]}`, [
    { field: "credential_json", message: outcome.reason },
  ]);
}

/** The caller's passkeys. */
export function listPasskeys(deps: IdentityDeps): Promise<PasskeyRecord[]> {
  return asSelf(deps, false, (em, { user }) => passkeysOf(em, user.id));
}

/** Renames one of the caller's passkeys (step-up like every factor change). */
export function renameOwnPasskey(deps: IdentityDeps, id: string, displayName: string): Promise<PasskeyRecord> {
  return asSelf(deps, true, async (em, { user }) => {
    const name = displayName.trim();
    if (!name) throw new InvalidArgument("a passkey needs a name", [{ field: "display_name", message: "blank" }]);
    const renamed = await renamePasskey(em, user.id, id, name);
    if (!renamed) throw new NotFound("passkey not found");
    await mfaEvent(em, "passkey_renamed", { userId: user.id, factorId: id, factorType: "webauthn" });
    return renamed;
  });
}

/** Removes one of the caller's passkeys: RemoveFactor's rules, step-up and audit (`mfa.factor_removed`). */
export async function removeOwnPasskey(deps: IdentityDeps, id: string): Promise<void> {
  const found = await asSelf(deps, false, async (em, { user }) => (await passkeyOfUser(em, user.id, id)) !== undefined);
  if (!found) throw new NotFound("passkey not found");
  await removeFactor(deps, id);
}
