import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { type RunningPostgres, startEmbeddedPostgres } from "@tessera/dev/infra";
import { provisionDatabase } from "@tessera/platform/db";
import { OperationState, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type ServiceDatabase, startPlatform, type TenantSeed, type TestPlatform } from "../../harness/index.ts";
import { adminQuery, awaitOperation, operatorTenancy, projectsAs } from "./support.ts";

/**
 * Bridge databases on a second, separate PostgreSQL server: the directory names the server, the
 * service holds credentials for it (its own roles, provisioned there by the operator), and a
 * tenant moves there and back with every row.
 */
let second: RunningPostgres;
let secondDir: string;
let platform: TestPlatform;
let tenancy: ReturnType<typeof operatorTenancy>;
let moved: TenantSeed;
let other: TenantSeed;
let movedToken: string;
let otherToken: string;
let projectsDb: ServiceDatabase;

const hex = (id: string) => id.replaceAll("-", "");

function onServer(url: string, server: RunningPostgres): string {
  const u = new URL(url);
  u.port = String(server.port);
  return u.toString();
}

async function secondQuery<T extends pg.QueryResultRow>(database: string, sql: string, params: unknown[] = []) {
  const url = new URL(second.adminUrl);
  url.pathname = `/${database}`;
  const c = new pg.Client({ connectionString: url.toString() });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  secondDir = mkdtempSync(join(tmpdir(), "tessera-pg2-"));
  second = await startEmbeddedPostgres({ dataDir: join(secondDir, "data"), persistent: false, fast: true });
  platform = await startPlatform({ services: ["tenancy", "projects"] });
  projectsDb = platform.databases.projects as ServiceDatabase;
  // the operator provisions the service's roles on the second server, as on the first
  const password = (url: string) => decodeURIComponent(new URL(url).password);
  await provisionDatabase({
    adminUrl: second.adminUrl,
    database: projectsDb.name,
    ownerRole: projectsDb.roles.owner,
    appRole: projectsDb.roles.app,
    passwords: { owner: password(projectsDb.ownerUrl), app: password(projectsDb.appUrl) },
  });
  await platform.restart("projects", {
    DATABASE_SERVERS: JSON.stringify({
      second: { app: onServer(projectsDb.appUrl, second), owner: onServer(projectsDb.ownerUrl, second) },
    }),
  });
  await platform.restart("tenancy", {
    TENANCY_DATABASE_SERVERS: JSON.stringify({ main: inject("pgAdminUrl"), second: second.adminUrl }),
  });
  tenancy = operatorTenancy(platform);
  moved = await platform.seed.tenant({ plan: "enterprise" });
  other = await platform.seed.tenant({ plan: "enterprise" });
  movedToken = await (await moved.user("owner")).internalToken("projects");
  otherToken = await (await other.user("owner")).internalToken("projects");
}, 180_000);

afterAll(async () => {
  tenancy?.close();
  await platform?.stop();
  await second?.stop();
  if (secondDir) rmSync(secondDir, { recursive: true, force: true });
});

describe("bridge databases on a second PostgreSQL server", () => {
  it("moves a tenant onto the second server and back, every row with it, the other tenant untouched", async () => {
    const client = projectsAs(platform, movedToken);
    const project = (await client.projects.createProject({ name: "Far", key: "FAR" })).project;
    for (let i = 0; i < 30; i++) await client.tasks.createTask({ projectId: project?.id as string, title: `t${i}` });
    await projectsAs(platform, otherToken).projects.createProject({ name: "Near", key: "NEAR" });

    await tenancy.client.moveTenant({
      tenantId: moved.id,
      requestId: randomUUID(),
      targetTier: Tier.BRIDGE,
      databaseServer: "second",
    });
    const there = await awaitOperation(tenancy.client, moved.id, 120_000);
    expect(there.operation?.state, there.operation?.lastError).toBe(OperationState.SUCCEEDED);
    const tenant = (await tenancy.client.getTenant({ tenantId: moved.id })).tenant;
    expect(tenant?.placement?.database).toBe(`second/t_${hex(moved.id)}`);

    const bridgeDb = `${projectsDb.name}_t_${hex(moved.id)}`;
    const [onSecond] = await secondQuery<{ n: string }>(bridgeDb, "select count(*)::text as n from tasks");
    expect(onSecond?.n).toBe("30");
    const onFirst = await adminQuery<{ datname: string }>(
      "postgres",
      "select datname from pg_database where datname = $1",
      [bridgeDb],
    );
    expect(onFirst).toEqual([]);

    // served from the second server through the same contract
    const listed = await client.tasks.listTasks({ projectId: project?.id as string, page: { pageSize: 100 } });
    expect(listed.tasks).toHaveLength(30);
    await client.tasks.createTask({ projectId: project?.id as string, title: "on the second server" });
    const err = await projectsAs(platform, otherToken)
      .projects.getProject({ projectId: project?.id as string })
      .catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.NotFound);

    await tenancy.client.moveTenant({ tenantId: moved.id, requestId: randomUUID(), targetTier: Tier.POOL });
    const back = await awaitOperation(tenancy.client, moved.id, 120_000);
    expect(back.operation?.state, back.operation?.lastError).toBe(OperationState.SUCCEEDED);
    const [inPool] = await adminQuery<{ n: string }>(
      projectsDb.name,
      "select count(*)::text as n from tasks where tenant_id = $1",
      [moved.id],
    );
    expect(inPool?.n).toBe("31");
    await expect
      .poll(
        async () =>
          (
            await secondQuery<{ datname: string }>("postgres", "select datname from pg_database where datname = $1", [
              bridgeDb,
            ])
          ).length,
        { timeout: 20_000, interval: 500 },
      )
      .toBe(0);
    const near = await projectsAs(platform, otherToken).projects.listProjects({});
    expect(near.projects.map((p) => p.key)).toEqual(["NEAR"]);
  }, 300_000);
});
