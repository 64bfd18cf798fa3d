/**
 * Passkeys end to end in a real browser: Debian's Chromium with the DevTools virtual authenticator
 * (CTAP2, resident keys, user verification) on a sign-in page served at http://localhost:<port>,
 * talking to the real GraphQL gateway (a process, CORS allowing the page) in front of the real
 * identity (a process, RP id `localhost`). A password + TOTP user adds a passkey after stepping
 * up, signs in with password + passkey, then with the passkey alone; every refusal (wrong origin,
 * wrong RP id, replayed challenge, bad signature, counter going backwards, unknown credential,
 * another user's credential) is a clear UNAUTHENTICATED, never INTERNAL.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  type RunningService,
  registerSecret,
  startMain,
  startPlatform,
  type TestPlatform,
  type UserSeed,
} from "@tessera/test/harness";
import { Secret, TOTP } from "otpauth";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  launchBrowser,
  openSignInPage,
  type PageServer,
  type SignInPage,
  servePage,
  strangerCredential,
  toBase64url,
  type VirtualCredential,
} from "./browser.ts";

const gatewayDir = new URL("../../../gateway/", import.meta.url).pathname;
const MFA = "acr=urn:tessera:acr:mfa";

type Result = { __typename: string; code?: string; message?: string; [k: string]: unknown };

describe("passkeys in a real browser (Chromium + virtual authenticator) through the GraphQL gateway", () => {
  let site: PageServer;
  let elsewhere: PageServer;
  let platform: TestPlatform;
  let gateway: RunningService;
  let browser: Browser;
  let nats: NatsConnection;
  const events: string[] = [];
  let user: UserSeed;
  let other: UserSeed;
  let totpSecret: string;
  let home: SignInPage;
  let credential: VirtualCredential;

  const gqlUrl = () => `${gateway.url}/graphql`;
  async function gql(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<Result> {
    const res = await fetch(gqlUrl(), {
      method: "POST",
      headers: { "content-type": "application/json", ...(token && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: Record<string, Result>; errors?: unknown[] };
    if (body.errors?.length) throw new Error(JSON.stringify(body.errors));
    return Object.values(body.data ?? {})[0] as Result;
  }
  const totp = (steps = 0) =>
    new TOTP({ secret: Secret.fromBase32(totpSecret) }).generate({ timestamp: Date.now() + steps * 30_000 });
  const open = (host?: string, server = site) => openSignInPage(browser, server.url(gqlUrl(), host));
  /** A copy of the user's passkey (same id and key) in another page's authenticator, optionally for another RP id. */
  const copyInto = (page: SignInPage, rpId = "localhost") => page.authenticator.add({ ...credential, rpId });
  const refusal = (status: string) => {
    expect(status).not.toMatch(/INTERNAL/);
    expect(status).toMatch(/^Error: UNAUTHENTICATED: /);
    return status;
  };
  const seen = async (suffix: string, from = 0) => {
    const deadline = Date.now() + 10_000;
    while (!events.slice(from).some((s) => s.endsWith(suffix))) {
      if (Date.now() > deadline) expect.fail(`no ${suffix} event; got ${JSON.stringify(events)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  beforeAll(async () => {
    site = await servePage();
    elsewhere = await servePage();
    const origins = [site.origin(), site.origin("app.localhost")];
    platform = await startPlatform({
      services: ["tenancy"],
      env: { identity: { IDENTITY_WEBAUTHN_RP_ID: "localhost", IDENTITY_WEBAUTHN_ORIGINS: origins.join(",") } },
    });
    gateway = await startMain(
      `${gatewayDir}graphql/src/main.ts`,
      {
        ...platform.gatewayEnv("edge"),
        PORT: "0",
        METRICS_PORT: "0",
        // the gateway serves the other origin too: only identity's check stands in its way
        GRAPHQL_CORS_ORIGINS: [...origins, elsewhere.origin()].join(","),
        PROJECTS_URL: "http://127.0.0.1:9",
        AUDIT_URL: "http://127.0.0.1:9",
      },
      { logName: "passkeys-graphql" },
    );
    nats = await connect({ servers: platform.natsUrl });
    const sub = nats.subscribe("tessera.evt.*.mfa.>");
    void (async () => {
      for await (const m of sub) events.push(m.subject);
    })();
    const tenant = await platform.seed.tenant();
    user = await tenant.user("owner");
    other = await tenant.user("member");
    browser = await launchBrowser();
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    await nats?.close();
    if (gateway) {
      gateway.child.kill("SIGTERM");
      await gateway.exited;
    }
    await platform?.stop();
    await site?.stop();
    await elsewhere?.stop();
  });

  it("a password + TOTP user adds a passkey after stepping up, then signs in with password + passkey and with the passkey alone", async () => {
    const first = await gql(
      `mutation($input: LoginInput!) { login(input: $input) { __typename ... on LoginSuccess { tokens { accessToken } } } }`,
      { input: { email: user.email, password: user.password } },
    );
    const passwordOnly = (first.tokens as { accessToken: string }).accessToken;
    const enrolled = await gql(
      `mutation { enrollTotp(input: { displayName: "phone" }) { __typename ... on EnrollTotpSuccess { enrollment { secret factor { id } } } } }`,
      {},
      passwordOnly,
    );
    const enrollment = enrolled.enrollment as { secret: string; factor: { id: string } };
    totpSecret = registerSecret(enrollment.secret);
    const confirmed = await gql(
      `mutation($input: ConfirmTotpInput!) { confirmTotp(input: $input) { __typename ... on ConfirmTotpSuccess { result { recoveryCodes } } } }`,
      { input: { factorId: enrollment.factor.id, code: totp(-1) } },
      passwordOnly,
    );
    for (const c of (confirmed.result as { recoveryCodes: string[] }).recoveryCodes) registerSecret(c);

    // the session from before the first factor is not enough to add a passkey: step up first
    const stale = await gql(
      `mutation { startPasskeyRegistration { __typename ... on Error { code message } } }`,
      {},
      passwordOnly,
    );
    expect(stale).toMatchObject({ __typename: "StepUpRequiredError", code: "STEP_UP_REQUIRED" });

    home = await open();
    expect(await home.signIn(user.email, user.password)).toBe("Second factor needed: TOTP, RECOVERY_CODE");
    await home.page.locator("#totp").fill(totp());
    expect(await home.act(() => home.page.locator("#verify-totp").click())).toBe(`Signed in: amr=pwd,otp ${MFA}`);
    await home.page.locator("#passkey-name").fill("Laptop");
    expect(await home.act(() => home.page.locator("#add-passkey").click())).toBe("Passkey added: Laptop");
    const stored = await home.authenticator.credentials();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ isResidentCredential: true, rpId: "localhost" });
    credential = stored[0] as VirtualCredential;
    await seen("mfa.passkey_registered");

    await home.act(() => home.page.locator("#sign-out").click());
    expect(await home.signIn(user.email, user.password)).toBe("Second factor needed: TOTP, WEBAUTHN, RECOVERY_CODE");
    expect(await home.act(() => home.page.locator("#verify-passkey").click())).toBe(
      `Signed in: amr=pwd,hwk,user ${MFA}`,
    );

    await home.act(() => home.page.locator("#sign-out").click());
    expect(await home.act(() => home.page.locator("#passkey-sign-in").click())).toBe(`Signed in: amr=hwk,user ${MFA}`);
    const token =
      (await home.page.evaluate(() => (window as unknown as { app: { token(): string } }).app.token())) ?? "";

    const viewer = await gql(
      "{ viewer { factors { type displayName } passkeys { id displayName credentialId lastUsedAt } } }",
      {},
      token,
    );
    const passkeys = viewer.passkeys as Array<{
      id: string;
      displayName: string;
      credentialId: string;
      lastUsedAt: string;
    }>;
    expect(viewer.factors).toEqual([
      { type: "TOTP", displayName: "phone" },
      { type: "WEBAUTHN", displayName: "Laptop" },
    ]);
    expect(passkeys).toHaveLength(1);
    expect(passkeys[0]?.credentialId).toBe(toBase64url(credential.credentialId));
    expect(passkeys[0]?.lastUsedAt).toBeTruthy();
    const renamed = await gql(
      `mutation($input: RenamePasskeyInput!) { renamePasskey(input: $input) { __typename ... on RenamePasskeySuccess { passkey { displayName } } } }`,
      { input: { passkeyId: passkeys[0]?.id, displayName: "Work laptop" } },
      token,
    );
    expect(renamed).toMatchObject({ passkey: { displayName: "Work laptop" } });
  });

  it("refuses an assertion made on an origin identity does not accept", async () => {
    const page = await open("localhost", elsewhere);
    await copyInto(page);
    const status = refusal(await page.call("passkeySignIn"));
    expect(status).toContain("origin this service does not accept");
    await page.page.close();
  });

  it("refuses an assertion for another RP id (an allowed origin whose page scoped the passkey to its own host)", async () => {
    const page = await open("app.localhost");
    await copyInto(page, "app.localhost");
    await page.page.evaluate(() => {
      (window as unknown as { knobs: { rpId: string } }).knobs.rpId = "app.localhost";
    });
    expect(refusal(await page.call("passkeySignIn"))).toContain("another relying party (RP id)");
    await page.page.close();
  });

  it("refuses a replayed assertion: its challenge was spent by the first use", async () => {
    expect(await home.call("passkeySignIn")).toBe(`Signed in: amr=hwk,user ${MFA}`);
    const sent = await home.page.evaluate(() => (window as unknown as { sent: string[] }).sent.at(-1));
    expect(refusal(await home.call("finishPasskeyLogin", sent))).toContain(
      "challenge is unknown, expired or already used",
    );
  });

  it("refuses a bad signature: a tampered assertion, and an authenticator signing garbage", async () => {
    await home.page.evaluate(() => {
      (window as unknown as { knobs: { tamper: string | null } }).knobs.tamper = "signature";
    });
    expect(refusal(await home.call("passkeySignIn"))).toContain("signature does not verify");
    await home.page.evaluate(() => {
      (window as unknown as { knobs: { tamper: string | null } }).knobs.tamper = null;
    });
    await home.authenticator.bogusSignatures(true);
    expect(refusal(await home.call("passkeySignIn"))).toContain("signature does not verify");
    await home.authenticator.bogusSignatures(false);
    expect(await home.call("passkeySignIn")).toBe(`Signed in: amr=hwk,user ${MFA}`);
  });

  it("refuses and audits a signature counter going backwards (a cloned authenticator)", async () => {
    const [now] = await home.authenticator.credentials();
    expect(now?.signCount).toBeGreaterThan(2);
    await home.authenticator.remove(credential.credentialId);
    await home.authenticator.add({ ...credential, signCount: 0 });
    const from = events.length;
    expect(refusal(await home.call("passkeySignIn"))).toContain("counter went backwards");
    await seen("mfa.passkey_assertion_failed", from);
    // the genuine authenticator, further ahead, still works
    await home.authenticator.remove(credential.credentialId);
    await home.authenticator.add({ ...credential, signCount: (now?.signCount ?? 0) + 10 });
    expect(await home.call("passkeySignIn")).toBe(`Signed in: amr=hwk,user ${MFA}`);
  });

  it("refuses a passkey nobody registered", async () => {
    const page = await open();
    await page.authenticator.add(strangerCredential());
    expect(refusal(await page.call("passkeySignIn"))).toContain("not registered");
    await page.page.close();
  });

  it("refuses another user's passkey as the second factor of this user's login", async () => {
    const page = await open();
    expect(await page.signIn(other.email, other.password)).toMatch(/^Signed in: amr=pwd /);
    // a first factor needs no step-up
    expect(await page.call("addPasskey", "Other's key")).toBe("Passkey added: Other's key");
    const [theirs] = await page.authenticator.credentials();
    await copyInto(page);
    expect(await page.signIn(user.email, user.password)).toBe("Second factor needed: TOTP, WEBAUTHN, RECOVERY_CODE");
    await page.page.evaluate(
      (id) => {
        (window as unknown as { knobs: { allowCredentials: string[] } }).knobs.allowCredentials = [id];
      },
      toBase64url(theirs?.credentialId ?? ""),
    );
    const from = events.length;
    expect(refusal(await page.act(() => page.page.locator("#verify-passkey").click()))).toContain("not registered");
    await seen("mfa.verification_failed", from);
    await page.page.close();
  });

  it("removes the passkey (step-up satisfied by the passkey sign-in); it no longer signs in", async () => {
    expect(await home.call("passkeySignIn")).toBe(`Signed in: amr=hwk,user ${MFA}`);
    const token =
      (await home.page.evaluate(() => (window as unknown as { app: { token(): string } }).app.token())) ?? "";
    const { passkeys } = (await gql("{ viewer { passkeys { id } } }", {}, token)) as unknown as {
      passkeys: Array<{ id: string }>;
    };
    const from = events.length;
    const removed = await gql(
      `mutation($id: ID!) { removePasskey(passkeyId: $id) { __typename ... on Error { code message } } }`,
      { id: passkeys[0]?.id },
      token,
    );
    expect(removed.__typename).toBe("RemovePasskeySuccess");
    await seen("mfa.factor_removed", from);
    expect(refusal(await home.call("passkeySignIn"))).toContain("not registered");
    expect(await home.signIn(user.email, user.password)).toBe("Second factor needed: TOTP, RECOVERY_CODE");
  });
});
