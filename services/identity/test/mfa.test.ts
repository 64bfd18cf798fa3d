import { randomBytes } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { FactorStatus, FactorType, MfaChallengeKind, MfaService } from "@tessera/proto/tessera/identity/v1/mfa_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  awayFromStepEdge,
  claimsOf,
  codeFor,
  enrollTotp,
  internalToken,
  loginAs,
  ownerSql,
  refusedWith,
} from "./mfa-support.ts";
import { CLIENT, collectEvents, type Identity, Role, type SeededTenant, startIdentity } from "./support.ts";

describe("identity MFA: TOTP, recovery codes and the login challenge", () => {
  let id: Identity;
  let tenant: SeededTenant;

  beforeAll(async () => {
    id = await startIdentity("mfa", { IDENTITY_LOCKOUT_THRESHOLD: "3" });
    tenant = await id.seedTenant();
  }, 60_000);
  afterAll(async () => id?.stop());

  const verify = async (challengeToken: string, code: { case: "totpCode" | "recoveryCode"; value: string }) =>
    (await id.auth()).verifyMfa({ challengeToken, code, client: CLIENT });

  const challengeOf = async (email: string, password: string) => {
    const res = await loginAs(id, email, password);
    expect(res.tokens).toBeUndefined();
    return res.mfaChallenge?.challengeToken ?? "";
  };

  it("enrols, confirms, then asks for the code at login; a wrong code is refused and counted, the right one signs in with amr/acr", async () => {
    const events = collectEvents(id.nats, `tessera.evt.${tenant.tenantId}.mfa.>`);
    const member = await id.addMember(tenant, Role.MEMBER);
    const mfa = id.client(MfaService, member.token);

    const { enrollment } = await mfa.enrollTotp({ displayName: "phone" });
    const uri = new URL(enrollment?.otpauthUri ?? "");
    expect(uri.protocol).toBe("otpauth:");
    expect(uri.searchParams.get("secret")).toBe(enrollment?.secret);
    expect(enrollment?.factor?.status).toBe(FactorStatus.PENDING);
    // a pending factor is not used at login yet
    expect((await loginAs(id, member.email, member.password)).tokens?.accessToken).toBeTruthy();

    const factorId = enrollment?.factor?.id ?? "";
    const wrong = await refusedWith(mfa.confirmTotp({ factorId, code: "000000" }), Code.InvalidArgument);
    expect(wrong.rawMessage).toMatch(/does not match/);
    await awayFromStepEdge();
    const confirmed = await mfa.confirmTotp({ factorId, code: codeFor(enrollment?.secret ?? "", -1) });
    expect(confirmed.factor?.status).toBe(FactorStatus.ACTIVE);
    expect(confirmed.recoveryCodes).toHaveLength(10);
    expect(new Set(confirmed.recoveryCodes).size).toBe(10);
    for (const c of confirmed.recoveryCodes) expect(c).toMatch(/^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/);

    const res = await loginAs(id, member.email, member.password);
    expect(res.tokens).toBeUndefined();
    expect(res.mfaChallenge?.kind).toBe(MfaChallengeKind.VERIFY);
    expect(res.mfaChallenge?.factors).toEqual([FactorType.TOTP, FactorType.RECOVERY_CODE]);
    expect(res.mfaChallenge?.challengeToken).toMatch(/^tsm_/);
    const challenge = res.mfaChallenge?.challengeToken ?? "";

    const bad = await refusedWith(verify(challenge, { case: "totpCode", value: "000000" }), Code.Unauthenticated);
    expect(bad.rawMessage).toBe("invalid code");
    const rows = await ownerSql<{ failed_count: number }>(
      id,
      "select failed_count from account_lockouts where user_id = $1",
      [member.userId],
    );
    expect(rows[0]?.failed_count).toBe(1);

    const { tokens } = await verify(challenge, { case: "totpCode", value: codeFor(enrollment?.secret ?? "") });
    const claims = await claimsOf(id, tokens?.accessToken ?? "");
    expect(claims.amr).toEqual(["pwd", "otp"]);
    expect(claims.acr).toBe("urn:tessera:acr:mfa");
    expect(Math.abs(Number(claims.auth_time) - Date.now() / 1000)).toBeLessThan(30);
    // the failures are forgotten once the login completes
    expect(await ownerSql(id, "select 1 from account_lockouts where user_id = $1", [member.userId])).toHaveLength(0);

    // the exchange carries amr, acr and auth_time into internal tokens; a refresh keeps them
    const internal = await claimsOf(id, await internalToken(id, tokens), "identity");
    expect(internal).toMatchObject({ amr: ["pwd", "otp"], acr: "urn:tessera:acr:mfa", auth_time: claims.auth_time });
    const refreshed = await (await id.auth()).refresh({ refreshToken: tokens?.refreshToken ?? "", client: CLIENT });
    expect(await claimsOf(id, refreshed.tokens?.accessToken ?? "")).toMatchObject({
      amr: ["pwd", "otp"],
      acr: "urn:tessera:acr:mfa",
      auth_time: claims.auth_time,
    });
    // a password-only login says so
    const plain = await loginAs(id, tenant.owner.email, tenant.owner.password);
    expect(await claimsOf(id, plain.tokens?.accessToken ?? "")).toMatchObject({
      amr: ["pwd"],
      acr: "urn:tessera:acr:pwd",
    });

    await events.waitFor((s) =>
      ["mfa.totp_enrolled", "mfa.totp_confirmed", "mfa.verification_failed"].every((t) => s.some((x) => x.endsWith(t))),
    );
    events.stop();
  });

  it("accepts a code once (a replay of its time step is refused), with one step of clock skew", async () => {
    const member = await id.addMember(tenant, Role.MEMBER);
    const { secret } = await enrollTotp(id, member.token);
    const now = codeFor(secret);
    await verify(await challengeOf(member.email, member.password), { case: "totpCode", value: now });
    await refusedWith(
      verify(await challengeOf(member.email, member.password), { case: "totpCode", value: now }),
      Code.Unauthenticated,
    );
    // two steps ahead: refused; one step ahead (a fast phone clock): accepted; two behind: refused
    // (each refusal counts towards the lockout at 3, and the success in between resets the count)
    await refusedWith(
      verify(await challengeOf(member.email, member.password), { case: "totpCode", value: codeFor(secret, 2) }),
      Code.Unauthenticated,
    );
    const { tokens } = await verify(await challengeOf(member.email, member.password), {
      case: "totpCode",
      value: codeFor(secret, 1),
    });
    expect(tokens?.accessToken).toBeTruthy();
    await refusedWith(
      verify(await challengeOf(member.email, member.password), { case: "totpCode", value: codeFor(secret, -2) }),
      Code.Unauthenticated,
    );
  });

  it("accepts each recovery code once, in any case and with or without dashes; regeneration voids the old ones", async () => {
    const member = await id.addMember(tenant, Role.MEMBER);
    const { recoveryCodes } = await enrollTotp(id, member.token);
    const [first = "", second = ""] = recoveryCodes;
    const { tokens } = await verify(await challengeOf(member.email, member.password), {
      case: "recoveryCode",
      value: first.toUpperCase().replaceAll("-", ""),
    });
    expect((await claimsOf(id, tokens?.accessToken ?? "")).amr).toEqual(["pwd", "rcv"]);
    await refusedWith(
      verify(await challengeOf(member.email, member.password), { case: "recoveryCode", value: first }),
      Code.Unauthenticated,
    );
    const fresh = await internalToken(id, tokens);
    const mfa = id.client(MfaService, fresh);
    expect((await mfa.listFactors({})).recoveryCodesRemaining).toBe(9);

    const { recoveryCodes: renewed } = await mfa.regenerateRecoveryCodes({});
    expect(renewed).toHaveLength(10);
    expect(renewed).not.toContain(second);
    await refusedWith(
      verify(await challengeOf(member.email, member.password), { case: "recoveryCode", value: second }),
      Code.Unauthenticated,
    );
    const again = await verify(await challengeOf(member.email, member.password), {
      case: "recoveryCode",
      value: renewed[0] ?? "",
    });
    expect(again.tokens?.accessToken).toBeTruthy();
  });

  it("locks the account after repeated wrong codes: then even the right code and the password are refused", async () => {
    const member = await id.addMember(tenant, Role.MEMBER);
    const { secret } = await enrollTotp(id, member.token);
    const challenge = await challengeOf(member.email, member.password);
    for (let i = 0; i < 3; i++) {
      await refusedWith(verify(challenge, { case: "totpCode", value: "111111" }), Code.Unauthenticated);
    }
    await refusedWith(verify(challenge, { case: "totpCode", value: codeFor(secret) }), Code.Unauthenticated);
    const login = await refusedWith(loginAs(id, member.email, member.password), Code.Unauthenticated);
    expect(login.rawMessage).toBe("invalid email or password");
  });

  it("spends a challenge once it answered, and refuses expired, forged and malformed ones", async () => {
    const member = await id.addMember(tenant, Role.MEMBER);
    const { secret } = await enrollTotp(id, member.token);
    const used = await challengeOf(member.email, member.password);
    await verify(used, { case: "totpCode", value: codeFor(secret) });
    const reused = await refusedWith(
      verify(used, { case: "totpCode", value: codeFor(secret, 1) }),
      Code.Unauthenticated,
    );
    expect(reused.rawMessage).toMatch(/invalid or expired MFA challenge/);

    const expired = await challengeOf(member.email, member.password);
    await ownerSql(id, "update mfa_challenges set expires_at = now() - interval '1 second' where user_id = $1", [
      member.userId,
    ]);
    await refusedWith(verify(expired, { case: "totpCode", value: codeFor(secret, 1) }), Code.Unauthenticated);

    const forged = `tsm_${randomBytes(32).toString("base64url")}`;
    await refusedWith(verify(forged, { case: "totpCode", value: "123456" }), Code.Unauthenticated);
    await refusedWith(verify(forged, { case: "recoveryCode", value: "abcd-efgh-jkmn-pqrs" }), Code.Unauthenticated);

    const live = await challengeOf(member.email, member.password);
    for (const value of ["12a456", "12345", "1234567", "12\u00003456", "１２３４５６", ""]) {
      await refusedWith(verify(live, { case: "totpCode", value }), Code.InvalidArgument);
    }
    for (const value of ["abcd-efgh", "abcd-efgh-jkmn-pqr!", "abcd\u0000efgh-jkmn-pqrs"]) {
      await refusedWith(verify(live, { case: "recoveryCode", value }), Code.InvalidArgument);
    }
    for (const token of ["", "tsm_short", `tsr_${randomBytes(32).toString("base64url")}`, `${live}\u0000`]) {
      await refusedWith(verify(token, { case: "totpCode", value: "123456" }), Code.InvalidArgument);
    }
    await refusedWith((await id.auth()).verifyMfa({ challengeToken: live, client: CLIENT }), Code.InvalidArgument);
    // the shape errors did not touch the live challenge
    const { tokens } = await verify(live, { case: "totpCode", value: codeFor(secret, 1) });
    expect(tokens?.accessToken).toBeTruthy();
  });

  it("refuses bad factor input with INVALID_ARGUMENT or NOT_FOUND, and another user's factor is not found", async () => {
    const member = await id.addMember(tenant, Role.MEMBER);
    const other = await id.addMember(tenant, Role.MEMBER);
    const mfa = id.client(MfaService, member.token);
    const { enrollment } = await id.client(MfaService, other.token).enrollTotp({});
    await refusedWith(mfa.confirmTotp({ factorId: "not-a-uuid", code: "123456" }), Code.InvalidArgument);
    await refusedWith(
      mfa.confirmTotp({ factorId: enrollment?.factor?.id ?? "", code: "12345x" }),
      Code.InvalidArgument,
    );
    await refusedWith(mfa.confirmTotp({ factorId: enrollment?.factor?.id ?? "", code: "123456" }), Code.NotFound);
    await refusedWith(mfa.removeFactor({ factorId: enrollment?.factor?.id ?? "" }), Code.NotFound);
    await refusedWith(mfa.enrollTotp({ displayName: "x".repeat(65) }), Code.InvalidArgument);
    await refusedWith(mfa.regenerateRecoveryCodes({}), Code.FailedPrecondition);
  });
});
