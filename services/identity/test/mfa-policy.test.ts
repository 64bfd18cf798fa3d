import { Code } from "@connectrpc/connect";
import { ApiKeyService } from "@tessera/proto/tessera/identity/v1/api_keys_pb";
import { MembershipService } from "@tessera/proto/tessera/identity/v1/memberships_pb";
import { FactorType, MfaChallengeKind, MfaPolicyMode, MfaService } from "@tessera/proto/tessera/identity/v1/mfa_pb";
import { registerSecret } from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  awayFromStepEdge,
  claimsOf,
  codeFor,
  enrollTotp,
  internalToken,
  loginAs,
  ownerSql,
  reasonOf,
  refusedWith,
} from "./mfa-support.ts";
import { CLIENT, collectEvents, type Identity, Role, startIdentity } from "./support.ts";

const DAY = 24 * 60 * 60 * 1000;
const KEY = { displayName: "ci", role: Role.MEMBER, scopes: ["project.read"] };

describe("identity MFA: tenant policy and step-up", () => {
  let id: Identity;

  beforeAll(async () => {
    id = await startIdentity("mfapolicy");
  }, 60_000);
  afterAll(async () => id?.stop());

  const setPolicy = (token: string, mode: MfaPolicyMode, gracePeriodDays: number, tenantId = "") =>
    id.client(MfaService, token).setMfaPolicy({ mode, gracePeriodDays, tenantId });

  it("lets owners and admins (and platform admins) set the policy, not members; audits the change", async () => {
    const tenant = await id.seedTenant();
    const other = await id.seedTenant();
    const events = collectEvents(id.nats, `tessera.evt.${tenant.tenantId}.mfa_policy.>`);
    const member = await id.addMember(tenant, Role.MEMBER);
    await refusedWith(setPolicy(member.token, MfaPolicyMode.EVERYONE, 7), Code.PermissionDenied);
    await refusedWith(setPolicy(tenant.owner.token, MfaPolicyMode.EVERYONE, 7, other.tenantId), Code.PermissionDenied);
    await refusedWith(setPolicy(tenant.owner.token, MfaPolicyMode.UNSPECIFIED, 7), Code.InvalidArgument);
    await refusedWith(setPolicy(tenant.owner.token, MfaPolicyMode.EVERYONE, 91), Code.InvalidArgument);
    await refusedWith(setPolicy(tenant.owner.token, MfaPolicyMode.EVERYONE, -1), Code.InvalidArgument);

    const { policy } = await setPolicy(tenant.owner.token, MfaPolicyMode.EVERYONE, 7);
    expect(policy).toMatchObject({ tenantId: tenant.tenantId, mode: MfaPolicyMode.EVERYONE, gracePeriodDays: 7 });
    expect(policy?.updatedBy).toBe(tenant.owner.userId);
    await refusedWith(id.client(MfaService, member.token).getMfaPolicy({}), Code.PermissionDenied);

    const platform = await id.tokenFor(id.admin.email, id.admin.password);
    await refusedWith(setPolicy(platform, MfaPolicyMode.ADMINS, 0), Code.InvalidArgument);
    await setPolicy(platform, MfaPolicyMode.ADMINS, 3, other.tenantId);
    const { policy: otherPolicy } = await id.client(MfaService, other.owner.token).getMfaPolicy({});
    expect(otherPolicy).toMatchObject({ mode: MfaPolicyMode.ADMINS, gracePeriodDays: 3 });
    await events.waitFor((s) => s.some((x) => x.endsWith("mfa_policy.changed")));
    events.stop();
  });

  it("after the grace period, a required user must enrol at login; the enrolment challenge permits nothing else", async () => {
    const tenant = await id.seedTenant();
    const member = await id.addMember(tenant, Role.MEMBER);
    await setPolicy(tenant.owner.token, MfaPolicyMode.ADMINS, 0);

    // members are not required by "admins"
    const plain = await loginAs(id, member.email, member.password);
    expect(plain.tokens?.accessToken).toBeTruthy();
    expect(plain.mustEnrollBy).toBeUndefined();

    const res = await loginAs(id, tenant.owner.email, tenant.owner.password);
    expect(res.tokens).toBeUndefined();
    expect(res.mfaChallenge?.kind).toBe(MfaChallengeKind.ENROLL);
    expect(res.mfaChallenge?.factors).toEqual([FactorType.TOTP]);
    const challengeToken = res.mfaChallenge?.challengeToken ?? "";
    const auth = await id.auth();
    await refusedWith(
      auth.verifyMfa({ challengeToken, code: { case: "recoveryCode", value: "aaaa-bbbb-cccc-dddd" }, client: CLIENT }),
      Code.FailedPrecondition,
    );

    await awayFromStepEdge();
    const { enrollment } = await auth.startMfaEnrollment({ challengeToken, displayName: "" });
    expect(enrollment?.factor?.displayName).toBe("Authenticator app");
    const secret = registerSecret(enrollment?.secret ?? "");
    const factorId = enrollment?.factor?.id ?? "";
    await refusedWith(
      auth.completeMfaEnrollment({ challengeToken, factorId, code: "000000", client: CLIENT }),
      Code.Unauthenticated,
    );
    const done = await auth.completeMfaEnrollment({ challengeToken, factorId, code: codeFor(secret), client: CLIENT });
    for (const c of done.recoveryCodes) registerSecret(c);
    expect(done.recoveryCodes).toHaveLength(10);
    expect(await claimsOf(id, done.tokens?.accessToken ?? "")).toMatchObject({
      amr: ["pwd", "otp"],
      acr: "urn:tessera:acr:mfa",
      tid: tenant.tenantId,
    });
    // spent; and the next login asks for the code
    await refusedWith(auth.startMfaEnrollment({ challengeToken, displayName: "" }), Code.Unauthenticated);
    const next = await loginAs(id, tenant.owner.email, tenant.owner.password);
    expect(next.mfaChallenge?.kind).toBe(MfaChallengeKind.VERIFY);
    // a VERIFY challenge (password only) may not enrol another factor
    await refusedWith(
      auth.startMfaEnrollment({ challengeToken: next.mfaChallenge?.challengeToken ?? "", displayName: "" }),
      Code.FailedPrecondition,
    );
    // the last factor cannot be removed while the policy requires one
    const fresh = await internalToken(id, done.tokens);
    await refusedWith(id.client(MfaService, fresh).removeFactor({ factorId }), Code.FailedPrecondition);
  });

  it("during the grace period login succeeds with a must_enroll_by hint", async () => {
    const tenant = await id.seedTenant();
    const member = await id.addMember(tenant, Role.VIEWER);
    const { policy } = await setPolicy(tenant.owner.token, MfaPolicyMode.EVERYONE, 7);
    const res = await loginAs(id, member.email, member.password);
    expect(res.tokens?.accessToken).toBeTruthy();
    const requiredSince = Number(policy?.requiredSince?.seconds ?? 0n) * 1000;
    expect(Number(res.mustEnrollBy?.seconds ?? 0n) * 1000).toBeGreaterThanOrEqual(requiredSince + 7 * DAY - 1000);
    expect(Number(res.mustEnrollBy?.seconds ?? 0n) * 1000).toBeLessThanOrEqual(requiredSince + 7 * DAY + 1000);
  });

  it("a member of two tenants meets the policy of the tenant they sign in to", async () => {
    const lax = await id.seedTenant();
    const strict = await id.seedTenant();
    await setPolicy(strict.owner.token, MfaPolicyMode.EVERYONE, 0);
    const person = await id.addMember(lax, Role.MEMBER);
    const invited = await id
      .client(MembershipService, strict.owner.token)
      .createInvitation({ email: person.email, role: Role.MEMBER });
    await id
      .client(MembershipService, await id.edgeToken())
      .acceptInvitation({ token: invited.token, password: person.password, displayName: "two" });

    const intoLax = await loginAs(id, person.email, person.password, lax.tenantId);
    expect(intoLax.tokens?.tenantId).toBe(lax.tenantId);
    const intoStrict = await loginAs(id, person.email, person.password, strict.tenantId);
    expect(intoStrict.tokens).toBeUndefined();
    expect(intoStrict.mfaChallenge?.kind).toBe(MfaChallengeKind.ENROLL);
  });

  it("requires a recent second factor (step-up) to create API keys and manage factors once MFA applies", async () => {
    const tenant = await id.seedTenant();
    const keys = (token: string) => id.client(ApiKeyService, token);
    // no factor, no policy: step-up does not apply
    await keys(tenant.owner.token).createApiKey(KEY);

    const { secret } = await enrollTotp(id, tenant.owner.token);
    // the same password-only token now falls short
    const refused = await refusedWith(keys(tenant.owner.token).createApiKey(KEY), Code.PermissionDenied);
    expect(reasonOf(refused)).toBe("STEP_UP_REQUIRED");
    expect(refused.rawMessage).toMatch(/second factor/);
    expect(
      reasonOf(await refusedWith(id.client(MfaService, tenant.owner.token).enrollTotp({}), Code.PermissionDenied)),
    ).toBe("STEP_UP_REQUIRED");
    expect(
      reasonOf(
        await refusedWith(id.client(MfaService, tenant.owner.token).regenerateRecoveryCodes({}), Code.PermissionDenied),
      ),
    ).toBe("STEP_UP_REQUIRED");

    const challenge = await loginAs(id, tenant.owner.email, tenant.owner.password);
    const { tokens } = await (await id.auth()).verifyMfa({
      challengeToken: challenge.mfaChallenge?.challengeToken ?? "",
      code: { case: "totpCode", value: codeFor(secret) },
      client: CLIENT,
    });
    const stepped = await internalToken(id, tokens);
    expect((await keys(stepped).createApiKey(KEY)).secret).toMatch(/^tsk_live_/);
    expect((await id.client(MfaService, stepped).regenerateRecoveryCodes({})).recoveryCodes).toHaveLength(10);

    // a refresh keeps auth_time: once it is older than the window, step-up is due again
    await ownerSql(id, "update refresh_tokens set auth_time = now() - interval '1 hour' where user_id = $1", [
      tenant.owner.userId,
    ]);
    const refreshed = await (await id.auth()).refresh({ refreshToken: tokens?.refreshToken ?? "", client: CLIENT });
    const stale = await internalToken(id, refreshed.tokens);
    expect(reasonOf(await refusedWith(keys(stale).createApiKey(KEY), Code.PermissionDenied))).toBe("STEP_UP_REQUIRED");
  });

  it("applies step-up to a user without a factor once the policy requires one past its grace period", async () => {
    const tenant = await id.seedTenant();
    const admin = await id.addMember(tenant, Role.ADMIN);
    await setPolicy(tenant.owner.token, MfaPolicyMode.ADMINS, 0);
    const refused = await refusedWith(id.client(ApiKeyService, admin.token).createApiKey(KEY), Code.PermissionDenied);
    expect(reasonOf(refused)).toBe("STEP_UP_REQUIRED");
    // the owner is under the policy too now: changing it needs a step-up (a platform admin may still)
    expect(
      reasonOf(await refusedWith(setPolicy(tenant.owner.token, MfaPolicyMode.EVERYONE, 30), Code.PermissionDenied)),
    ).toBe("STEP_UP_REQUIRED");
    const platform = await id.tokenFor(id.admin.email, id.admin.password);
    await setPolicy(platform, MfaPolicyMode.EVERYONE, 30, tenant.tenantId);
    // within a grace period step-up does not apply (the user could not step up yet)
    const other = await id.addMember(tenant, Role.ADMIN);
    expect((await id.client(ApiKeyService, other.token).createApiKey(KEY)).secret).toBeTruthy();
  });
});
