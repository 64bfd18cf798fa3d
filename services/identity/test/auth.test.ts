import { Code } from "@connectrpc/connect";
import { createLocalVerifier } from "@tessera/platform/auth";
import { decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AuthService,
  CLIENT,
  codeOf,
  collectEvents,
  EDGE_ID,
  errorOf,
  type Identity,
  MembershipService,
  newPassword,
  Role,
  type SeededTenant,
  startIdentity,
  TokenType,
  UserService,
  uniqueEmail,
  violatedFields,
} from "./support.ts";

describe("identity AuthService", () => {
  let id: Identity;
  let tenant: SeededTenant;

  beforeAll(async () => {
    id = await startIdentity("auth", {
      IDENTITY_LOCKOUT_THRESHOLD: "3",
      IDENTITY_IP_MAX_FAILURES_PER_MINUTE: "8",
    });
    tenant = await id.seedTenant();
  }, 60_000);
  afterAll(async () => id?.stop());

  const login = async (email: string, password: string, ip = CLIENT.ip, tenantId?: string) =>
    (await id.auth()).login({
      email,
      password,
      client: { ip, userAgent: "vitest" },
      ...(tenantId && { tenant: { case: "tenantId" as const, value: tenantId } }),
    });

  it("logs a member in: an access token for the edges with sub, tid and role, and a refresh token", async () => {
    const { tokens } = await login(tenant.owner.email, tenant.owner.password);
    expect(tokens?.tenantId).toBe(tenant.tenantId);
    const verifier = createLocalVerifier({
      keys: id.built.deps.keys.getKey,
      issuer: id.built.deps.settings.issuer,
      audience: "tessera-edge",
    });
    const verified = await verifier.verify(tokens?.accessToken ?? "");
    expect(verified.principal).toMatchObject({ subject: tenant.owner.userId, kind: "user", roles: ["owner"] });
    expect(verified.tenantId).toBe(tenant.tenantId);
    const lifetime = verified.expiresAt.getTime() - Date.now();
    expect(lifetime).toBeGreaterThan(5 * 60_000);
    expect(lifetime).toBeLessThanOrEqual(15 * 60_000);
    expect(tokens?.refreshToken).toMatch(/^tsr_/);
  });

  it("gives unknown users and wrong passwords the same answer, and locks an account after repeated failures", async () => {
    const events = collectEvents(id.nats, `tessera.evt.${tenant.tenantId}.user.>`);
    const member = await id.addMember(tenant, Role.MEMBER);
    const unknown = await errorOf(login(uniqueEmail("nobody"), "whatever-password", "203.0.113.10"));
    const wrong = await errorOf(login(member.email, "wrong-password-1", "203.0.113.10"));
    expect(unknown.code).toBe(Code.Unauthenticated);
    expect(wrong.code).toBe(Code.Unauthenticated);
    expect(wrong.rawMessage).toBe(unknown.rawMessage);

    await codeOf(login(member.email, "wrong-password-2", "203.0.113.10"));
    await codeOf(login(member.email, "wrong-password-3", "203.0.113.10"));
    // locked now: even the right password gets the same answer
    const locked = await errorOf(login(member.email, member.password, "203.0.113.11"));
    expect(locked.code).toBe(Code.Unauthenticated);
    expect(locked.rawMessage).toBe(unknown.rawMessage);
    // the outbox relay publishes in commit order, but the lockout and the last failure may land in
    // either order: wait for both rather than for one and then count the other
    await events.waitFor(
      (s) =>
        s.some((x) => x.endsWith(".user.locked_out")) && s.filter((x) => x.endsWith(".user.login_failed")).length >= 4,
    );
    events.stop();
  });

  it("limits failed attempts per client address", async () => {
    const ip = "203.0.113.99";
    for (let i = 0; i < 9; i++) {
      expect(await codeOf(login(uniqueEmail("spray"), "not-the-password", ip))).toBe(Code.Unauthenticated);
    }
    expect(await codeOf(login(tenant.owner.email, tenant.owner.password, ip))).toBe(Code.ResourceExhausted);
    // another address is not affected
    expect((await login(tenant.owner.email, tenant.owner.password, "203.0.113.100")).tokens?.userId).toBe(
      tenant.owner.userId,
    );
  });

  it("refuses bad input with field-level violations, and calls without an edge credential", async () => {
    const err = await errorOf(
      (await id.auth()).login({ email: "not-an-email", password: "", client: { ip: "not-an-ip", userAgent: "" } }),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(violatedFields(err)).toEqual(expect.arrayContaining(["email", "password", "client.ip"]));

    const anonymous = id.client(AuthService);
    expect(await codeOf(anonymous.login({ email: "a@example.com", password: "x", client: CLIENT }))).toBe(
      Code.Unauthenticated,
    );
    // a tenant owner's token is not an edge credential
    const asOwner = id.client(AuthService, tenant.owner.token);
    expect(
      await codeOf(asOwner.login({ email: tenant.owner.email, password: tenant.owner.password, client: CLIENT })),
    ).toBe(Code.PermissionDenied);
  });

  it("asks which tenant when the user belongs to several, and signs in to the one named", async () => {
    const other = await id.seedTenant();
    const invite = await id
      .client(MembershipService, other.owner.token)
      .createInvitation({ email: tenant.owner.email, role: Role.VIEWER });
    await id
      .client(MembershipService, await id.edgeToken())
      .acceptInvitation({ token: invite.token, password: tenant.owner.password });
    const err = await errorOf(login(tenant.owner.email, tenant.owner.password));
    expect(err.code).toBe(Code.FailedPrecondition);
    const chosen = await login(tenant.owner.email, tenant.owner.password, CLIENT.ip, other.tenantId);
    expect(chosen.tokens?.tenantId).toBe(other.tenantId);
    // a tenant the user does not belong to: the same answer as a wrong password
    expect(await codeOf(login(tenant.owner.email, tenant.owner.password, CLIENT.ip, crypto.randomUUID()))).toBe(
      Code.Unauthenticated,
    );
  });

  it("rotates refresh tokens; presenting a spent one revokes the whole family", async () => {
    const member = await id.addMember(tenant, Role.VIEWER);
    const events = collectEvents(id.nats, `tessera.evt.${tenant.tenantId}.refresh_token.reuse_detected`);
    const auth = await id.auth();
    const first = (await login(member.email, member.password)).tokens?.refreshToken ?? "";
    const second = (await auth.refresh({ refreshToken: first, client: CLIENT })).tokens?.refreshToken ?? "";
    expect(second).not.toBe(first);
    const third = (await auth.refresh({ refreshToken: second, client: CLIENT })).tokens?.refreshToken ?? "";

    expect(await codeOf(auth.refresh({ refreshToken: first, client: CLIENT }))).toBe(Code.Unauthenticated);
    // the family is gone: even the newest token no longer works
    expect(await codeOf(auth.refresh({ refreshToken: third, client: CLIENT }))).toBe(Code.Unauthenticated);
    await events.waitFor((s) => s.length === 1);
    events.stop();

    // another session of the same user is untouched
    const other = (await login(member.email, member.password)).tokens?.refreshToken ?? "";
    expect((await auth.refresh({ refreshToken: other, client: CLIENT })).tokens?.userId).toBe(member.userId);
  });

  it("logout revokes the session's refresh tokens and is idempotent", async () => {
    const auth = await id.auth();
    const refreshToken = (await login(tenant.owner.email, tenant.owner.password, CLIENT.ip, tenant.tenantId)).tokens
      ?.refreshToken;
    await auth.logout({ refreshToken: refreshToken ?? "" });
    await auth.logout({ refreshToken: refreshToken ?? "" });
    await auth.logout({ refreshToken: "tsr_unknown" });
    expect(await codeOf(auth.refresh({ refreshToken: refreshToken ?? "", client: CLIENT }))).toBe(Code.Unauthenticated);
  });

  it("exchanges a user token for an internal token for one audience, acting as the edge", async () => {
    const auth = await id.auth();
    const { tokens } = await login(tenant.owner.email, tenant.owner.password, CLIENT.ip, tenant.tenantId);
    const exchanged = await auth.exchangeToken({
      subjectToken: tokens?.accessToken ?? "",
      subjectTokenType: TokenType.ACCESS_TOKEN,
      audience: "projects",
    });
    const verifier = createLocalVerifier({
      keys: id.built.deps.keys.getKey,
      issuer: id.built.deps.settings.issuer,
      audience: "projects",
    });
    const verified = await verifier.verify(exchanged.accessToken);
    expect(verified.tenantId).toBe(tenant.tenantId);
    expect(verified.principal).toMatchObject({ subject: tenant.owner.userId, kind: "user", actorChain: [EDGE_ID] });
    expect(verified.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(5 * 60_000);

    // an audience the edge's credential does not list
    const denied = await errorOf(
      auth.exchangeToken({
        subjectToken: tokens?.accessToken ?? "",
        subjectTokenType: TokenType.ACCESS_TOKEN,
        audience: "billing",
      }),
    );
    expect(denied.code).toBe(Code.PermissionDenied);
    // garbage and an internal token (wrong audience) are not user access tokens
    for (const subjectToken of ["garbage", exchanged.accessToken]) {
      expect(
        await codeOf(
          auth.exchangeToken({ subjectToken, subjectTokenType: TokenType.ACCESS_TOKEN, audience: "projects" }),
        ),
      ).toBe(Code.Unauthenticated);
    }
    const bad = await errorOf(
      auth.exchangeToken({ subjectToken: "", subjectTokenType: TokenType.UNSPECIFIED, audience: "Not Valid" }),
    );
    expect(bad.code).toBe(Code.InvalidArgument);
  });

  it("service credentials: a token for an allowed audience; wrong secret, unknown client and foreign audience refused", async () => {
    const creds = id.client((await import("@tessera/proto/tessera/identity/v1/auth_pb")).ServiceCredentialService);
    const ok = await creds.issueServiceToken({ clientId: EDGE_ID, clientSecret: id.edgeSecret, audience: "projects" });
    const verified = await createLocalVerifier({
      keys: id.built.deps.keys.getKey,
      issuer: id.built.deps.settings.issuer,
      audience: "projects",
    }).verify(ok.accessToken);
    expect(verified.principal).toMatchObject({ subject: EDGE_ID, kind: "service", roles: ["edge"] });
    expect(verified.tenantId).toBeUndefined();
    const wrong = await errorOf(
      creds.issueServiceToken({ clientId: EDGE_ID, clientSecret: "x".repeat(20), audience: "projects" }),
    );
    const unknown = await errorOf(
      creds.issueServiceToken({ clientId: "nobody", clientSecret: "x".repeat(20), audience: "projects" }),
    );
    expect([wrong.code, unknown.code]).toEqual([Code.Unauthenticated, Code.Unauthenticated]);
    expect(wrong.rawMessage).toBe(unknown.rawMessage);
    expect(
      await codeOf(creds.issueServiceToken({ clientId: EDGE_ID, clientSecret: id.edgeSecret, audience: "billing" })),
    ).toBe(Code.PermissionDenied);
    expect(await codeOf(creds.issueServiceToken({ clientId: "", clientSecret: "", audience: "" }))).toBe(
      Code.InvalidArgument,
    );
  });

  it("rotates the signing key: old tokens keep verifying, new ones carry the new key id", async () => {
    const before = await id.tokenFor(tenant.owner.email, tenant.owner.password, tenant.tenantId);
    const oldKid = decodeProtectedHeader(before).kid;
    // only platform admins rotate
    expect(await codeOf(id.client(AuthService, tenant.owner.token).rotateSigningKey({}))).toBe(Code.PermissionDenied);
    const adminToken = await id.tokenFor(id.admin.email, id.admin.password);
    const rotated = await id.client(AuthService, adminToken).rotateSigningKey({});
    expect(rotated.previousKid).toBe(oldKid);
    expect(rotated.kid).not.toBe(oldKid);

    const after = await id.tokenFor(tenant.owner.email, tenant.owner.password, tenant.tenantId);
    expect(decodeProtectedHeader(after).kid).toBe(rotated.kid);
    // both are accepted by identity itself, and both keys are in the JWKS
    for (const token of [before, after]) {
      expect((await id.client(UserService, token).getViewer({})).user?.id).toBe(tenant.owner.userId);
    }
    const jwks = (await (await fetch(id.built.jwksUrl())).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, rotated.kid]));
  });

  it("a member removed from the tenant can no longer refresh or exchange", async () => {
    const member = await id.addMember(tenant, Role.MEMBER);
    const { tokens } = await login(member.email, member.password);
    await id.client(MembershipService, tenant.owner.token).removeMember({ userId: member.userId });
    const auth = await id.auth();
    expect(await codeOf(auth.refresh({ refreshToken: tokens?.refreshToken ?? "", client: CLIENT }))).toBe(
      Code.Unauthenticated,
    );
    expect(
      await codeOf(
        auth.exchangeToken({
          subjectToken: tokens?.accessToken ?? "",
          subjectTokenType: TokenType.ACCESS_TOKEN,
          audience: "identity",
        }),
      ),
    ).toBe(Code.Unauthenticated);
  });

  it("a platform admin without memberships gets a platform-level session", async () => {
    const { tokens } = await login(id.admin.email, id.admin.password);
    expect(tokens?.tenantId).toBe("");
    const password = newPassword();
    expect(password).not.toBe(id.admin.password);
  });
});
