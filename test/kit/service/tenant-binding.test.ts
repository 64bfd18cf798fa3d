import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { TestIssuer } from "@tessera/platform/auth/testing";
import { Health, HealthCheckResponse_ServingStatus } from "@tessera/proto/grpc/health/v1/health_pb";
import { EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { type RunningService, runMain, type ServiceTestEnv, startMain, stopMain } from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KIT_SERVICE, kitServiceEnv } from "./kit-service.ts";

const TENANT_A = "5b6c7d8e-1a2b-4c3d-8e9f-0a1b2c3d4e5f";
const TENANT_B = "9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b";

/**
 * SERVICE_TENANT_ID: a process started for one tenant (a silo tenant's own compute) serves that
 * tenant and platform calls (no tenant), and refuses every call acting for another tenant.
 */
describe("runService with SERVICE_TENANT_ID: a process bound to one tenant", () => {
  let env: ServiceTestEnv;
  let issuer: TestIssuer;
  let service: RunningService;

  beforeAll(async () => {
    env = await kitServiceEnv("kitbind", "kit-bind");
    issuer = env.issuer;
    service = await startMain(`${KIT_SERVICE}main.ts`, env.vars({ SERVICE_TENANT_ID: TENANT_A }), {
      logName: "kit-bind",
    });
  }, 60_000);

  afterAll(async () => {
    if (service) await stopMain(service);
    await env?.close();
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
    const messages = async (tenant: string) =>
      (await env.query<{ message: string }>(env.db.appUrl, "select message from greetings", [], tenant)).map(
        (row) => row.message,
      );
    expect(await messages(TENANT_B)).toEqual([]);
    expect(await messages(TENANT_A)).toEqual(["hello from A"]);
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
    const run = runMain(`${KIT_SERVICE}main.ts`, env.vars({ SERVICE_TENANT_ID: "acme" }), "kit-bind-bad");
    const { code } = await run.exited;
    expect(code).toBe(1);
    expect(run.stderr() + run.stdout()).toContain("SERVICE_TENANT_ID");
  });
});
