import { FactorType, type MfaChallenge, MfaChallengeKind } from "@tessera/proto/tessera/identity/v1/mfa_pb";
import { builder } from "../builder.ts";
import { DateTime, definedEnum, toDate } from "./common.ts";

export const FACTOR_TYPES = {
  TOTP: FactorType.TOTP,
  WEBAUTHN: FactorType.WEBAUTHN,
  RECOVERY_CODE: FactorType.RECOVERY_CODE,
};
const KINDS = { VERIFY: MfaChallengeKind.VERIFY, ENROLL: MfaChallengeKind.ENROLL };

export const MfaFactorTypeEnum = builder.enumType("MfaFactorType", {
  description: "A kind of second factor.",
  values: {
    TOTP: { value: FACTOR_TYPES.TOTP, description: "An authenticator app (RFC 6238 time-based codes)." },
    WEBAUTHN: {
      value: FACTOR_TYPES.WEBAUTHN,
      description: "A passkey (WebAuthn credential with user verification): see `Viewer.passkeys`.",
    },
    RECOVERY_CODE: { value: FACTOR_TYPES.RECOVERY_CODE, description: "One of the ten single-use recovery codes." },
  },
});

const MfaChallengeKindEnum = builder.enumType("MfaChallengeKind", {
  values: {
    VERIFY: { value: KINDS.VERIFY, description: "Answer with a second factor: `verifyMfa`." },
    ENROLL: {
      value: KINDS.ENROLL,
      description:
        "The tenant requires a second factor the user has not enrolled: `startMfaEnrollment` then `completeMfaEnrollment` with the challenge token. Nothing else is permitted.",
    },
  },
});

const MfaChallengeRef = builder.objectRef<MfaChallenge>("MfaChallenge").implement({
  description: "A login that needs a second factor. The token is short-lived and single-use.",
  fields: (t) => ({
    challengeToken: t.exposeString("challengeToken"),
    expiresAt: t.field({ type: DateTime, resolve: (c) => toDate(c.expireTime) }),
    kind: t.field({ type: MfaChallengeKindEnum, resolve: (c) => definedEnum(c.kind, KINDS) }),
    factors: t.field({
      type: [MfaFactorTypeEnum],
      description: "What can answer it (VERIFY) or may be enrolled (ENROLL).",
      resolve: (c) => c.factors.map((f) => definedEnum(f, FACTOR_TYPES)),
    }),
    webauthnOptionsJson: t.string({
      nullable: true,
      description:
        "With WEBAUTHN among `factors`: PublicKeyCredentialRequestOptionsJSON for the user's passkeys (a JSON string for `PublicKeyCredential.parseRequestOptionsFromJSON`); answer with `verifyMfa(input: { webauthnAssertion })`. Its challenge is single use: after a refused assertion, sign in again.",
      resolve: (c) => c.webauthnOptionsJson || null,
    }),
  }),
});

/**
 * `login`'s answer when the password was right but a second factor is due. Not a failure: it is
 * a member of the result union (thrown so the errors plugin puts it there) beside `LoginSuccess`.
 */
export class MfaRequired extends Error {
  override name = "MfaRequired";
  readonly challenge: MfaChallenge;
  constructor(challenge: MfaChallenge) {
    super("A second factor is needed.");
    this.challenge = challenge;
  }
}

builder.objectType(MfaRequired, {
  name: "MfaRequired",
  description: "The password was right; a second factor is due (see `challenge.kind`).",
  isTypeOf: (value) => value instanceof MfaRequired,
  fields: (t) => ({
    message: t.exposeString("message"),
    challenge: t.field({ type: MfaChallengeRef, resolve: (e) => e.challenge }),
  }),
});
