import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createServiceTokenSource } from "@tessera/platform/auth";
import { Health, HealthCheckResponse_ServingStatus } from "@tessera/proto/grpc/health/v1/health_pb";
import { AuthService } from "@tessera/proto/tessera/identity/v1/auth_pb";
import { TenantService, TenantStatus, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../src/infra/index.ts";
import { cleanEnv, startCli } from "./cli-process.ts";

/**
 * `./tessera up` with the repository's real services: every deployable healthy, the demo tenant
 * seeded through the public contracts, and its owner able to sign in with the printed credentials.
 * The services listen on their dev ports from package.json shifted by TESSERA_PORT_OFFSET above
 * Linux's ephemeral range (32768–60999): the other test files' processes bind random ports there,
 * and one of them once took identity's 50062.
 */
const OFFSET = 11_000;
const port = (dev: number) => dev + OFFSET;

/** Whether anything accepts connections on the port. */
const accepts = (p: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: "127.0.0.1", port: p });
    socket.setTimeout(2_000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });

describe("tessera up with the platform's services", () => {
  const home = mkdtempSync(join(tmpdir(), "tessera-up-platform-"));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it("brings every deployable up, seeds the demo tenant, its owner can sign in, SSO starts through the REST edge, and a silo tenant gets its own processes", async () => {
    const env = cleanEnv({
      TESSERA_HOME: home,
      TESSERA_PG_PORT: String(await freePort()),
      TESSERA_NATS_PORT: String(await freePort()),
      TESSERA_PORT_OFFSET: String(OFFSET),
      LOG_LEVEL: "warn",
    });
    const identityUrl = `http://127.0.0.1:${port(50062)}`;
    const tenancyUrl = `http://127.0.0.1:${port(50061)}`;
    const up = startCli(["up"], env);
    let siloPort = 0;
    try {
      await up.waitFor("Tessera is up", 120_000);
      expect(up.output()).toMatch(
        new RegExp(`identity\\s+service\\s+http://127\\.0\\.0\\.1:${port(50062)}\\s+\\d+\\s+healthy`),
      );
      expect(up.output()).toMatch(
        new RegExp(`tenancy\\s+service\\s+http://127\\.0\\.0\\.1:${port(50061)}\\s+\\d+\\s+healthy`),
      );
      expect(up.output()).not.toMatch(/\s(unhealthy|exited)\s/);
      expect(up.output()).toContain('Demo tenant "demo"');

      const secrets = JSON.parse(readFileSync(join(home, "secrets.json"), "utf8")) as {
        clients: Record<string, string>;
        demoOwner: { email: string; password: string };
      };
      // act as an edge would: up's own credential carries the edge role
      const tokens = createServiceTokenSource({
        identityUrl,
        clientId: "tessera-up",
        clientSecret: secrets.clients["tessera-up"] as string,
      });
      try {
        const edgeToken = await tokens.getToken("identity");
        const auth = createClient(AuthService, createGrpcTransport({ baseUrl: identityUrl }));
        const signIn = (tenant: { case: "tenantSlug"; value: string } | { case: undefined; value?: undefined }) =>
          auth.login(
            {
              email: secrets.demoOwner.email,
              password: secrets.demoOwner.password,
              tenant,
              client: { ip: "127.0.0.1", userAgent: "up-platform-test" },
            },
            { headers: { authorization: `Bearer ${edgeToken}` }, timeoutMs: 10_000 },
          );
        // the sole membership needs no tenant; by slug needs identity's tenant projection, fed by
        // tenancy's events, which may trail the seeding by a moment
        const login = await signIn({ case: undefined });
        let bySlug: Awaited<ReturnType<typeof signIn>> | undefined;
        for (let i = 0; i < 30 && !bySlug; i++) {
          bySlug = await signIn({ case: "tenantSlug", value: "demo" }).catch(async () => {
            await new Promise((r) => setTimeout(r, 500));
            return undefined;
          });
        }
        expect(bySlug?.tokens?.tenantId).toBe(login.tokens?.tenantId);
        expect(login.tokens?.tenantId).toMatch(/^[0-9a-f-]{36}$/);

        const tenancy = createClient(TenantService, createGrpcTransport({ baseUrl: tenancyUrl }));
        const resolved = await tenancy.resolveTenant(
          { key: { case: "slug", value: "demo" } },
          { headers: { authorization: `Bearer ${await tokens.getToken("tenancy")}` }, timeoutMs: 5_000 },
        );
        expect(resolved.tenant?.id).toBe(login.tokens?.tenantId);
        expect(resolved.tenant?.status).toBe(TenantStatus.ACTIVE);

        // single sign-on through the REST edge: /sso/start is forwarded to identity, which asks tenancy
        // (its TENANCY_URL, its own token) for the email's domain; no tenant has it, so the browser is
        // sent to the frontend with sso_not_configured (no directory: sso_unavailable; tenancy
        // refusing or unreachable: server_error; no forward: the edge's 404)
        const rest = `http://127.0.0.1:${port(8080)}`;
        expect(up.output()).toContain(`SSO: ${rest}/sso/start?email=`);
        const unknown = await fetch(`${rest}/sso/start?email=nobody@unknown.example`, { redirect: "manual" });
        expect(unknown.status).toBe(303);
        expect(new URL(unknown.headers.get("location") ?? "").searchParams.get("error")).toBe("sso_not_configured");
        const malformed = await fetch(`${rest}/sso/start?email=not-an-address`, { redirect: "manual" });
        expect(malformed.status).toBe(400);
        expect(malformed.headers.get("content-type")).toContain("application/problem+json");
        // identity's tenant directory listens for tenant events within its NATS permissions
        expect(up.output()).not.toContain("Violation");

        // `tenants create --tier silo`: tenancy's local compute driver starts the tenant's own projects
        const create = ["create", "--slug", "acme", "--name", "Acme", "--plan", "business", "--tier", "silo"];
        const silo = startCli(["tenants", ...create, "--wait", "--timeout", "120"], env);
        expect(await silo.exited(150_000), silo.output()).toBe(0);
        const { tenant: acme } = await tenancy.resolveTenant(
          { key: { case: "slug", value: "acme" } },
          { headers: { authorization: `Bearer ${await tokens.getToken("tenancy")}` }, timeoutMs: 5_000 },
        );
        expect(acme?.tier).toBe(Tier.SILO);
        expect(acme?.status).toBe(TenantStatus.ACTIVE);
        const endpoint = acme?.placement?.endpoints.projects ?? "";
        expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        siloPort = Number(new URL(endpoint).port);
        expect(siloPort).not.toBe(port(50064));
        const health = createClient(Health, createGrpcTransport({ baseUrl: endpoint }));
        expect((await health.check({}, { timeoutMs: 5_000 })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
        // the spec holds the services' credentials: only up's user may read it
        expect(statSync(join(home, "local-compute.json")).mode & 0o777).toBe(0o600);
        expect(existsSync(join(home, "logs", "silo-acme-projects.ndjson"))).toBe(true);
      } finally {
        tokens.close();
      }
    } finally {
      up.child.kill("SIGINT");
      const code = await up.exited(60_000);
      expect(code, `tessera up output:\n${up.output()}`).toBe(0);
    }
    // stopping up stopped tenancy, which stopped the silo tenant's process
    if (siloPort > 0) expect(await accepts(siloPort)).toBe(false);
  }, 400_000);
});
