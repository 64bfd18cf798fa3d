import { createServiceTokenSource } from "@tessera/platform/auth";
import { createServiceClient } from "@tessera/platform/rpc-client";
import { TenantDataService } from "@tessera/proto/tessera/tenantdata/v1/tenant_data_pb";
import type { ApiKeySeed, TenantSeed } from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALL_SCOPES, call, problemOf, projectKey, startEdge, type TestEdge } from "./support.ts";

/**
 * While a tier move fences a tenant's writes, partners see 503 with Retry-After on writes and keep
 * reading; other tenants are untouched. The fence is set as tenancy sets it (TenantDataService with
 * tenancy's credential), without a whole move, so the window is under the test's control.
 */
describe("REST /v1 while a tenant's writes are fenced", () => {
  let edge: TestEdge;
  let fenced: TenantSeed;
  let other: TenantSeed;
  let fencedKey: ApiKeySeed;
  let otherKey: ApiKeySeed;
  let setFence: (tenantId: string, on: boolean) => Promise<void>;
  let closeTokens: () => void;

  beforeAll(async () => {
    edge = await startEdge("rest-write-fence");
    fenced = await edge.platform.seed.tenant();
    other = await edge.platform.seed.tenant();
    fencedKey = await fenced.apiKey("admin", ALL_SCOPES);
    otherKey = await other.apiKey("admin", ALL_SCOPES);
    const tenancy = edge.platform.clients.tenancy;
    if (!tenancy) throw new Error("no tenancy credential");
    const tokens = createServiceTokenSource({
      identityUrl: edge.platform.identity.url,
      clientId: tenancy.id,
      clientSecret: tenancy.secret,
    });
    closeTokens = () => tokens.close();
    const data = createServiceClient(TenantDataService, {
      baseUrl: edge.platform.services.projects?.url as string,
    });
    setFence = async (tenantId, on) => {
      await data.setWriteFence(
        { tenantId, database: "pool", fenced: on, reason: "moving to the bridge tier" },
        { headers: { authorization: `Bearer ${await tokens.getToken("projects")}` } },
      );
    };
  }, 180_000);

  afterAll(async () => {
    closeTokens?.();
    await edge?.close();
  });

  it("answers writes 503 with Retry-After, serves reads, leaves other tenants alone, and writes again after", async () => {
    const created = await call(edge.app, "POST", "/v1/projects", {
      key: fencedKey.key,
      body: { name: "Before", key: projectKey() },
    });
    expect(created.statusCode, created.body).toBe(201);
    const project = created.json();

    await setFence(fenced.id, true);
    const refused = await call(edge.app, "POST", "/v1/projects", {
      key: fencedKey.key,
      body: { name: "During", key: projectKey() },
    });
    expect(refused.statusCode).toBe(503);
    expect(refused.headers["retry-after"]).toBe("1");
    expect(problemOf(refused).type).toMatch(/unavailable$/);
    const patch = await call(edge.app, "PATCH", `/v1/projects/${project.id}`, {
      key: fencedKey.key,
      body: { name: "Renamed" },
    });
    expect(patch.statusCode).toBe(503);
    const read = await call(edge.app, "GET", `/v1/projects/${project.id}`, { key: fencedKey.key });
    expect(read.statusCode).toBe(200);
    expect(read.json().name).toBe("Before");
    const elsewhere = await call(edge.app, "POST", "/v1/projects", {
      key: otherKey.key,
      body: { name: "Unaffected", key: projectKey() },
    });
    expect(elsewhere.statusCode, elsewhere.body).toBe(201);

    await setFence(fenced.id, false);
    const after = await call(edge.app, "POST", "/v1/projects", {
      key: fencedKey.key,
      body: { name: "After", key: projectKey() },
    });
    expect(after.statusCode, after.body).toBe(201);
  });

  it("refuses TenantDataService to a partner's credential", async () => {
    const data = createServiceClient(TenantDataService, { baseUrl: edge.platform.services.projects?.url as string });
    const token = await fencedKey.internalToken("projects");
    const err = await data
      .setWriteFence(
        { tenantId: other.id, database: "pool", fenced: true, reason: "hostile" },
        { headers: { authorization: `Bearer ${token}` } },
      )
      .catch((e: unknown) => e as Error);
    expect(String(err)).toMatch(/permission_denied/);
    const elsewhere = await call(edge.app, "POST", "/v1/projects", {
      key: otherKey.key,
      body: { name: "Still writable", key: projectKey() },
    });
    expect(elsewhere.statusCode, elsewhere.body).toBe(201);
  });
});
