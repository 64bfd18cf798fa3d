import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { connect } from "@nats-io/transport-node";
import { OperationState, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type ServiceDatabase, startPlatform, type TenantSeed, type TestPlatform } from "../../harness/index.ts";
import { adminQuery, awaitOperation, databasesLike, operatorTenancy, projectsAs } from "./support.ts";

const TASKS = 1_500;
const hex = (id: string) => id.replaceAll("-", "");

let platform: TestPlatform;
let tenancy: ReturnType<typeof operatorTenancy>;
let tenant: TenantSeed;
let token: string;
let projectsDb: ServiceDatabase;
let projectId: string;

/** The database holding the tenant's projects rows now, from the directory. */
async function homeDatabase(): Promise<string> {
  const t = (await tenancy.client.getTenant({ tenantId: tenant.id })).tenant;
  return t?.placement?.database === "pool" ? projectsDb.name : `${projectsDb.name}_t_${hex(tenant.id)}`;
}

async function taskCount(database: string): Promise<number> {
  const [row] = await adminQuery<{ n: string }>(
    database,
    "select count(*)::text as n from tasks where tenant_id = $1",
    [tenant.id],
  );
  return Number(row?.n ?? 0);
}

/** Restarts tenancy set to kill itself right after `phase` is recorded (or without the fault). */
async function tenancyWithFault(phase: string | undefined) {
  tenancy.close();
  await platform.restart("tenancy", { TENANCY_FAULT_CRASH_AFTER_STEP: phase ? `move.${phase}` : undefined });
  tenancy = operatorTenancy(platform);
}

beforeAll(async () => {
  platform = await startPlatform({
    services: ["tenancy", "projects"],
    env: {
      tenancy: {
        PROVISIONING_LEASE_MS: "3000",
        TENANCY_MOVE_BATCH_ROWS: "200",
        TENANCY_MOVE_MAX_ATTEMPTS: "2",
      },
    },
  });
  tenancy = operatorTenancy(platform);
  projectsDb = platform.databases.projects as ServiceDatabase;
  tenant = await platform.seed.tenant({ plan: "enterprise" });
  token = await (await tenant.user("owner")).internalToken("projects");
  projectId = (await projectsAs(platform, token).projects.createProject({ name: "Crash", key: "CRSH" })).project
    ?.id as string;
  await adminQuery(
    projectsDb.name,
    `insert into tasks (id, tenant_id, project_id, title, status, labels, position, created_at, updated_at)
     select gen_random_uuid(), $1, $2, 'task ' || i, 'todo', '{}', i, now(), now() from generate_series(1, $3) i`,
    [tenant.id, projectId, TASKS],
  );
}, 120_000);

afterAll(async () => {
  tenancy?.close();
  await platform?.stop();
});

describe("tier moves survive a crash of tenancy at every phase", () => {
  const phases = ["prepare", "precopy", "fence", "copy", "verify", "switch", "drain"] as const;
  for (const [i, phase] of phases.entries()) {
    it(`completes after tenancy dies right after "${phase}"`, async () => {
      const target = i % 2 === 0 ? Tier.BRIDGE : Tier.POOL;
      await tenancyWithFault(phase);
      const before = await taskCount(await homeDatabase());
      const tenancyProcess = platform.services.tenancy;
      await tenancy.client.moveTenant({ tenantId: tenant.id, requestId: randomUUID(), targetTier: target });
      const exit = await tenancyProcess?.exited;
      expect(exit?.signal, "tenancy killed itself after the phase").toBe("SIGKILL");
      await tenancyWithFault(undefined);
      const done = await awaitOperation(tenancy.client, tenant.id, 90_000);
      expect(done.operation?.state, done.operation?.lastError).toBe(OperationState.SUCCEEDED);
      const t = (await tenancy.client.getTenant({ tenantId: tenant.id })).tenant;
      expect(t?.tier).toBe(target);
      expect(t?.placement?.writesFenced).toBe(false);
      expect(await taskCount(await homeDatabase())).toBe(before);
      // and it serves reads and writes from its new home
      const task = await projectsAs(platform, token).tasks.createTask({ projectId, title: `after ${phase}` });
      expect(task.task?.title).toBe(`after ${phase}`);
    }, 150_000);
  }

  it("resumes a copy interrupted mid-table (SIGKILL while copying): every row once", async () => {
    const t0 = (await tenancy.client.getTenant({ tenantId: tenant.id })).tenant;
    const target = t0?.tier === Tier.POOL ? Tier.BRIDGE : Tier.POOL;
    const before = await taskCount(await homeDatabase());
    await tenancy.client.moveTenant({ tenantId: tenant.id, requestId: randomUUID(), targetTier: target });
    await expect
      .poll(
        async () => {
          const op = (await tenancy.client.getProvisioning({ tenantId: tenant.id })).operation;
          return op?.phase === "precopy" && op.tables.some((x) => x.rowsDone > 0n && x.rowsDone < x.rowsTotal);
        },
        { timeout: 30_000, interval: 20 },
      )
      .toBe(true);
    platform.services.tenancy?.child.kill("SIGKILL");
    await platform.services.tenancy?.exited;
    await tenancyWithFault(undefined);
    const done = await awaitOperation(tenancy.client, tenant.id, 90_000);
    expect(done.operation?.state, done.operation?.lastError).toBe(OperationState.SUCCEEDED);
    const tasks = done.operation?.tables.find((x) => x.table === "projects.tasks");
    expect(tasks?.rowsDone).toBe(tasks?.rowsTotal);
    expect(await taskCount(await homeDatabase())).toBe(before);
  }, 150_000);

  it("rolls back a move that cannot finish: the tenant stays where it was, unfenced, its target removed", async () => {
    await tenancyWithFault(undefined);
    const t0 = (await tenancy.client.getTenant({ tenantId: tenant.id })).tenant;
    if (t0?.tier !== Tier.POOL) {
      await tenancy.client.moveTenant({ tenantId: tenant.id, requestId: randomUUID(), targetTier: Tier.POOL });
      await awaitOperation(tenancy.client, tenant.id, 90_000);
    }
    const before = await taskCount(projectsDb.name);
    // a server that exists in the configuration but not on the network: prepare fails every time
    tenancy.close();
    await platform.restart("tenancy", {
      TENANCY_DATABASE_SERVERS: JSON.stringify({
        main: inject("pgAdminUrl"),
        unreachable: "postgres://nobody:nothing@127.0.0.1:1/postgres",
      }),
    });
    tenancy = operatorTenancy(platform);
    await tenancy.client.moveTenant({
      tenantId: tenant.id,
      requestId: randomUUID(),
      targetTier: Tier.BRIDGE,
      databaseServer: "unreachable",
    });
    const done = await awaitOperation(tenancy.client, tenant.id, 90_000);
    expect(done.operation?.state).toBe(OperationState.ROLLED_BACK);
    expect(done.operation?.lastError).not.toBe("");
    const t = (await tenancy.client.getTenant({ tenantId: tenant.id })).tenant;
    expect(t?.tier).toBe(Tier.POOL);
    expect(t?.placement?.writesFenced).toBe(false);
    expect(await taskCount(projectsDb.name)).toBe(before);
    expect(await databasesLike(`${projectsDb.name}_t_`)).toEqual([]);
    const task = await projectsAs(platform, token).tasks.createTask({ projectId, title: "after the rollback" });
    expect(task.task?.title).toBe("after the rollback");
  }, 150_000);

  it("refuses a second move while one runs", async () => {
    await tenancy.client.moveTenant({ tenantId: tenant.id, requestId: randomUUID(), targetTier: Tier.BRIDGE });
    const second = await tenancy.client
      .moveTenant({ tenantId: tenant.id, requestId: randomUUID(), targetTier: Tier.BRIDGE })
      .catch((e: unknown) => ConnectError.from(e));
    expect(second).toBeInstanceOf(ConnectError);
    expect((second as ConnectError).code).toBe(Code.FailedPrecondition);
    const done = await awaitOperation(tenancy.client, tenant.id, 90_000);
    expect(done.operation?.state, done.operation?.lastError).toBe(OperationState.SUCCEEDED);
  }, 150_000);

  it("publishes events a stopped projects process left in a bridge database's outbox once it is back", async () => {
    const t = (await tenancy.client.getTenant({ tenantId: tenant.id })).tenant;
    expect(t?.tier).toBe(Tier.BRIDGE);
    const bridgeDb = `${projectsDb.name}_t_${hex(tenant.id)}`;
    const projects = platform.services.projects;
    if (!projects) throw new Error("projects is not running");
    projects.child.kill("SIGKILL");
    await projects.exited;
    const eventId = randomUUID();
    const subject = `tessera.evt.${tenant.id}.task.updated`;
    await adminQuery(
      bridgeDb,
      "insert into tessera_outbox (id, tenant_id, subject, envelope) values ($1, $2, $3, $4)",
      [eventId, tenant.id, subject, Buffer.from("left behind")],
    );
    const nc = await connect({ servers: platform.natsUrl });
    const seen: string[] = [];
    const sub = nc.subscribe(subject, {
      callback: (_err, msg) => {
        seen.push(msg.headers?.get("Nats-Msg-Id") ?? "");
      },
    });
    try {
      await platform.restart("projects");
      await expect.poll(() => seen, { timeout: 20_000, interval: 200 }).toContain(eventId);
      await expect
        .poll(
          async () =>
            (await adminQuery<{ n: string }>(bridgeDb, "select count(*)::text as n from tessera_outbox"))[0]?.n,
          {
            timeout: 10_000,
          },
        )
        .toBe("0");
    } finally {
      sub.unsubscribe();
      await nc.close();
    }
  }, 60_000);
});
