import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { startTestIssuer, type TestIssuer } from "@tessera/platform/auth/testing";
import { Health, HealthCheckResponse_ServingStatus } from "@tessera/proto/grpc/health/v1/health_pb";
import { EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";
import {
  type RunningService,
  runMain,
  type ServiceDatabase,
  serviceDatabase,
  startMain,
  stopMain,
} from "@tessera/test/harness";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

const fixture = new URL("../../fixtures/kit-service/", import.meta.url).pathname;
const TENANT_A = "5b6c7d8e-1a2b-4c3d-8e9f-0a1b2c3d4e5f";
const TENANT_B = "9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b";

/**
 * SERVICE_TENANT_ID: a process started for one tenant (a silo tenant's own compute) serves that
 * tenant and platform calls (no tenant), and refuses every call acting for another tenant.
 */
describe("runService with SERVICE_TENANT_ID: a process bound to one tenant", () => {
  let db: ServiceDatabase;
  let issuer: TestIssuer;
  let service: RunningService;

  beforeAll(async () => {
    db = await serviceDatabase("kitbind");
    const migrate = runMain(
      `${fixture}migrate.ts`,
      { MIGRATION_DATABASE_URL: db.ownerUrl, DATABASE_APP_ROLE: db.roles.app },
      "kit-bind-migrate",
    );
    const { code } = await migrate.exited;
    expect(code, migrate.stderr() + migrate.stdout()).toBe(0);
    issuer = await startTestIssuer();
    service = await startMain(
      `${fixture}main.ts`,
      {
        PORT: "0",
        METRICS_PORT: "0",
        AUTH_JWKS_URL: issuer.jwksUrl,
        AUTH_ISSUER: issuer.issuer,
        DATABASE_URL: db.appUrl,
        OUTBOX_RELAY_DATABASE_URL: db.ownerUrl,
        NATS_URL: inject("natsUrl"),
        SERVICE_TENANT_ID: TENANT_A,
      },
      { logName: "kit-bind" },
    );
  }, 60_000);

  afterAll(async () => {
    if (service) await stopMain(service);
    await issuer?.stop();
    await db?.drop();
  });

  const echo = () => createClient(EchoService, createGrpcTransport({ baseUrl: service.url }));
  const as = (token: string) => ({ headers: { authorization: `Bearer ${token}` }, timeoutMs: 5_000 });
  const codeOf = (err: unknown) => ConnectError.from(err).code;

  it("serves its own tenant", async () => {
    const token = await issuer.mint({ aud: "kit-service", tid: TENANT_A, sub: "user-a", kind: "user" });
    const res = await echo().echo({ message: "hello from A" }, as(token));
    expect(res.tenantId).toBe(TENANT_A);
  });

  it("refuses a token of another tenant with PERMISSION_DENIED before any handler runs, and stores nothing", async () => {
    const token = await issuer.mint({ aud: "kit-service", tid: TENANT_B, sub: "user-b", kind: "user" });
    const err = await echo()
      .echo({ message: "hello from B" }, as(token))
      .catch((e: unknown) => e);
    expect(codeOf(err)).toBe(Code.PermissionDenied);
    expect(ConnectError.from(err).rawMessage).toBe(
      "this instance serves one dedicated tenant: calls for another tenant are refused",
    );
    expect(ConnectError.from(err).rawMessage).not.toContain(TENANT_A);
    // on a method that needs no tenant at all: still refused, the binding comes first
    const failErr = await echo()
      .fail({ kind: "NotFound" }, as(token))
      .catch((e: unknown) => e);
    expect(codeOf(failErr)).toBe(Code.PermissionDenied);

    // B's greeting was never stored: B has no row, A only its own
    const client = new pg.Client({ connectionString: db.appUrl });
    await client.connect();
    try {
      const messages = async (tenant: string) => {
        await client.query("begin");
        await client.query("select set_config('app.tenant_id', $1, true)", [tenant]);
        const r = await client.query<{ message: string }>("select message from greetings");
        await client.query("commit");
        return r.rows.map((row) => row.message);
      };
      expect(await messages(TENANT_B)).toEqual([]);
      expect(await messages(TENANT_A)).toEqual(["hello from A"]);
    } finally {
      await client.end();
    }
    expect(service.lines().some((l) => l.msg?.toString().startsWith("call rejected: acting for another tenant"))).toBe(
      true,
    );
  });

  it("lets calls for no tenant (service tokens) and health through as before", async () => {
    const token = await issuer.mint({ aud: "kit-service", sub: "tenancy", kind: "service", roles: ["service"] });
    const err = await echo()
      .fail({ kind: "NotFound" }, as(token))
      .catch((e: unknown) => e);
    // the fixture's own answer: the call reached the handler
    expect(codeOf(err)).toBe(Code.Unimplemented);
    const health = createClient(Health, createGrpcTransport({ baseUrl: service.url }));
    expect((await health.check({ service: "" }, { timeoutMs: 2_000 })).status).toBe(
      HealthCheckResponse_ServingStatus.SERVING,
    );
  });

  it("refuses to start with a SERVICE_TENANT_ID that is not a tenant id", async () => {
    const run = runMain(
      `${fixture}main.ts`,
      {
        PORT: "0",
        METRICS_PORT: "0",
        AUTH_JWKS_URL: issuer.jwksUrl,
        AUTH_ISSUER: issuer.issuer,
        DATABASE_URL: db.appUrl,
        OUTBOX_RELAY_DATABASE_URL: db.ownerUrl,
        NATS_URL: inject("natsUrl"),
        SERVICE_TENANT_ID: "acme",
      },
      "kit-bind-bad",
    );
    const { code } = await run.exited;
    expect(code).toBe(1);
    expect(run.stderr() + run.stdout()).toContain("SERVICE_TENANT_ID");
  });
});
