import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from "@simplewebauthn/server";
import { InvalidArgument, Unauthenticated } from "@tessera/platform/errors";
import type { PasskeyRecord } from "./credentials.ts";
import type { WebauthnSettings } from "./settings.ts";

/** Why an assertion (or a registration) was refused; audited as MfaEvent.failure_reason. */
export type CeremonyFailure =
  | "wrong_origin"
  | "wrong_rp_id"
  | "bad_signature"
  | "counter_regressed"
  | "unknown_credential"
  | "challenge"
  | "user_not_verified"
  | "user_handle_mismatch"
  | "invalid_response";

/** What the caller is told for each refusal: clear, and never the response itself. */
export const FAILURE_MESSAGES: Record<CeremonyFailure, string> = {
  wrong_origin: "the passkey response comes from an origin this service does not accept",
  wrong_rp_id: "the passkey response is for another relying party (RP id)",
  bad_signature: "the passkey signature does not verify",
  counter_regressed:
    "the passkey's signature counter went backwards (a cloned authenticator?): refused; sign in another way and review your passkeys",
  unknown_credential: "this passkey is not registered for this account",
  challenge: "the passkey challenge is unknown, expired or already used: start again",
  user_not_verified: "the authenticator did not verify the user (PIN or biometrics required)",
  user_handle_mismatch: "the passkey belongs to another user",
  invalid_response: "the passkey response could not be verified",
};

/** The ErrorInfo reason of a refused passkey assertion (metadata `failure`: a {@link CeremonyFailure}). */
export const PASSKEY_REFUSED = "PASSKEY_REFUSED";

/**
 * UNAUTHENTICATED with the reason told: unlike a wrong password, a refused passkey reveals nothing
 * worth hiding (credential ids are random), and the user needs to know what to do.
 */
export function passkeyRefused(reason: CeremonyFailure): Unauthenticated {
  return new Unauthenticated(FAILURE_MESSAGES[reason], [], {
    info: { reason: PASSKEY_REFUSED, domain: "identity.tessera.io", metadata: { failure: reason } },
  });
}

/** Signature algorithms accepted: EdDSA, ES256, RS256 (what authenticators ship). */
const ALGORITHMS = [-8, -7, -257];

type AnyResponse = RegistrationResponseJSON | AuthenticationResponseJSON;

/**
 * Parses a PublicKeyCredential's JSON (toJSON()) far enough to route it: malformed input is
 * INVALID_ARGUMENT on `field`, before any challenge or counter is touched.
 */
export function parseCredentialJson<T extends AnyResponse>(json: string, field: string, kind: "create" | "get"): T {
  const bad = (message: string) =>
    new InvalidArgument(`${field} is not a WebAuthn credential: ${message}`, [{ field, message }]);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw bad("not JSON");
  }
  const v = value as Partial<Record<string, unknown>> | null;
  const b64url = (x: unknown) => typeof x === "string" && x.length > 0 && /^[A-Za-z0-9_-]+$/.test(x);
  if (!v || typeof v !== "object") throw bad("not an object");
  if (v.type !== "public-key") throw bad('type must be "public-key"');
  if (!b64url(v.id) || v.rawId !== v.id) throw bad("id and rawId must be the same base64url credential id");
  const response = v.response as Partial<Record<string, unknown>> | undefined;
  if (!response || typeof response !== "object" || !b64url(response.clientDataJSON)) {
    throw bad("response.clientDataJSON is missing");
  }
  if (kind === "create" && !b64url(response.attestationObject)) throw bad("response.attestationObject is missing");
  if (kind === "get" && (!b64url(response.authenticatorData) || !b64url(response.signature))) {
    throw bad("response.authenticatorData and response.signature are required");
  }
  return value as T;
}

/** The challenge a response signed over (from its clientDataJSON), or undefined. */
export function challengeOf(response: AnyResponse): string | undefined {
  try {
    const data = JSON.parse(Buffer.from(response.response.clientDataJSON, "base64url").toString("utf8")) as {
      challenge?: unknown;
    };
    return typeof data.challenge === "string" ? data.challenge : undefined;
  } catch {
    return undefined;
  }
}

/** Maps the library's refusals onto a reason (its messages name the failed check). */
function classify(err: unknown): CeremonyFailure {
  const e = err instanceof Error ? err : new Error(String(err));
  if (e.name === "UnexpectedRPIDHash" || /RP ?ID/i.test(e.message)) return "wrong_rp_id";
  if (/origin/i.test(e.message)) return "wrong_origin";
  if (/user verification|user not present|user presence/i.test(e.message)) return "user_not_verified";
  if (/challenge/i.test(e.message)) return "challenge";
  return "invalid_response";
}

/** Creation options for a user (user verification required, resident key preferred, no attestation). */
export function registrationOptions(
  settings: WebauthnSettings,
  user: { id: string; email: string },
  exclude: readonly PasskeyRecord[],
  challenge: string,
) {
  return generateRegistrationOptions({
    rpName: settings.rpName,
    rpID: settings.rpId,
    userName: user.email,
    userDisplayName: user.email,
    userID: Buffer.from(user.id.replaceAll("-", ""), "hex"),
    challenge: Buffer.from(challenge, "base64url"),
    timeout: settings.challengeTtlMs,
    attestationType: "none",
    excludeCredentials: exclude.map((p) => ({ id: p.credentialId, transports: p.transports })),
    authenticatorSelection: { residentKey: "preferred", requireResidentKey: false, userVerification: "required" },
    supportedAlgorithmIDs: ALGORITHMS,
  });
}

/** Request options: for a second factor, the user's passkeys; passwordless, any discoverable one. */
export function assertionOptions(settings: WebauthnSettings, allow: readonly PasskeyRecord[], challenge: string) {
  return generateAuthenticationOptions({
    rpID: settings.rpId,
    challenge: Buffer.from(challenge, "base64url"),
    timeout: settings.challengeTtlMs,
    userVerification: "required",
    allowCredentials: allow.map((p) => ({ id: p.credentialId, transports: p.transports })),
  });
}

/** A new credential's public parts after a verified registration. */
export interface NewCredential {
  credentialId: string;
  publicKey: Uint8Array;
  signCount: number;
  transports: string[];
  aaguid: string;
  deviceType: string;
  backedUp: boolean;
}

/** Verifies a registration against `challenge` (already taken), the RP id and the origins. */
export async function verifyRegistration(
  settings: WebauthnSettings,
  response: RegistrationResponseJSON,
  challenge: string,
): Promise<{ ok: true; credential: NewCredential } | { ok: false; reason: CeremonyFailure }> {
  try {
    const result = await verifyRegistrationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: [...settings.origins],
      expectedRPID: settings.rpId,
      requireUserVerification: true,
      supportedAlgorithmIDs: ALGORITHMS,
    });
    if (!result.verified) return { ok: false, reason: "invalid_response" };
    const info = result.registrationInfo;
    return {
      ok: true,
      credential: {
        credentialId: info.credential.id,
        publicKey: info.credential.publicKey,
        signCount: info.credential.counter,
        transports: (response.response.transports ?? []).filter((t) => /^[a-z-]{1,32}$/.test(t)).slice(0, 8),
        aaguid: info.aaguid,
        deviceType: info.credentialDeviceType,
        backedUp: info.credentialBackedUp,
      },
    };
  } catch (err) {
    return { ok: false, reason: classify(err) };
  }
}

/**
 * Verifies an assertion by `passkey` against `challenge` (already taken). The sign counter is
 * compared here, after the signature proved the response authentic: a counter that does not move
 * forward (when the authenticator counts at all) means a cloned authenticator.
 */
export async function verifyAssertion(
  settings: WebauthnSettings,
  response: AuthenticationResponseJSON,
  challenge: string,
  passkey: PasskeyRecord,
): Promise<{ ok: true; signCount: number; backedUp: boolean } | { ok: false; reason: CeremonyFailure }> {
  try {
    const result = await verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: [...settings.origins],
      expectedRPID: settings.rpId,
      // the counter is checked below, once the signature is known to be good
      credential: {
        id: passkey.credentialId,
        publicKey: Uint8Array.from(passkey.publicKey),
        counter: 0,
        transports: passkey.transports,
      },
      requireUserVerification: true,
    });
    if (!result.verified) return { ok: false, reason: "bad_signature" };
    const { newCounter, credentialBackedUp } = result.authenticationInfo;
    if ((newCounter > 0 || passkey.signCount > 0) && newCounter <= passkey.signCount) {
      return { ok: false, reason: "counter_regressed" };
    }
    return { ok: true, signCount: newCounter, backedUp: credentialBackedUp };
  } catch (err) {
    return { ok: false, reason: classify(err) };
  }
}
