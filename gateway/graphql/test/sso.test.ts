/**
 * Single sign-on through the real gateway: identity and tenancy as processes (home-realm discovery
 * by the tenant's verified domain in tenancy, with identity's own service token), a real OpenID
 * provider (oidc-provider) on loopback, `setSsoConnection` and `redeemSsoLogin` over GraphQL.
 */
import { createServer } from "node:net";
import { createServiceTokenSource } from "@tessera/platform/auth";
import { closeServiceClient, createServiceClient } from "@tessera/platform/rpc-client";
import { TenantService } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { startPlatform, type TestPlatform, type UserSeed } from "@tessera/test/harness";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Browser, startOidcProvider, type TestIdp, throughIdp } from "../../../services/identity/test/sso-idp.ts";
import { dataOf, type RunningGateway, startGateway } from "./support.ts";

const FRONTEND = "http://frontend.test/sso/complete";

const SET = `mutation Set($input: SetSsoConnectionInput!) {
  setSsoConnection(input: $input) {
    __typename
    ... on SetSsoConnectionSuccess { ssoConnection { issuer clientId clientSecretSet clientSecretLast4 enabled defaultRole redirectUri roleMappings { value role } } }
    ... on Error { code message }
  }
}`;
const REDEEM = `mutation Redeem($code: String!) {
  redeemSsoLogin(code: $code) {
    __typename
    ... on RedeemSsoLoginSuccess { tokens { accessToken refreshToken } }
    ... on Error { code message }
  }
}`;
const READ = `{ viewer { tenant { ssoConnection { issuer clientSecretSet clientSecretLast4 } } } }`;

type Result = { __typename: string; code?: string; [k: string]: unknown };

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe("GraphQL gateway: single sign-on (OIDC)", () => {
  let platform: TestPlatform;
  let gw: RunningGateway;
  let idp: TestIdp;
  let owner: UserSeed;
  let tenantId: string;
  let domain: string;
  let identityHttp: string;

  beforeAll(async () => {
    const [tenancyPort, httpPort] = [await freePort(), await freePort()];
    identityHttp = `http://127.0.0.1:${httpPort}`;
    idp = await startOidcProvider(`${identityHttp}/sso/callback`);
    platform = await startPlatform({
      services: ["tenancy"],
      env: {
        identity: {
          HTTP_PORT: String(httpPort),
          TENANCY_URL: `http://127.0.0.1:${tenancyPort}`,
          IDENTITY_SSO_PUBLIC_URL: identityHttp,
          IDENTITY_SSO_FRONTEND_URL: FRONTEND,
        },
        tenancy: { PORT: String(tenancyPort) },
      },
    });
    gw = await startGateway(platform, { PROJECTS_URL: "http://127.0.0.1:9", AUDIT_URL: "http://127.0.0.1:9" });
    const tenant = await platform.seed.tenant();
    tenantId = tenant.id;
    owner = await tenant.user("owner");
    domain = `${tenant.slug}.sso.test`;
    const operator = platform.clients.operator;
    if (!operator) throw new Error("no operator credential");
    const tokens = createServiceTokenSource({
      identityUrl: platform.identity.url,
      clientId: operator.id,
      clientSecret: operator.secret,
    });
    const tenancyUrl = platform.services.tenancy?.url ?? "";
    const tenancy = createServiceClient(TenantService, { baseUrl: tenancyUrl });
    await tenancy.updateTenant(
      { tenantId, updateMask: { paths: ["verified_domains"] }, verifiedDomains: [domain] },
      { headers: { authorization: `Bearer ${await tokens.getToken("tenancy")}` } },
    );
    tokens.close();
    closeServiceClient(tenancy);
  }, 180_000);

  afterAll(async () => {
    await gw?.stop();
    await platform?.stop();
    await idp?.stop();
  });

  it("an owner connects the IdP; a new user signs in by email, is created just in time, and redeems the code once", async () => {
    const ownerToken = await owner.accessToken();
    const set = dataOf<{ setSsoConnection: Result }>(
      await gw.gql(
        SET,
        {
          input: {
            issuer: idp.issuer,
            clientId: idp.clients.main.clientId,
            clientSecret: idp.clients.main.clientSecret,
            scopes: ["openid", "email", "profile", "groups"],
            enabled: true,
            defaultRole: "VIEWER",
            roleMappings: [{ value: "builders", role: "MEMBER" }],
          },
        },
        ownerToken,
      ),
    ).setSsoConnection;
    expect(set.__typename, JSON.stringify(set)).toBe("SetSsoConnectionSuccess");
    expect(set.ssoConnection).toMatchObject({
      clientSecretSet: true,
      clientSecretLast4: idp.clients.main.clientSecret.slice(-4),
      redirectUri: `${identityHttp}/sso/callback`,
    });
    expect(JSON.stringify(set)).not.toContain(idp.clients.main.clientSecret);
    const read = dataOf<{ viewer: { tenant: { ssoConnection: { issuer: string } } } }>(
      await gw.gql(READ, {}, ownerToken),
    );
    expect(read.viewer.tenant.ssoConnection.issuer).toBe(idp.issuer);

    const email = `grace@${domain}`;
    idp.accounts.set("grace", { email, name: "Grace Hopper", groups: ["builders"] });
    const browser = new Browser();
    const { callbackUrl } = await throughIdp(
      browser,
      `${identityHttp}/sso/start?email=${email}`,
      `${identityHttp}/sso/callback`,
      "grace",
    );
    const landed = await browser.get(callbackUrl);
    expect(landed.status).toBe(303);
    const target = new URL(landed.location);
    expect(`${target.origin}${target.pathname}`).toBe(FRONTEND);
    const code = target.searchParams.get("code") ?? "";
    expect(code, target.searchParams.get("error_description") ?? "").toMatch(/^tso_/);

    const redeemed = dataOf<{ redeemSsoLogin: Result }>(await gw.gql(REDEEM, { code })).redeemSsoLogin;
    expect(redeemed.__typename).toBe("RedeemSsoLoginSuccess");
    const tokens = redeemed.tokens as { accessToken: string };
    expect(decodeJwt(tokens.accessToken)).toMatchObject({ tid: tenantId, roles: ["member"], amr: ["fed"] });
    const again = dataOf<{ redeemSsoLogin: Result }>(await gw.gql(REDEEM, { code })).redeemSsoLogin;
    expect(again.__typename).not.toBe("RedeemSsoLoginSuccess");
    expect(again.code).toBe("UNAUTHENTICATED");
    const malformed = dataOf<{ redeemSsoLogin: Result }>(await gw.gql(REDEEM, { code: "nope" })).redeemSsoLogin;
    expect(malformed.__typename).toBe("ValidationError");
    // the new member works like any other: their session reads the viewer
    const viewer = dataOf<{ viewer: { user: { email: string } } }>(
      await gw.gql("{ viewer { user { email } } }", {}, tokens.accessToken),
    );
    expect(viewer.viewer.user.email).toBe(email);
  });

  it("an address of a domain no tenant verified is not sent to any IdP", async () => {
    const browser = new Browser();
    const started = await browser.get(`${identityHttp}/sso/start?email=someone@unverified.sso.test`);
    expect(started.status).toBe(303);
    expect(new URL(started.location).searchParams.get("error")).toBe("sso_not_configured");
  });

  it("a member cannot change the connection", async () => {
    const tenant = await platform.seed.tenant();
    const member = await tenant.user("member");
    const res = dataOf<{ setSsoConnection: Result }>(
      await gw.gql(
        SET,
        { input: { issuer: idp.issuer, clientId: "x", clientSecret: "y", enabled: false } },
        await member.accessToken(),
      ),
    ).setSsoConnection;
    expect(res.code).toBe("FORBIDDEN");
  });
});
