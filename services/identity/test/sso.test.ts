import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Code } from "@connectrpc/connect";
import { MfaChallengeKind, MfaPolicyMode, MfaService } from "@tessera/proto/tessera/identity/v1/mfa_pb";
import { SsoService } from "@tessera/proto/tessera/identity/v1/sso_pb";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startOidcProvider, type TestIdp } from "./sso-idp.ts";
import {
  atCallback,
  Browser,
  connect,
  ownerSql,
  ssoTenant,
  startSsoIdentity,
  type testDirectory,
  throughIdp,
} from "./sso-support.ts";
import {
  CLIENT,
  codeOf,
  collectEvents,
  errorOf,
  type Identity,
  MembershipService,
  Role,
  violatedFields,
} from "./support.ts";

/** JSON of a proto message (int64 fields as strings). */
const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));

describe("SSO with OpenID Connect: configuration, JIT members, MFA, SSO required", () => {
  let id: Identity;
  let dir: ReturnType<typeof testDirectory>;
  let base: string;
  let idp: TestIdp;

  beforeAll(async () => {
    const started = await startSsoIdentity("sso");
    ({ id, dir, base } = started);
    idp = await startOidcProvider(started.callback);
  }, 60_000);

  afterAll(async () => {
    await idp?.stop();
    await id?.stop();
  });

  const redeem = async (code: string) =>
    (await id.client(SsoService, await id.edgeToken())).redeemSsoLogin({ code, client: CLIENT });

  /** A full browser login as `account`; returns the frontend's one-time code. */
  async function signIn(email: string, account: string): Promise<string> {
    const browser = new Browser();
    const { callbackUrl } = await throughIdp(
      browser,
      `${base}/sso/start?email=${email}`,
      `${base}/sso/callback`,
      account,
    );
    const done = await atCallback(browser, callbackUrl);
    expect(done.error, done.description ?? "").toBeNull();
    return done.code as string;
  }

  it("stores the connection after validating discovery; the client secret is sealed and never returned", async () => {
    const { tenant } = await ssoTenant(id, dir);
    const events = collectEvents(id.nats, `tessera.evt.${tenant.tenantId}.sso_connection.*`);
    const { connection } = await connect(id, tenant, idp);
    expect(connection?.clientSecretSet).toBe(true);
    expect(connection?.clientSecretLast4).toBe(idp.clients.main.clientSecret.slice(-4));
    expect(connection?.redirectUri).toBe(`${base}/sso/callback`);
    expect(json(connection)).not.toContain(idp.clients.main.clientSecret);
    const read = await id.client(SsoService, tenant.owner.token).getSsoConnection({});
    expect(read.connection?.issuer).toBe(idp.issuer);
    expect(json(read)).not.toContain(idp.clients.main.clientSecret);
    const [row] = await ownerSql<{ sealed: Buffer }>(
      id,
      "select client_secret_sealed as sealed from sso_connections where tenant_id = $1",
      [tenant.tenantId],
      tenant.tenantId,
    );
    expect(row?.sealed.includes(Buffer.from(idp.clients.main.clientSecret))).toBe(false);
    // an empty secret keeps the stored one
    await connect(id, tenant, idp, { clientSecret: "", enabled: false });
    const tested = await id.client(SsoService, tenant.owner.token).testSsoConnection({});
    expect(tested.ok).toBe(true);
    expect(tested.tokenEndpoint).toContain(idp.issuer);
    await events.waitFor((s) => s.some((x) => x.endsWith(".created")) && s.some((x) => x.endsWith(".updated")));
    events.stop();
  });

  it("refuses an IdP whose discovery fails, with the reason on `issuer` (and a deadline)", async () => {
    const { tenant } = await ssoTenant(id, dir);
    const wrongPath = await errorOf(connect(id, tenant, { ...idp, issuer: `${idp.issuer}/elsewhere` }));
    expect(wrongPath.code).toBe(Code.InvalidArgument);
    expect(violatedFields(wrongPath)).toContain("issuer");
    expect(wrongPath.rawMessage).toMatch(/discovery of the identity provider failed/);
    const insecure = await errorOf(connect(id, tenant, { ...idp, issuer: "http://idp.example.com" }));
    expect(insecure.code).toBe(Code.InvalidArgument);
    expect(insecure.rawMessage).toMatch(/https/);
    // an IdP that accepts the connection and never answers
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    const issuer = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const started = Date.now();
    const hung = await errorOf(connect(id, tenant, { ...idp, issuer }));
    expect(hung.code).toBe(Code.InvalidArgument);
    expect(hung.rawMessage).toMatch(/no answer within 5 s/);
    expect(Date.now() - started).toBeLessThan(9_000);
    silent.closeAllConnections();
    silent.close();
  }, 20_000);

  it("lets only owners and admins of the tenant manage it; another tenant's is NOT_FOUND", async () => {
    const { tenant } = await ssoTenant(id, dir);
    const { tenant: other } = await ssoTenant(id, dir);
    const member = await id.addMember(tenant, Role.MEMBER);
    expect(await codeOf(connect(id, { ...tenant, owner: member }, idp))).toBe(Code.PermissionDenied);
    const admin = await id.addMember(tenant, Role.ADMIN);
    const asAdmin = connect(id, { ...tenant, owner: admin }, idp, {
      roleMappings: [{ value: "root", role: Role.OWNER }],
    });
    expect(await codeOf(asAdmin)).toBe(Code.PermissionDenied);
    await connect(id, { ...tenant, owner: admin }, idp);
    const foreign = id.client(SsoService, tenant.owner.token).getSsoConnection({ tenantId: other.tenantId });
    expect(await codeOf(foreign)).toBe(Code.NotFound);
    expect(await codeOf(id.client(SsoService, other.owner.token).getSsoConnection({}))).toBe(Code.NotFound);
  });

  it("signs a new user in: JIT member with the mapped role, amr fed, the code redeemable once", async () => {
    const { tenant, domain } = await ssoTenant(id, dir);
    await connect(id, tenant, idp, { roleMappings: [{ value: "eng-admins", role: Role.ADMIN }] });
    const email = `ada@${domain}`;
    idp.accounts.set("ada", { email, name: "Ada Lovelace", groups: ["eng-admins", "staff"] });
    const events = collectEvents(id.nats, `tessera.evt.${tenant.tenantId}.>`);
    const code = await signIn(email, "ada");
    expect(code).toMatch(/^tso_[A-Za-z0-9_-]{43}$/);
    const { tokens } = await redeem(code);
    const claims = decodeJwt(tokens?.accessToken ?? "");
    expect(claims).toMatchObject({ tid: tenant.tenantId, roles: ["admin"], amr: ["fed"], acr: "urn:tessera:acr:fed" });
    expect(await codeOf(redeem(code))).toBe(Code.Unauthenticated);
    const members = await id.client(MembershipService, tenant.owner.token).listMembers({});
    const ada = members.members.find((m) => m.user?.email === email);
    expect(ada?.role).toBe(Role.ADMIN);
    expect(ada?.user?.displayName).toBe("Ada Lovelace");
    // the session refreshes like any other, keeping how it signed in
    const refreshed = await (await id.auth()).refresh({ refreshToken: tokens?.refreshToken ?? "", client: CLIENT });
    expect(decodeJwt(refreshed.tokens?.accessToken ?? "").amr).toEqual(["fed"]);
    await events.waitFor(
      (s) =>
        s.some((x) => x.endsWith(".membership.created")) &&
        s.some((x) => x.endsWith(".sso.login_succeeded")) &&
        s.some((x) => x.endsWith(".user.login_succeeded")),
    );
    events.stop();
  });

  it("a user without a mapped group gets the default role; sync_roles updates an existing member's role", async () => {
    const { tenant, domain } = await ssoTenant(id, dir);
    await connect(id, tenant, idp, { roleMappings: [{ value: "leads", role: Role.ADMIN }], syncRoles: true });
    const email = `bo@${domain}`;
    idp.accounts.set("bo", { email, groups: ["staff"] });
    const first = await redeem(await signIn(email, "bo"));
    expect(decodeJwt(first.tokens?.accessToken ?? "").roles).toEqual(["viewer"]);
    idp.accounts.set("bo", { email, groups: ["staff", "leads"] });
    const second = await redeem(await signIn(email, "bo"));
    expect(decodeJwt(second.tokens?.accessToken ?? "").roles).toEqual(["admin"]);
  });

  it("the tenant's MFA policy applies after SSO unless the IdP's own second factor is trusted", async () => {
    const { tenant, domain } = await ssoTenant(id, dir);
    await connect(id, tenant, idp);
    await id.client(MfaService, tenant.owner.token).setMfaPolicy({ mode: MfaPolicyMode.EVERYONE, gracePeriodDays: 0 });
    // the owner now needs a second factor to change it (step-up); a platform admin (no factor of their own) may
    const platformAdmin = await id.tokenFor(id.admin.email, id.admin.password);
    const asPlatform = { ...tenant, owner: { ...tenant.owner, token: platformAdmin } };
    expect(await codeOf(connect(id, tenant, idp, { clientSecret: "" }))).toBe(Code.PermissionDenied);
    const email = `cy@${domain}`;
    idp.accounts.set("cy", { email });
    idp.setAmr(["pwd", "mfa"]);
    try {
      const gated = await redeem(await signIn(email, "cy"));
      expect(gated.tokens).toBeUndefined();
      expect(gated.mfaChallenge?.kind).toBe(MfaChallengeKind.ENROLL);
      await connect(id, asPlatform, idp, { clientSecret: "", trustIdpMfa: true, tenantId: tenant.tenantId });
      const trusted = await redeem(await signIn(email, "cy"));
      expect(decodeJwt(trusted.tokens?.accessToken ?? "")).toMatchObject({
        amr: ["fed", "mfa"],
        acr: "urn:tessera:acr:mfa",
      });
      idp.setAmr(["pwd"]);
      const single = await redeem(await signIn(email, "cy"));
      expect(single.mfaChallenge?.kind).toBe(MfaChallengeKind.ENROLL);
    } finally {
      idp.setAmr(["pwd"]);
    }
  });

  it("SSO required: members' password logins are refused, a break-glass owner's is allowed and audited", async () => {
    const { tenant } = await ssoTenant(id, dir);
    const member = await id.addMember(tenant, Role.ADMIN);
    const notOwner = connect(id, tenant, idp, { ssoRequired: true, breakGlassUserIds: [member.userId] });
    const refused = await errorOf(notOwner);
    expect(refused.code).toBe(Code.InvalidArgument);
    expect(violatedFields(refused)).toContain("break_glass_user_ids[0]");
    expect(await codeOf(connect(id, tenant, idp, { ssoRequired: true, enabled: false }))).toBe(Code.InvalidArgument);
    await connect(id, tenant, idp, { ssoRequired: true, breakGlassUserIds: [tenant.owner.userId] });
    const events = collectEvents(id.nats, `tessera.evt.${tenant.tenantId}.>`);
    const auth = await id.auth();
    const login = (p: { email: string; password: string }) =>
      auth.login({ ...p, client: CLIENT, tenant: { case: "tenantId", value: tenant.tenantId } });
    const blocked = await errorOf(login(member));
    expect(blocked.code).toBe(Code.FailedPrecondition);
    expect(blocked.rawMessage).toMatch(/single sign-on/);
    const owner = await login(tenant.owner);
    expect(owner.tokens?.accessToken).toBeTruthy();
    await events.waitFor(
      (s) => s.some((x) => x.endsWith(".sso.break_glass_login")) && s.some((x) => x.endsWith(".user.login_failed")),
    );
    events.stop();
    // deleting the connection lifts the requirement
    await id.client(SsoService, tenant.owner.token).deleteSsoConnection({});
    expect((await login(member)).tokens?.accessToken).toBeTruthy();
  });

  it("start refuses malformed input (400) and sends unknown domains to the frontend with an error", async () => {
    const bad = await fetch(`${base}/sso/start?email=not-an-email`, { redirect: "manual" });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toBe("application/problem+json");
    const browser = new Browser();
    const unknown = await browser.get(`${base}/sso/start?email=someone@nobody.example`);
    expect(unknown.status).toBe(303);
    expect(new URL(unknown.location).searchParams.get("error")).toBe("sso_not_configured");
    const post = await fetch(`${base}/sso/start`, { method: "POST" });
    expect(post.status).toBe(405);
  });

  it("by tenant slug, and a deleted connection stops SSO", async () => {
    const { tenant, domain } = await ssoTenant(id, dir);
    const slug = dir.add(tenant.tenantId, domain).slug;
    await connect(id, tenant, idp);
    const browser = new Browser();
    const started = await browser.get(`${base}/sso/start?tenant=${slug}`);
    expect(started.status).toBe(302);
    expect(new URL(started.location).origin).toBe(idp.issuer);
    const auth = new URL(started.location);
    expect(auth.searchParams.get("code_challenge_method")).toBe("S256");
    expect(auth.searchParams.get("nonce")).toBeTruthy();
    expect(started.res.headers.get("set-cookie")).toMatch(/HttpOnly; SameSite=Lax/);
    await id.client(SsoService, tenant.owner.token).deleteSsoConnection({});
    const after = await browser.get(`${base}/sso/start?tenant=${slug}`);
    expect(new URL(after.location).searchParams.get("error")).toBe("sso_not_configured");
  });

  it("RedeemSsoLogin is for edges only, and refuses a malformed code as INVALID_ARGUMENT", async () => {
    const { tenant } = await ssoTenant(id, dir);
    const asUser = id
      .client(SsoService, tenant.owner.token)
      .redeemSsoLogin({ code: `tso_${"a".repeat(43)}`, client: CLIENT });
    expect(await codeOf(asUser)).toBe(Code.PermissionDenied);
    expect(await codeOf(redeem("tso_short"))).toBe(Code.InvalidArgument);
    expect(await codeOf(redeem(`tso_${"b".repeat(43)}`))).toBe(Code.Unauthenticated);
  });
});
