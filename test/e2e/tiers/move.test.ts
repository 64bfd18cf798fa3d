import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { OperationState, TenantStatus, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServiceDatabase, startPlatform, type TenantSeed, type TestPlatform } from "../../harness/index.ts";
import { adminQuery, awaitOperation, databasesLike, operatorTenancy, projectsAs, rowsOfTenant } from "./support.ts";

/** Tasks the moved tenant holds (inserted beneath the contract: creating them one by one would take minutes). */
const TASKS = Number(process.env.TESSERA_MOVE_TASKS ?? 100_000);

let platform: TestPlatform;
let tenancy: ReturnType<typeof operatorTenancy>;
let moved: TenantSeed;
let other: TenantSeed;
let movedToken: string;
let otherToken: string;
let projectId: string;
let projectsDb: ServiceDatabase;

const hex = (id: string) => id.replaceAll("-", "");
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)] ?? Number.NaN;

beforeAll(async () => {
  platform = await startPlatform({ services: ["tenancy", "projects"] });
  tenancy = operatorTenancy(platform);
  projectsDb = platform.databases.projects as ServiceDatabase;
  moved = await platform.seed.tenant({ plan: "enterprise" });
  other = await platform.seed.tenant({ plan: "enterprise" });
  movedToken = await (await moved.user("owner")).internalToken("projects");
  otherToken = await (await other.user("owner")).internalToken("projects");
  const created = await projectsAs(platform, movedToken).projects.createProject({ name: "Moving", key: "MOV" });
  projectId = created.project?.id as string;
  await projectsAs(platform, otherToken).projects.createProject({ name: "Staying", key: "STAY" });
  await adminQuery(
    projectsDb.name,
    `insert into tasks (id, tenant_id, project_id, title, status, labels, position, created_at, updated_at)
     select gen_random_uuid(), $1, $2, 'task ' || i, 'todo', '{bulk}', i, now(), now() from generate_series(1, $3) i`,
    [moved.id, projectId, TASKS],
  );
}, 180_000);

afterAll(async () => {
  tenancy?.close();
  await platform?.stop();
});

describe("tier moves", () => {
  it(`moves a tenant with ${TASKS} tasks from pool to bridge while it reads and writes: no row lost or duplicated`, async () => {
    const before = await adminQuery<{ n: string; sum: string }>(
      projectsDb.name,
      "select count(*)::text as n, md5(string_agg(id::text || title, ',' order by id)) as sum from tasks where tenant_id = $1",
      [moved.id],
    );
    const client = projectsAs(platform, movedToken);
    const bystander = projectsAs(platform, otherToken);
    const written: string[] = [];
    const stats = {
      reads: 0,
      readFailures: [] as string[],
      writeRefusals: 0,
      otherFailures: [] as string[],
      maxPauseMs: 0,
    };
    let lastWrite = Date.now();
    let running = true;
    let moving = false;
    const bystanderMs = { before: [] as number[], during: [] as number[] };
    const traffic = (async () => {
      while (running) {
        try {
          await client.projects.getProject({ projectId }, { timeoutMs: 5_000 });
          const t0 = performance.now();
          await bystander.projects.listProjects({}, { timeoutMs: 5_000 });
          (moving ? bystanderMs.during : bystanderMs.before).push(performance.now() - t0);
          stats.reads++;
        } catch (err) {
          stats.readFailures.push(String(err));
        }
        try {
          const res = await client.tasks.createTask(
            { projectId, title: `live ${written.length}` },
            { timeoutMs: 5_000 },
          );
          written.push(res.task?.id as string);
          const now = Date.now();
          stats.maxPauseMs = Math.max(stats.maxPauseMs, now - lastWrite);
          lastWrite = now;
        } catch (err) {
          const e = ConnectError.from(err);
          if (e.code === Code.Unavailable) stats.writeRefusals++;
          else stats.otherFailures.push(`${Code[e.code]}: ${e.rawMessage}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    await new Promise((r) => setTimeout(r, 2_000));
    moving = true;
    const started = await tenancy.client.moveTenant({
      tenantId: moved.id,
      requestId: randomUUID(),
      targetTier: Tier.BRIDGE,
    });
    expect(started.operation?.state).toBe(OperationState.RUNNING);
    const done = await awaitOperation(tenancy.client, moved.id, 240_000);
    await new Promise((r) => setTimeout(r, 1_000));
    running = false;
    await traffic;

    console.log(
      `move pool→bridge of ${TASKS} tasks: phase ${done.operation?.phase}, writes fenced ${done.operation?.fencedMs} ms, ` +
        `longest pause between writes ${stats.maxPauseMs} ms, ${stats.writeRefusals} writes refused with UNAVAILABLE, ` +
        `${written.length} written, ${stats.reads} read rounds; the other tenant's read p95 ` +
        `${p95(bystanderMs.before).toFixed(1)} ms before the move, ${p95(bystanderMs.during).toFixed(1)} ms during it`,
    );
    expect(done.operation?.state, done.operation?.lastError).toBe(OperationState.SUCCEEDED);
    expect(stats.readFailures).toEqual([]);
    expect(stats.otherFailures).toEqual([]);
    expect(written.length).toBeGreaterThan(0);
    expect(done.operation?.tables.map((t) => t.table)).toEqual([
      "projects.projects",
      "projects.tasks",
      "projects.comments",
    ]);

    const tenant = (await tenancy.client.getTenant({ tenantId: moved.id })).tenant;
    expect(tenant?.tier).toBe(Tier.BRIDGE);
    expect(tenant?.placement?.database).toBe(`main/t_${hex(moved.id)}`);
    const bridgeDb = `${projectsDb.name}_t_${hex(moved.id)}`;

    // every task that was there, every write acknowledged during the move, nothing twice
    const [after] = await adminQuery<{ n: string }>(
      bridgeDb,
      "select count(*)::text as n from tasks where tenant_id = $1",
      [moved.id],
    );
    expect(Number(after?.n)).toBe(Number(before[0]?.n) + written.length);
    const [bulk] = await adminQuery<{ sum: string }>(
      bridgeDb,
      "select md5(string_agg(id::text || title, ',' order by id)) as sum from tasks where tenant_id = $1 and title not like 'live %'",
      [moved.id],
    );
    expect(bulk?.sum).toBe(before[0]?.sum);
    const liveIds = await adminQuery<{ id: string }>(bridgeDb, "select id::text from tasks where title like 'live %'");
    expect(new Set(liveIds.map((r) => r.id))).toEqual(new Set(written));
    // the bridge database holds this tenant only
    const [strangers] = await adminQuery<{ n: string }>(
      bridgeDb,
      "select count(*)::text as n from projects where tenant_id <> $1",
      [moved.id],
    );
    expect(strangers?.n).toBe("0");

    // the pool keeps the other tenant and, after the grace period, nothing of the moved one
    await expect
      .poll(
        async () =>
          (
            await adminQuery<{ n: string }>(
              projectsDb.name,
              "select count(*)::text as n from tasks where tenant_id = $1",
              [moved.id],
            )
          )[0]?.n,
        { timeout: 20_000, interval: 500 },
      )
      .toBe("0");
    const [staying] = await adminQuery<{ n: string }>(
      projectsDb.name,
      "select count(*)::text as n from projects where tenant_id = $1",
      [other.id],
    );
    expect(staying?.n).toBe("1");

    // reads and writes now go to the bridge database through the same contract
    const task = await client.tasks.createTask({ projectId, title: "after the move" });
    const again = await client.tasks.getTask({ taskId: task.task?.id as string });
    expect(again.task?.title).toBe("after the move");
  }, 300_000);

  it("keeps tenants apart across tiers: the pool tenant cannot reach the bridge tenant's rows", async () => {
    const bystander = projectsAs(platform, otherToken);
    const err = await bystander.projects.getProject({ projectId }).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.NotFound);
    const listed = await bystander.projects.listProjects({});
    expect(listed.projects.map((p) => p.key)).toEqual(["STAY"]);
    const own = await projectsAs(platform, movedToken).projects.listProjects({});
    expect(own.projects.map((p) => p.key)).toEqual(["MOV"]);
  });

  it("moves the tenant back to the pool and drops its bridge database", async () => {
    await tenancy.client.moveTenant({ tenantId: moved.id, requestId: randomUUID(), targetTier: Tier.POOL });
    const done = await awaitOperation(tenancy.client, moved.id, 240_000);
    expect(done.operation?.state, done.operation?.lastError).toBe(OperationState.SUCCEEDED);
    const tenant = (await tenancy.client.getTenant({ tenantId: moved.id })).tenant;
    expect(tenant?.tier).toBe(Tier.POOL);
    expect(tenant?.placement?.database).toBe("pool");
    await expect.poll(() => databasesLike(`${projectsDb.name}_t_`), { timeout: 20_000, interval: 500 }).toEqual([]);
    const [n] = await adminQuery<{ n: string }>(
      projectsDb.name,
      "select count(*)::text as n from tasks where tenant_id = $1",
      [moved.id],
    );
    expect(Number(n?.n)).toBeGreaterThan(TASKS);
  }, 300_000);

  it("refuses a move into the tier the tenant is in, and a move of an unknown tenant", async () => {
    const same = await tenancy.client
      .moveTenant({ tenantId: other.id, requestId: randomUUID(), targetTier: Tier.POOL })
      .catch((e: unknown) => ConnectError.from(e));
    expect((same as ConnectError).code).toBe(Code.FailedPrecondition);
    const unknown = await tenancy.client
      .moveTenant({ tenantId: randomUUID(), requestId: randomUUID(), targetTier: Tier.BRIDGE })
      .catch((e: unknown) => ConnectError.from(e));
    expect((unknown as ConnectError).code).toBe(Code.NotFound);
  });

  it("deletes an offboarded tenant: a signed export first, then no row of it anywhere but the registry's record", async () => {
    await tenancy.client.offboardTenant({ tenantId: moved.id, reason: "contract ended" });
    await tenancy.client.deleteTenant({ tenantId: moved.id });
    const done = await awaitOperation(tenancy.client, moved.id, 240_000);
    expect(done.operation?.state, done.operation?.lastError).toBe(OperationState.SUCCEEDED);
    expect(done.operation?.exportId).not.toBe("");
    const tenant = (await tenancy.client.getTenant({ tenantId: moved.id })).tenant;
    expect(tenant?.status).toBe(TenantStatus.DELETED);

    // the export bundle: files, manifest last, signature valid for the manifest
    const files = new Map<string, Buffer[]>();
    for await (const chunk of tenancy.client.readExport({
      tenantId: moved.id,
      exportId: done.operation?.exportId as string,
    })) {
      files.set(chunk.file, [...(files.get(chunk.file) ?? []), Buffer.from(chunk.data)]);
    }
    const manifest = Buffer.concat(files.get("manifest.json") ?? []).toString();
    const parsed = JSON.parse(manifest) as { files: Array<{ name: string; rows: number }>; tenant_id: string };
    expect(parsed.tenant_id).toBe(moved.id);
    const projectsFile = parsed.files.find((f) => f.name === "projects.ndjson");
    expect(projectsFile?.rows).toBeGreaterThan(TASKS);
    expect(Buffer.concat(files.get("manifest.sig") ?? []).length).toBeGreaterThan(0);

    // nothing of the tenant in any service database, except identity's tenant tombstone and the
    // consumers' idempotency records of the deletion's own events (pruned by their retention)
    const leftovers = await rowsOfTenant(
      [platform.databases.projects?.name, platform.databases.identity?.name].filter((n): n is string => !!n),
      moved.id,
    );
    expect(leftovers.filter((l) => !l.includes(".tenants:") && !l.includes(".tessera_consumed:"))).toEqual([]);
    // the other tenant is untouched
    const listed = await projectsAs(platform, otherToken).projects.listProjects({});
    expect(listed.projects.map((p) => p.key)).toEqual(["STAY"]);
  }, 300_000);
});
