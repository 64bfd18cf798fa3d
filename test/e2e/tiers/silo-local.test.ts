import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ProjectService } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { OperationState, TenantStatus, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  eventually,
  type ServiceDatabase,
  startPlatform,
  type TenantSeed,
  type TestPlatform,
} from "../../harness/index.ts";
import { adminQuery, awaitActive, awaitOperation, databasesLike, moveTenantTo, operatorTenancy } from "./support.ts";

/**
 * Silo tenants through tenancy's `local` compute driver, end to end: tenancy (a real process, as
 * startPlatform runs it) provisions a silo tenant with its own projects process (started as the
 * platform's projects is, with its own port and SERVICE_TENANT_ID), publishes it as the tenant's
 * endpoint, keeps it running across its own restarts, and stops it when the tenant is deleted.
 */

let platform: TestPlatform;
let tenancy: ReturnType<typeof operatorTenancy>;

beforeAll(async () => {
  platform = await startPlatform({ services: ["projects", "tenancy"], localCompute: true });
  tenancy = operatorTenancy(platform);
}, 120_000);

afterAll(async () => {
  tenancy?.close();
  await platform?.stop();
});

const hex = (id: string) => id.replaceAll("-", "");

/** projects at `baseUrl` as the holder of `token`. */
const projectsAt = (baseUrl: string, token: string) =>
  createClient(
    ProjectService,
    createGrpcTransport({
      baseUrl,
      interceptors: [
        (next) => async (req) => {
          req.header.set("authorization", `Bearer ${token}`);
          return next(req);
        },
      ],
    }),
  );

/** The pid the driver's state file records for the tenant's projects process. */
function recordedPid(tenantId: string): number | undefined {
  const dir = platform.localCompute?.stateDir as string;
  try {
    const state = JSON.parse(readFileSync(join(dir, `${tenantId}.json`), "utf8"));
    return state.services?.projects?.pid;
  } catch {
    return undefined;
  }
}

/** Whether anything accepts connections on the port. */
const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
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

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("silo tenants through tenancy's local compute driver", () => {
  let tenant: TenantSeed;
  let endpoint = "";
  let ownerToken = "";
  let projectId = "";

  it("provisions a silo tenant with a projects process of its own and publishes it as the tenant's endpoint", async () => {
    const t0 = Date.now();
    tenant = await platform.seed.tenant({ tier: "silo", plan: "business" });
    const active = await awaitActive(tenancy.client, tenant.id, 120_000);
    console.log(`silo tenant active ${((Date.now() - t0) / 1000).toFixed(1)} s after CreateTenant`);
    expect(active.placement?.database).toBe(`main/t_${hex(tenant.id)}`);
    expect(active.placement?.namespace).toBe(`local/${tenant.slug}`);
    expect(active.placement?.computeVersion).toBe("test-1");
    endpoint = active.placement?.endpoints.projects ?? "";
    expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(endpoint).not.toBe(platform.services.projects?.url);
    // the process behind it is the tenant's own: started for this tenant only
    const pid = recordedPid(tenant.id) as number;
    expect(alive(pid)).toBe(true);
    expect(readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")).toContain(`SERVICE_TENANT_ID=${tenant.id}`);
  }, 150_000);

  it("serves the tenant's user at that endpoint, with the data in the tenant's dedicated database", async () => {
    const owner = await tenant.user("owner");
    ownerToken = await owner.internalToken("projects");
    const projects = projectsAt(endpoint, ownerToken);
    const created = await projects.createProject({ name: "Silo launch", key: "SILO" }, { timeoutMs: 10_000 });
    projectId = created.project?.id as string;
    const listed = await projects.listProjects({}, { timeoutMs: 10_000 });
    expect(listed.projects.map((p) => p.name)).toEqual(["Silo launch"]);

    const projectsDb = platform.databases.projects as ServiceDatabase;
    const dedicated = `${projectsDb.name}_t_${hex(tenant.id)}`;
    const inDedicated = await adminQuery<{ name: string }>(
      dedicated,
      "select name from projects where tenant_id = $1",
      [tenant.id],
    );
    expect(inDedicated.map((r) => r.name)).toEqual(["Silo launch"]);
    const inPool = await adminQuery(projectsDb.name, "select 1 from projects where tenant_id = $1", [tenant.id]);
    expect(inPool).toEqual([]);
  }, 60_000);

  it("refuses a token of another tenant at the silo endpoint with PERMISSION_DENIED", async () => {
    const other = await platform.seed.tenant();
    const otherToken = await (await other.user("owner")).internalToken("projects");
    const err = await projectsAt(endpoint, otherToken)
      .listProjects({}, { timeoutMs: 10_000 })
      .catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.PermissionDenied);
    // the same token is fine where that tenant lives (the pool's projects)
    const own = await projectsAt(platform.services.projects?.url as string, otherToken).listProjects(
      {},
      { timeoutMs: 10_000 },
    );
    expect(own.projects).toEqual([]);
  }, 60_000);

  it("restarting tenancy stops the tenant's process and resumes it on the same endpoint", async () => {
    const before = recordedPid(tenant.id) as number;
    await platform.restart("tenancy");
    expect(alive(before)).toBe(false);
    const { tenant: after } = await tenancy.client.getTenant({ tenantId: tenant.id }, { timeoutMs: 10_000 });
    expect(after?.placement?.endpoints.projects).toBe(endpoint);
    const listed = await eventually(
      () => projectsAt(endpoint, ownerToken).listProjects({}, { timeoutMs: 5_000 }),
      "the silo endpoint serving again",
      60_000,
    );
    expect(listed.projects.map((p) => p.id)).toEqual([projectId]);
    expect(recordedPid(tenant.id)).not.toBe(before);
  }, 120_000);

  it("a tenancy that was killed leaves the process running: the next one adopts it instead of starting another", async () => {
    const before = recordedPid(tenant.id) as number;
    const killed = platform.services.tenancy;
    killed?.child.kill("SIGKILL");
    await killed?.exited;
    expect(alive(before)).toBe(true);
    const again = await platform.restart("tenancy");
    await eventually(
      async () => again.lines().find((l) => l.msg === "silo tenant's processes resumed"),
      "tenancy resuming the silo tenant",
      60_000,
    );
    expect(again.lines().some((l) => l.msg === "adopted a running silo process" && l.pid === before)).toBe(true);
    expect(recordedPid(tenant.id)).toBe(before);
    expect((await projectsAt(endpoint, ownerToken).listProjects({}, { timeoutMs: 5_000 })).projects).toHaveLength(1);
  }, 120_000);

  it("a process that dies is started again, on the same endpoint", async () => {
    const before = recordedPid(tenant.id) as number;
    process.kill(before, "SIGKILL");
    await eventually(
      async () => {
        const now = recordedPid(tenant.id);
        return now !== undefined && now !== before ? now : undefined;
      },
      "the process started again",
      30_000,
    );
    const listed = await eventually(
      () => projectsAt(endpoint, ownerToken).listProjects({}, { timeoutMs: 5_000 }),
      "the silo endpoint serving again",
      60_000,
    );
    expect(listed.projects).toHaveLength(1);
    const tenancyLog = platform.services.tenancy?.lines() ?? [];
    expect(tenancyLog.some((l) => String(l.msg).startsWith("a silo tenant's process exited unexpectedly"))).toBe(true);
  }, 120_000);

  it("deleting the tenant stops its process: the endpoint refuses connections, the state is gone", async () => {
    const pid = recordedPid(tenant.id) as number;
    const port = Number(new URL(endpoint).port);
    await tenancy.client.offboardTenant({ tenantId: tenant.id, reason: "contract ended" }, { timeoutMs: 10_000 });
    await tenancy.client.deleteTenant({ tenantId: tenant.id }, { timeoutMs: 10_000 });
    const res = await awaitOperation(tenancy.client, tenant.id, 120_000);
    expect(res.operation?.state, res.operation?.lastError).toBe(OperationState.SUCCEEDED);
    expect((await tenancy.client.getTenant({ tenantId: tenant.id })).tenant?.status).toBe(TenantStatus.DELETED);
    expect(alive(pid)).toBe(false);
    expect(await accepts(port)).toBe(false);
    expect(recordedPid(tenant.id)).toBeUndefined();
    const projectsDb = platform.databases.projects as ServiceDatabase;
    expect(await databasesLike(`${projectsDb.name}_t_${hex(tenant.id)}`)).toEqual([]);
  }, 150_000);
});

describe("moves into and out of silo with the local driver", () => {
  it("moves a pool tenant with data into silo and out to bridge: rows follow, its own process serves from the switch and stops after the grace", async () => {
    const tenant = await platform.seed.tenant({ plan: "business" });
    const token = await (await tenant.user("owner")).internalToken("projects");
    const pool = projectsAt(platform.services.projects?.url as string, token);
    for (const key of ["ALPHA", "BETA", "GAMMA"]) await pool.createProject({ name: `Project ${key}`, key });
    const projectsDb = platform.databases.projects as ServiceDatabase;
    const dedicated = `${projectsDb.name}_t_${hex(tenant.id)}`;

    // pool → silo: the rows are copied into the tenant's own database, its process gets an endpoint
    const silo = await moveTenantTo(tenancy.client, tenant.id, Tier.SILO);
    const endpoint = silo.placement?.endpoints.projects as string;
    expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(silo.placement?.database).toBe(`main/t_${hex(tenant.id)}`);
    const served = await projectsAt(endpoint, token).listProjects({}, { timeoutMs: 10_000 });
    expect(served.projects.map((p) => p.name).sort()).toEqual(["Project ALPHA", "Project BETA", "Project GAMMA"]);
    const names = async (database: string) =>
      (await adminQuery<{ name: string }>(database, "select name from projects where tenant_id = $1", [tenant.id]))
        .map((r) => r.name)
        .sort();
    expect(await names(dedicated)).toEqual(["Project ALPHA", "Project BETA", "Project GAMMA"]);
    // the pool keeps the source rows until the grace after the switch has passed, then drops them
    await expect.poll(() => names(projectsDb.name), { timeout: 30_000, interval: 500 }).toEqual([]);

    // silo → bridge on the same server: nothing copied, the endpoint cleared, the process stopped
    await tenancy.client.moveTenant({ tenantId: tenant.id, requestId: randomUUID(), targetTier: Tier.BRIDGE });
    const done = await awaitOperation(tenancy.client, tenant.id, 120_000);
    expect(done.operation?.state, done.operation?.lastError).toBe(OperationState.SUCCEEDED);
    expect(done.operation?.fencedMs).toBe(0n);
    expect(done.operation?.tables).toEqual([]);
    const bridge = (await tenancy.client.getTenant({ tenantId: tenant.id })).tenant;
    expect(bridge?.tier).toBe(Tier.BRIDGE);
    expect(bridge?.placement?.endpoints).toEqual({});
    expect(bridge?.placement?.database).toBe(`main/t_${hex(tenant.id)}`);
    expect(await accepts(Number(new URL(endpoint).port))).toBe(false);
    expect(recordedPid(tenant.id)).toBeUndefined();
    // the pool's projects serves it from the same database
    const again = await pool.listProjects({}, { timeoutMs: 10_000 });
    expect(again.projects.map((p) => p.name).sort()).toEqual(["Project ALPHA", "Project BETA", "Project GAMMA"]);
  }, 300_000);
});
