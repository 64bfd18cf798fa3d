import { SsoService } from "@tessera/proto/tessera/identity/v1/sso_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { derivedKey, seal } from "../src/domain/secrets.ts";
import { VERIFIER_PURPOSE } from "../src/domain/sso/start.ts";
import { type RogueIdp, type RogueMode, startOidcProvider, startRogueIdp, type TestIdp } from "./sso-idp.ts";
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
import { collectEvents, type Identity, MembershipService, type SeededTenant } from "./support.ts";

describe("SSO refuses every forged, replayed or foreign login (each audited as sso.login_failed)", () => {
  let id: Identity;
  let dir: ReturnType<typeof testDirectory>;
  let base: string;
  let callback: string;
  let idp: TestIdp;
  let rogue: RogueIdp;

  beforeAll(async () => {
    const started = await startSsoIdentity("ssoneg");
    ({ id, dir, base, callback } = started);
    idp = await startOidcProvider(callback);
    rogue = await startRogueIdp(callback);
  }, 60_000);

  afterAll(async () => {
    await rogue?.stop();
    await idp?.stop();
    await id?.stop();
  });

  /** A tenant with an enabled connection to `provider` and one IdP account at its domain. */
  async function setUp(provider: TestIdp = idp) {
    const { tenant, domain } = await ssoTenant(id, dir);
    await connect(id, tenant, provider);
    const account = `u${Math.random().toString(36).slice(2, 8)}`;
    const email = `${account}@${domain}`;
    provider.accounts.clear();
    provider.accounts.set(account, { email });
    const failures = collectEvents(id.nats, `tessera.evt.${tenant.tenantId}.sso.login_failed`);
    return { tenant, email, account, failures };
  }

  async function expectRefused(
    failures: ReturnType<typeof collectEvents>,
    browser: Browser,
    callbackUrl: string,
    error: string,
    description?: RegExp,
  ) {
    const done = await atCallback(browser, callbackUrl);
    expect(done.code).toBeNull();
    expect(done.error, done.description ?? "").toBe(error);
    if (description) expect(done.description).toMatch(description);
    await failures.waitFor((s) => s.length > 0);
    failures.stop();
  }

  async function noMembership(tenant: SeededTenant, email: string) {
    const members = await id.client(MembershipService, tenant.owner.token).listMembers({});
    expect(members.members.map((m) => m.user?.email)).not.toContain(email);
  }

  /** The latest login transaction of the tenant (to tamper with, as a broken client would). */
  async function latestTransaction(tenantId: string) {
    const [row] = await ownerSql<{ id: string }>(
      id,
      "select id from sso_login_transactions where tenant_id = $1 order by created_at desc limit 1",
      [tenantId],
    );
    return row?.id as string;
  }

  it("a callback without state, or with an unknown state (audited under the platform tenant)", async () => {
    const platform = collectEvents(id.nats, "tessera.evt.00000000-0000-0000-0000-000000000000.sso.login_failed");
    const browser = new Browser();
    const none = await atCallback(browser, `${callback}?code=abc`);
    expect(none.error).toBe("invalid_state");
    const forged = await atCallback(browser, `${callback}?code=abc&state=${"x".repeat(43)}`);
    expect(forged.error).toBe("invalid_state");
    await platform.waitFor((s) => s.length >= 2);
    platform.stop();
  });

  it("a callback in another browser than the one that started (state bound to a cookie)", async () => {
    const { tenant, email, account, failures } = await setUp();
    const { callbackUrl } = await throughIdp(new Browser(), `${base}/sso/start?email=${email}`, callback, account);
    await expectRefused(failures, new Browser(), callbackUrl, "invalid_state", /another browser/);
    await noMembership(tenant, email);
  });

  it("a replayed callback", async () => {
    const { email, account, failures } = await setUp();
    const browser = new Browser();
    const { callbackUrl } = await throughIdp(browser, `${base}/sso/start?email=${email}`, callback, account);
    const jar = browser.jar.header(callbackUrl);
    const first = await atCallback(browser, callbackUrl);
    expect(first.code).toMatch(/^tso_/);
    const res = await fetch(callbackUrl, { redirect: "manual", headers: { cookie: jar } });
    const again = new URL(res.headers.get("location") ?? "");
    expect(again.searchParams.get("error")).toBe("replayed");
    expect(again.searchParams.get("code")).toBeNull();
    await failures.waitFor((s) => s.length > 0);
    failures.stop();
  });

  it("a nonce that does not match the login's", async () => {
    const { tenant, email, account, failures } = await setUp();
    const browser = new Browser();
    const { callbackUrl } = await throughIdp(browser, `${base}/sso/start?email=${email}`, callback, account);
    await ownerSql(id, "update sso_login_transactions set nonce = 'not-the-nonce' where id = $1", [
      await latestTransaction(tenant.tenantId),
    ]);
    await expectRefused(failures, browser, callbackUrl, "invalid_id_token", /nonce/);
    await noMembership(tenant, email);
  });

  for (const [label, verifier, error] of [
    ["a wrong PKCE verifier (the IdP refuses the code)", "w".repeat(43), "idp_rejected"],
    ["a missing PKCE verifier", "", "missing_pkce"],
  ] as const) {
    it(label, async () => {
      const { tenant, email, account, failures } = await setUp();
      const browser = new Browser();
      const { callbackUrl } = await throughIdp(browser, `${base}/sso/start?email=${email}`, callback, account);
      const txId = await latestTransaction(tenant.tenantId);
      const key = derivedKey(id.built.deps.settings.keyEncryptionKey, VERIFIER_PURPOSE);
      await ownerSql(id, "update sso_login_transactions set code_verifier_sealed = $1 where id = $2", [
        seal(key, txId, Buffer.from(verifier)),
        txId,
      ]);
      await expectRefused(failures, browser, callbackUrl, error, error === "idp_rejected" ? /invalid_grant/ : /PKCE/);
      await noMembership(tenant, email);
    });
  }

  const forged: Array<[RogueMode, RegExp]> = [
    ["wrong-iss", /iss/],
    ["wrong-aud", /aud/],
    ["expired", /exp/],
    ["alg-none", /alg|JWS/],
    ["foreign-key", /signature|key/i],
  ];
  for (const [mode, why] of forged) {
    it(`an ID token with ${mode}`, async () => {
      const { tenant, email, failures } = await setUp(rogue);
      rogue.mode = mode;
      try {
        const browser = new Browser();
        const started = await browser.get(`${base}/sso/start?email=${email}`);
        const callbackUrl = await browser.follow(started.location, callback);
        await expectRefused(failures, browser, callbackUrl, "invalid_id_token", why);
        await noMembership(tenant, email);
      } finally {
        rogue.mode = "ok";
      }
    });
  }

  it("the same rogue IdP's well-formed token is accepted (the negatives above fail for their reason only)", async () => {
    const { email } = await setUp(rogue);
    const browser = new Browser();
    const started = await browser.get(`${base}/sso/start?email=${email}`);
    const done = await atCallback(browser, await browser.follow(started.location, callback));
    expect(done.error, done.description ?? "").toBeNull();
    expect(done.code).toMatch(/^tso_/);
  });

  it("tenant A's IdP asserting an address of tenant B's verified domain", async () => {
    const a = await setUp();
    const { tenant: b, domain: bDomain } = await ssoTenant(id, dir);
    const victim = `ceo@${bDomain}`;
    idp.accounts.set("mallory", { email: victim });
    const browser = new Browser();
    const { callbackUrl } = await throughIdp(browser, `${base}/sso/start?email=${a.email}`, callback, "mallory");
    await expectRefused(a.failures, browser, callbackUrl, "foreign_domain");
    await noMembership(a.tenant, victim);
    await noMembership(b, victim);
    const [user] = await ownerSql(id, "select id from users where email = $1", [victim]);
    expect(user).toBeUndefined();
  });

  it("an address the IdP has not verified", async () => {
    const { tenant, email, account, failures } = await setUp();
    idp.accounts.set(account, { email, email_verified: false });
    const browser = new Browser();
    const { callbackUrl } = await throughIdp(browser, `${base}/sso/start?email=${email}`, callback, account);
    await expectRefused(failures, browser, callbackUrl, "email_unverified");
    await noMembership(tenant, email);
  });

  it("a connection disabled while the user was at the IdP, and starting with a disabled one", async () => {
    const { tenant, email, account, failures } = await setUp();
    const browser = new Browser();
    const { callbackUrl } = await throughIdp(browser, `${base}/sso/start?email=${email}`, callback, account);
    await connect(id, tenant, idp, { clientSecret: "", enabled: false });
    await expectRefused(failures, browser, callbackUrl, "connection_disabled");
    await noMembership(tenant, email);
    const again = await new Browser().get(`${base}/sso/start?email=${email}`);
    expect(new URL(again.location).searchParams.get("error")).toBe("sso_not_configured");
    expect((await id.client(SsoService, tenant.owner.token).getSsoConnection({})).connection?.enabled).toBe(false);
  });

  it("an error answered by the IdP", async () => {
    const { email, failures } = await setUp();
    const browser = new Browser();
    const started = await browser.get(`${base}/sso/start?email=${email}`);
    const state = new URL(started.location).searchParams.get("state");
    await expectRefused(
      failures,
      browser,
      `${callback}?error=access_denied&state=${state}`,
      "idp_error",
      /access_denied/,
    );
  });
});
