/**
 * /v1/sso-connection and the forwarded /sso/* browser endpoints over the real platform (identity
 * tenancy and projects as processes) with a real OpenID provider (oidc-provider) on loopback.
 */
import { randomUUID } from "node:crypto";
import { Kvm } from "@nats-io/kv";
import { createLogger } from "@tessera/platform/log";
import { captureLogs, startPlatform, type TenantSeed, type TestPlatform, type UserSeed } from "@tessera/test/harness";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startOidcProvider, type TestIdp } from "../../../services/identity/test/sso-idp.ts";
import { parseRestConfig, SERVICE } from "../src/config.ts";
import { build } from "../src/server.ts";
import { type Wired, wire } from "../src/wiring.ts";
import { EDGE_CLIENT, problemOf } from "./support.ts";

describe("REST /v1/sso-connection and /sso/*", () => {
  let platform: TestPlatform;
  let wired: Wired;
  let app: FastifyInstance;
  let bucket: string;
  let idp: TestIdp;
  let tenant: TenantSeed;
  let owner: UserSeed;
  let viewer: UserSeed;

  const as = async (user: UserSeed, method: "GET" | "PUT" | "DELETE", body?: unknown) =>
    app.inject({
      method,
      url: "/v1/sso-connection",
      headers: { authorization: `Bearer ${await user.accessToken()}` },
      ...(body !== undefined && { payload: body as Record<string, unknown> }),
    });

  beforeAll(async () => {
    idp = await startOidcProvider("http://127.0.0.1:9/sso/callback");
    platform = await startPlatform({
      // the edge authenticates every /v1 request by an exchange for projects, so projects is listed
      services: ["tenancy", "projects"],
      clients: [{ id: EDGE_CLIENT, roles: ["edge", "service"] }],
      env: { identity: { IDENTITY_SSO_FRONTEND_URL: "http://frontend.test/sso/complete" } },
    });
    bucket = `rest_idem_${randomUUID().slice(0, 8)}`;
    const env = {
      ...platform.gatewayEnv(EDGE_CLIENT),
      IDEMPOTENCY_BUCKET: bucket,
      IDENTITY_HTTP_URL: platform.jwksUrl.replace("/.well-known/jwks.json", ""),
    };
    const logger = createLogger({ service: SERVICE, destination: captureLogs("rest-sso").stream });
    wired = await wire(parseRestConfig(env), logger);
    app = await build(wired.deps);
    await app.ready();
    tenant = await platform.seed.tenant();
    owner = await tenant.user("owner");
    viewer = await tenant.user("viewer");
  }, 180_000);

  afterAll(async () => {
    await app?.close();
    if (wired) {
      await (await new Kvm(wired.nats).open(bucket)).destroy().catch(() => undefined);
      await wired.close();
    }
    await platform?.stop();
    await idp?.stop();
  });

  it("an owner puts, reads and deletes the connection; the secret never comes back", async () => {
    const none = await as(owner, "GET");
    expect(none.statusCode, none.body).toBe(404);
    const put = await as(owner, "PUT", {
      issuer: idp.issuer,
      client_id: idp.clients.main.clientId,
      client_secret: idp.clients.main.clientSecret,
      enabled: true,
      default_role: "viewer",
      role_mappings: [{ value: "admins", role: "admin" }],
    });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toMatchObject({
      issuer: idp.issuer,
      client_secret_set: true,
      client_secret_last4: idp.clients.main.clientSecret.slice(-4),
      default_role: "viewer",
      role_mappings: [{ value: "admins", role: "admin" }],
      scopes: ["openid", "email", "profile"],
    });
    expect(put.body).not.toContain(idp.clients.main.clientSecret);
    const get = await as(owner, "GET");
    expect(get.statusCode).toBe(200);
    expect(get.body).not.toContain(idp.clients.main.clientSecret);
    expect((await as(owner, "DELETE")).statusCode).toBe(204);
    expect((await as(owner, "GET")).statusCode).toBe(404);
  });

  it("refuses a viewer (403), unknown fields and an IdP whose discovery fails (400 naming issuer)", async () => {
    const body = { issuer: idp.issuer, client_id: "x", client_secret: "y", enabled: false };
    expect((await as(viewer, "PUT", body)).statusCode).toBe(403);
    const extra = await as(owner, "PUT", { ...body, client_secret_plain: "nope" });
    expect(extra.statusCode).toBe(400);
    const broken = await as(owner, "PUT", { ...body, issuer: `${idp.issuer}/nowhere` });
    expect(broken.statusCode).toBe(400);
    const problem = problemOf(broken);
    expect(problem.errors?.map((e) => e.field)).toContain("issuer");
    expect(problem.detail).toMatch(/discovery/);
  });

  it("forwards the browser endpoints to identity, problems and redirects unchanged", async () => {
    const bad = await app.inject({ method: "GET", url: "/sso/start?email=not-an-address" });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers["content-type"]).toBe("application/problem+json");
    const callback = await app.inject({ method: "GET", url: `/sso/callback?code=x&state=${"s".repeat(43)}` });
    expect(callback.statusCode).toBe(303);
    const location = new URL(String(callback.headers.location));
    expect(location.origin + location.pathname).toBe("http://frontend.test/sso/complete");
    expect(location.searchParams.get("error")).toBe("invalid_state");
    expect(String(callback.headers["set-cookie"])).toMatch(/^tessera_sso=;/);
  });
});
