/**
 * Multi-factor sign-in through the real gateway (identity and tenancy as processes): enrolment,
 * the MFA challenge of `login`, `verifyMfa`, step-up errors, the tenant policy and enrolment
 * during login.
 */
import { registerSecret, startPlatform, type TestPlatform, type UserSeed } from "@tessera/test/harness";
import { decodeJwt } from "jose";
import { Secret, TOTP } from "otpauth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gid, LOGIN, loginInput } from "./scenarios/env.ts";
import { dataOf, type RunningGateway, startGateway } from "./support.ts";

const LOGIN_MFA = `mutation Login($input: LoginInput!) {
  login(input: $input) {
    __typename
    ... on LoginSuccess { tokens { accessToken mustEnrollBy } }
    ... on MfaRequired { challenge { challengeToken kind factors expiresAt } }
    ... on Error { code message }
  }
}`;
const VERIFY = `mutation V($input: VerifyMfaInput!) {
  verifyMfa(input: $input) {
    __typename
    ... on VerifyMfaSuccess { tokens { accessToken } }
    ... on Error { code message }
  }
}`;
const ENROLL = `mutation E($input: EnrollTotpInput) {
  enrollTotp(input: $input) {
    __typename
    ... on EnrollTotpSuccess { enrollment { otpauthUri secret factor { id status } } }
    ... on Error { code message }
  }
}`;
const CONFIRM = `mutation C($input: ConfirmTotpInput!) {
  confirmTotp(input: $input) {
    __typename
    ... on ConfirmTotpSuccess { result { recoveryCodes factor { status } } }
    ... on Error { code message }
  }
}`;
const START = `mutation S($input: StartMfaEnrollmentInput!) {
  startMfaEnrollment(input: $input) {
    __typename
    ... on StartMfaEnrollmentSuccess { enrollment { secret factor { id } } }
    ... on Error { code message }
  }
}`;
const COMPLETE = `mutation C($input: CompleteMfaEnrollmentInput!) {
  completeMfaEnrollment(input: $input) {
    __typename
    ... on CompleteMfaEnrollmentSuccess { result { recoveryCodes tokens { accessToken } } }
    ... on Error { code message }
  }
}`;
const REGENERATE = `mutation { regenerateRecoveryCodes {
  __typename
  ... on RegenerateRecoveryCodesSuccess { recoveryCodes }
  ... on Error { code message }
} }`;

type Result = { __typename: string; code?: string; [k: string]: unknown };

const code = (secret: string, steps = 0) =>
  new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: Date.now() + steps * 30_000 });

describe("GraphQL gateway: MFA", () => {
  let platform: TestPlatform;
  let gw: RunningGateway;
  let tenantId: string;
  let owner: UserSeed;
  let member: UserSeed;

  beforeAll(async () => {
    platform = await startPlatform({ services: ["tenancy"] });
    // projects and audit are not needed here: the gateway only dials them on use
    gw = await startGateway(platform, { PROJECTS_URL: "http://127.0.0.1:9", AUDIT_URL: "http://127.0.0.1:9" });
    const tenant = await platform.seed.tenant();
    tenantId = tenant.id;
    owner = await tenant.user("owner");
    member = await tenant.user("member");
  }, 240_000);
  afterAll(async () => {
    await gw?.stop();
    await platform?.stop();
  });

  const call = async (query: string, variables: Record<string, unknown> | undefined, field: string, token?: string) =>
    dataOf<Record<string, Result>>(await gw.gql(query, variables, token))[field] as Result;
  const login = (user: UserSeed) => call(LOGIN_MFA, { input: loginInput(user) }, "login");

  it("enrols TOTP, then login answers MfaRequired; verifyMfa refuses wrong and malformed codes and signs in with the right one", async () => {
    const first = await login(member);
    expect(first.__typename).toBe("LoginSuccess");
    const token = (first.tokens as { accessToken: string }).accessToken;

    const enrolled = await call(ENROLL, { input: { displayName: "phone" } }, "enrollTotp", token);
    expect(enrolled.__typename).toBe("EnrollTotpSuccess");
    const enrollment = enrolled.enrollment as {
      otpauthUri: string;
      secret: string;
      factor: { id: string; status: string };
    };
    registerSecret(enrollment.secret);
    expect(enrollment.otpauthUri).toMatch(/^otpauth:\/\/totp\//);
    expect(enrollment.factor.status).toBe("PENDING");
    const confirmed = await call(
      CONFIRM,
      { input: { factorId: enrollment.factor.id, code: code(enrollment.secret, -1) } },
      "confirmTotp",
      token,
    );
    const { recoveryCodes } = confirmed.result as { recoveryCodes: string[] };
    for (const c of recoveryCodes) registerSecret(c);
    expect(recoveryCodes).toHaveLength(10);
    const viewer = dataOf<{ viewer: { factors: { type: string; status: string }[]; recoveryCodesRemaining: number } }>(
      await gw.gql("{ viewer { factors { type status } recoveryCodesRemaining } }", undefined, token),
    ).viewer;
    expect(viewer).toEqual({ factors: [{ type: "TOTP", status: "ACTIVE" }], recoveryCodesRemaining: 10 });

    // the session from before enrolment is not enough for sensitive operations
    const stepUp = await call(REGENERATE, undefined, "regenerateRecoveryCodes", token);
    expect(stepUp).toMatchObject({ __typename: "StepUpRequiredError", code: "STEP_UP_REQUIRED" });

    const challenged = await login(member);
    expect(challenged.__typename).toBe("MfaRequired");
    const challenge = challenged.challenge as { challengeToken: string; kind: string; factors: string[] };
    expect(challenge).toMatchObject({ kind: "VERIFY", factors: ["TOTP", "RECOVERY_CODE"] });

    const wrong = await call(
      VERIFY,
      { input: { challengeToken: challenge.challengeToken, totpCode: "000000" } },
      "verifyMfa",
    );
    expect(wrong).toMatchObject({ __typename: "AuthenticationError", code: "UNAUTHENTICATED" });
    const malformed = await call(
      VERIFY,
      { input: { challengeToken: challenge.challengeToken, totpCode: "12ab56" } },
      "verifyMfa",
    );
    expect(malformed).toMatchObject({ __typename: "ValidationError", code: "BAD_USER_INPUT" });
    const neither = await call(VERIFY, { input: { challengeToken: challenge.challengeToken } }, "verifyMfa");
    expect(neither).toMatchObject({ __typename: "ValidationError", code: "BAD_USER_INPUT" });

    const ok = await call(
      VERIFY,
      { input: { challengeToken: challenge.challengeToken, totpCode: code(enrollment.secret) } },
      "verifyMfa",
    );
    expect(ok.__typename).toBe("VerifyMfaSuccess");
    const mfaToken = (ok.tokens as { accessToken: string }).accessToken;
    expect(decodeJwt(mfaToken)).toMatchObject({ amr: ["pwd", "otp"], acr: "urn:tessera:acr:mfa" });
    const renewed = await call(REGENERATE, undefined, "regenerateRecoveryCodes", mfaToken);
    expect(renewed.__typename).toBe("RegenerateRecoveryCodesSuccess");
    for (const c of renewed.recoveryCodes as string[]) registerSecret(c);
  });

  it("lets the owner require MFA of admins; the owner then enrols during login with the challenge token", async () => {
    const token = (await login(owner)).tokens as { accessToken: string };
    const set = await call(
      `mutation { setMfaPolicy(input: { mode: ADMINS, gracePeriodDays: 0 }) {
        __typename ... on SetMfaPolicySuccess { policy { mode gracePeriodDays } } ... on Error { code message } } }`,
      undefined,
      "setMfaPolicy",
      token.accessToken,
    );
    expect(set).toMatchObject({ __typename: "SetMfaPolicySuccess", policy: { mode: "ADMINS", gracePeriodDays: 0 } });
    const read = dataOf<{ viewer: { tenant: { id: string; mfaPolicy: { mode: string } } } }>(
      await gw.gql("{ viewer { tenant { id mfaPolicy { mode } } } }", undefined, token.accessToken),
    );
    expect(read.viewer.tenant).toEqual({ id: gid("Tenant", tenantId), mfaPolicy: { mode: "ADMINS" } });

    const challenged = await login(owner);
    const challenge = challenged.challenge as { challengeToken: string; kind: string };
    expect(challenge.kind).toBe("ENROLL");
    const verify = await call(
      VERIFY,
      { input: { challengeToken: challenge.challengeToken, recoveryCode: "aaaa-bbbb-cccc-dddd" } },
      "verifyMfa",
    );
    expect(verify).toMatchObject({ __typename: "ConflictError", code: "CONFLICT" });

    // without a credential, enrolment is only possible with the challenge
    expect((await gw.gql(ENROLL, {})).body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    const enrolled = await call(START, { input: { challengeToken: challenge.challengeToken } }, "startMfaEnrollment");
    const enrollment = enrolled.enrollment as { secret: string; factor: { id: string } };
    registerSecret(enrollment.secret);
    const done = await call(
      COMPLETE,
      {
        input: {
          factorId: enrollment.factor.id,
          code: code(enrollment.secret),
          challengeToken: challenge.challengeToken,
        },
      },
      "completeMfaEnrollment",
    );
    expect(done.__typename).toBe("CompleteMfaEnrollmentSuccess");
    const result = done.result as { recoveryCodes: string[]; tokens: { accessToken: string } };
    for (const c of result.recoveryCodes) registerSecret(c);
    expect(result.recoveryCodes).toHaveLength(10);
    expect(decodeJwt(result.tokens.accessToken)).toMatchObject({ amr: ["pwd", "otp"], tid: tenantId });
    // the plain login mutation callers already use still works for users without MFA
    expect(
      dataOf<{ login: Result }>(await gw.gql(LOGIN, { input: loginInput(member, "wrong-password") })).login.code,
    ).toBe("UNAUTHENTICATED");
  });
});
