import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createServiceTokenSource } from "@tessera/platform/auth";
import { TenantService, TenantStatus, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../src/infra/index.ts";
import { cleanEnv, startCli } from "./cli-process.ts";

/** Away from the dev ports (and from up-platform.test.ts, which may run at the same time). */
// above Linux's ephemeral range (32768–60999), where other test files' processes bind random ports
const OFFSET = 12_500;
const port = (dev: number) => dev + OFFSET;

/** Whether something accepts TCP connections at the URL's port on 127.0.0.1. */
const listening = (url: string) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(Number(new URL(url).port), "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });

describe("tessera up --demo-tier", () => {
  const home = mkdtempSync(join(tmpdir(), "tessera-up-demo-tier-"));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it.each([
    [["--demo-tier", "dedicated"], 'unknown demo tier "dedicated": --demo-tier takes pool, bridge, silo'],
    [["--demo-tier=gold"], 'unknown demo tier "gold": --demo-tier takes pool, bridge, silo'],
    [["--demo-tier"], "--demo-tier needs a tier: pool, bridge, silo"],
    [["--demo-tier", "--check"], "--demo-tier needs a tier: pool, bridge, silo"],
    [["--demo-tier", "pool", "--demo-tier=bridge"], "--demo-tier is given more than once"],
  ])("refuses up %j with exit code 2, saying why, before starting anything", async (args, message) => {
    const up = startCli(["up", ...args], cleanEnv({ TESSERA_HOME: home }));
    expect(await up.exited(30_000), up.output()).toBe(2);
    expect(up.output()).toContain(`tessera up: ${message}`);
    expect(up.output()).toContain("usage: ./tessera");
    expect(up.output()).not.toContain("starting PostgreSQL");
  });

  it("moves the demo tenant to bridge with MoveTenant: it says so, tenancy places it in its own database, its owner signs in and writes there", async () => {
    const env = cleanEnv({
      TESSERA_HOME: home,
      TESSERA_PG_PORT: String(await freePort()),
      TESSERA_NATS_PORT: String(await freePort()),
      TESSERA_PORT_OFFSET: String(OFFSET),
      LOG_LEVEL: "warn",
    });
    const tenancyUrl = `http://127.0.0.1:${port(50061)}`;
    const identityUrl = `http://127.0.0.1:${port(50062)}`;
    const graphqlUrl = `http://127.0.0.1:${port(4000)}/graphql`;
    const up = startCli(["up", "--demo-tier", "bridge"], env);
    try {
      await up.waitFor("Tessera is up", 180_000);
      const out = up.output();
      expect(out).not.toMatch(/\s(unhealthy|exited)\s/);
      expect(out).toContain("moving the demo tenant from pool to bridge (MoveTenant)…");
      expect(out).toMatch(/moved the demo tenant to bridge in [\d.]+ (ms|s)/);
      const printed = out.match(
        /Demo tenant "demo" \(([0-9a-f-]{36})\), tier bridge \(database (main\/t_[0-9a-f]{32})\)/,
      );
      expect(printed, out).not.toBeNull();
      const [, tenantId, database] = printed as RegExpMatchArray;
      expect(database).toBe(`main/t_${tenantId?.replaceAll("-", "")}`);

      const secrets = JSON.parse(readFileSync(join(home, "secrets.json"), "utf8")) as {
        clients: Record<string, string>;
        demoOwner: { email: string; password: string };
      };
      const tokens = createServiceTokenSource({
        identityUrl,
        clientId: "tessera-up",
        clientSecret: secrets.clients["tessera-up"] as string,
      });
      try {
        // tenancy: the demo tenant is active in the bridge tier, its data in a database of its own
        const tenancy = createClient(TenantService, createGrpcTransport({ baseUrl: tenancyUrl }));
        const { tenant } = await tenancy.resolveTenant(
          { key: { case: "slug", value: "demo" } },
          { headers: { authorization: `Bearer ${await tokens.getToken("tenancy")}` }, timeoutMs: 5_000 },
        );
        expect(tenant?.id).toBe(tenantId);
        expect(tenant?.tier).toBe(Tier.BRIDGE);
        expect(tenant?.status).toBe(TenantStatus.ACTIVE);
        expect(tenant?.placement?.database).toBe(database);
      } finally {
        tokens.close();
      }

      // the owner signs in through the GraphQL gateway with the printed email and the stored password
      const gql = async (query: string, variables: Record<string, unknown>, token?: string) => {
        const res = await fetch(graphqlUrl, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(token && { authorization: `Bearer ${token}` }),
          },
          body: JSON.stringify({ query, variables }),
          signal: AbortSignal.timeout(10_000),
        });
        const text = await res.text();
        expect(res.status, text).toBe(200);
        return JSON.parse(text) as { data: Record<string, Record<string, unknown>>; errors?: unknown };
      };
      const login = await gql(
        `mutation($input: LoginInput!) { login(input: $input) {
           __typename ... on LoginSuccess { tokens { accessToken tenantId } } ... on Error { code message } } }`,
        { input: { email: secrets.demoOwner.email, password: secrets.demoOwner.password } },
      );
      expect(login.data.login?.__typename, JSON.stringify(login)).toBe("LoginSuccess");
      const session = login.data.login?.tokens as { accessToken: string; tenantId: string };
      expect(session.tenantId).toBe(Buffer.from(`Tenant:${tenantId}`).toString("base64"));

      // what the owner writes lands in the bridge database, and nothing of the tenant in the pool's
      const created = await gql(
        `mutation($input: CreateProjectInput!) { createProject(input: $input) {
           __typename ... on CreateProjectSuccess { project { id name } } ... on Error { code message } } }`,
        { input: { name: "Bridge demo", key: "BRIDGE" } },
        session.accessToken,
      );
      expect(created.data.createProject?.__typename, JSON.stringify(created)).toBe("CreateProjectSuccess");
      const listed = await gql("{ projects(first: 10) { edges { node { name } } } }", {}, session.accessToken);
      expect(JSON.stringify(listed.data.projects)).toContain("Bridge demo");

      const runtime = JSON.parse(readFileSync(join(home, "runtime.json"), "utf8")) as { databaseUrl: string };
      const count = async (db: string) => {
        const url = new URL(runtime.databaseUrl);
        url.pathname = `/${db}`;
        const client = new pg.Client({ connectionString: url.toString() });
        await client.connect();
        try {
          const { rows } = await client.query<{ n: string }>(
            "select count(*)::text as n from projects where tenant_id = $1",
            [tenantId],
          );
          return Number(rows[0]?.n);
        } finally {
          await client.end();
        }
      };
      expect(await count(`tessera_projects_t_${tenantId?.replaceAll("-", "")}`)).toBe(1);
      expect(await count("tessera_projects")).toBe(0);
    } finally {
      up.child.kill("SIGINT");
      const code = await up.exited(60_000);
      expect(code, `tessera up output:\n${up.output()}`).toBe(0);
    }
  }, 300_000);

  it("moves the same demo tenant on to silo on the next up: no data copied, its own projects process serves it through the gateway", async () => {
    const env = cleanEnv({
      TESSERA_HOME: home,
      TESSERA_PG_PORT: String(await freePort()),
      TESSERA_NATS_PORT: String(await freePort()),
      TESSERA_PORT_OFFSET: String(OFFSET),
      LOG_LEVEL: "warn",
    });
    const graphqlUrl = `http://127.0.0.1:${port(4000)}/graphql`;
    const up = startCli(["up", "--demo-tier", "silo"], env);
    let endpoint = "";
    try {
      await up.waitFor("Tessera is up", 180_000);
      const out = up.output();
      expect(out).toContain("moving the demo tenant from bridge to silo (MoveTenant)…");
      const printed = out.match(
        /Demo tenant "demo" \(([0-9a-f-]{36})\), tier silo \(database (main\/t_[0-9a-f]{32}), its own projects at (http:\/\/127\.0\.0\.1:\d+)\)/,
      );
      expect(printed, out).not.toBeNull();
      const [, tenantId, database, url] = printed as RegExpMatchArray;
      endpoint = url as string;
      // bridge → silo on one server keeps the database: what the owner wrote before is still there
      expect(database).toBe(`main/t_${tenantId?.replaceAll("-", "")}`);
      expect(endpoint).not.toBe(`http://127.0.0.1:${port(50064)}`);
      const secrets = JSON.parse(readFileSync(join(home, "secrets.json"), "utf8")) as {
        demoOwner: { email: string; password: string };
      };
      const gql = async (query: string, variables: Record<string, unknown>, token?: string) => {
        const res = await fetch(graphqlUrl, {
          method: "POST",
          headers: { "content-type": "application/json", ...(token && { authorization: `Bearer ${token}` }) },
          body: JSON.stringify({ query, variables }),
          signal: AbortSignal.timeout(10_000),
        });
        return JSON.parse(await res.text()) as { data: Record<string, Record<string, unknown>> };
      };
      const login = await gql(
        `mutation($input: LoginInput!) { login(input: $input) { ... on LoginSuccess { tokens { accessToken } } } }`,
        { input: { email: secrets.demoOwner.email, password: secrets.demoOwner.password } },
      );
      const token = (login.data.login?.tokens as { accessToken: string } | undefined)?.accessToken;
      expect(token, JSON.stringify(login)).toBeTruthy();
      const listed = await gql("{ projects(first: 10) { edges { node { name } } } }", {}, token);
      expect(JSON.stringify(listed.data.projects)).toContain("Bridge demo");
      // the tenant's own process listens on the printed endpoint
      expect(await listening(endpoint)).toBe(true);
    } finally {
      up.child.kill("SIGINT");
      const code = await up.exited(60_000);
      expect(code, `tessera up output:\n${up.output()}`).toBe(0);
    }
    // and it stops with up
    expect(await listening(endpoint)).toBe(false);
  }, 300_000);
});
