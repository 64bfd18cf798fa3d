import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { getPlan, loadPlanCatalogue, type QuotaSource } from "@tessera/platform/plans";
import { QuotaFailureSchema } from "@tessera/proto/google/rpc/error_details_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InProcess, newKey, type ProjectsEnv, projectsEnv, startInProcess, tenant } from "./support.ts";

const tinyPlans = new URL("../../../test/fixtures/plans/tiny.yaml", import.meta.url).pathname;

let env: ProjectsEnv;
let svc: InProcess;
/** Tenants this test put on a plan; everyone else is on the shipped free plan. */
const plans = new Map<string, string>();
const quotaOf: QuotaSource = async (tenantId) => getPlan(plans.get(tenantId) ?? "free");

beforeAll(async () => {
  env = await projectsEnv("projects_quota");
  svc = await startInProcess(env, "projects-quotas", quotaOf);
});

afterAll(async () => {
  await svc?.stop();
  await env?.close();
});

async function failureOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  return expect.fail("the call succeeded");
}

/** Counters as stored, and as a full recount of the tenant's rows would give them. */
async function counters(tid: string) {
  const [stored] = await env.admin<{ projects: number; storage_bytes: string }>(
    "select projects, storage_bytes from tenant_usage where tenant_id = $1",
    [tid],
  );
  const [recount] = await env.admin<{ projects: number; storage_bytes: string }>(
    `select (select count(*)::int from projects where tenant_id = $1 and archived_at is null) as projects,
       (select coalesce(sum(64 + octet_length(key) + octet_length(name) + octet_length(description)), 0) from projects where tenant_id = $1)
       + (select coalesce(sum(64 + octet_length(title) + octet_length(description) + coalesce(octet_length(array_to_string(labels, ',')), 0)), 0) from tasks where tenant_id = $1)
       + (select coalesce(sum(64 + octet_length(author_id) + octet_length(body)), 0) from comments where tenant_id = $1) as storage_bytes`,
    [tid],
  );
  return {
    stored: { projects: stored?.projects ?? 0, storageBytes: Number(stored?.storage_bytes ?? 0) },
    recount: { projects: recount?.projects ?? 0, storageBytes: Number(recount?.storage_bytes ?? 0) },
  };
}

function expectQuotaFailure(err: ConnectError, quota: string, limit: number) {
  expect(err.code).toBe(Code.ResourceExhausted);
  expect(err.rawMessage).toContain(quota);
  expect(err.rawMessage).toContain(`limit ${limit}`);
  const [detail] = err.findDetails(QuotaFailureSchema);
  expect(detail?.violations[0]).toMatchObject({ quotaMetric: quota, quotaValue: BigInt(limit) });
}

describe("plan quotas in projects", () => {
  it("refuses the project past the free plan's limit with RESOURCE_EXHAUSTED naming `projects` and the limit; archiving frees a slot", async () => {
    const t = tenant(env.issuer);
    const owner = await t.user("owner");
    const limit = getPlan("free").quotas.projects;
    const created = [];
    for (let i = 0; i < limit; i++) {
      created.push((await svc.projects.createProject({ key: newKey(), name: `p${i}` }, owner.opts)).project);
    }
    const err = await failureOf(svc.projects.createProject({ key: newKey(), name: "one too many" }, owner.opts));
    expectQuotaFailure(err, "projects", limit);
    expect(err.rawMessage).toBe(`quota exceeded: projects (limit ${limit} on plan free)`);
    // the refused project left nothing behind
    expect((await svc.projects.listProjects({}, owner.opts)).projects).toHaveLength(limit);
    expect((await counters(t.tid)).stored.projects).toBe(limit);

    // another tenant is not affected by this one's usage
    const other = await tenant(env.issuer).user("member");
    await svc.projects.createProject({ key: newKey(), name: "elsewhere" }, other.opts);

    await svc.projects.archiveProject({ projectId: created[0]?.id ?? "" }, owner.opts);
    await svc.projects.createProject({ key: newKey(), name: "fits again" }, owner.opts);
    expect(await counters(t.tid)).toMatchObject({ stored: { projects: limit } });

    // a bigger plan lifts the limit at once
    plans.set(t.tid, "team");
    await svc.projects.createProject({ key: newKey(), name: "on team" }, owner.opts);
  });

  it("never lets concurrent creations get past the limit (the counter row serialises them)", async () => {
    const t = tenant(env.issuer);
    const member = await t.user("member");
    const limit = getPlan("free").quotas.projects;
    const results = await Promise.allSettled(
      Array.from({ length: limit + 5 }, (_, i) =>
        svc.projects.createProject({ key: newKey(), name: `race ${i}` }, member.opts),
      ),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(limit);
    for (const r of results) {
      if (r.status === "rejected") expect(ConnectError.from(r.reason).code).toBe(Code.ResourceExhausted);
    }
    const c = await counters(t.tid);
    expect(c.stored).toEqual(c.recount);
  });

  it("keeps the usage counters equal to a recount through creates, updates, moves, comments, deletes and archiving", async () => {
    const t = tenant(env.issuer);
    plans.set(t.tid, "team");
    const owner = await t.user("owner");
    const { project } = await svc.projects.createProject(
      { key: newKey(), name: "Zählung ✓", description: "ünïcode" },
      owner.opts,
    );
    const pid = project?.id ?? "";
    const a = (await svc.tasks.createTask({ projectId: pid, title: "a", labels: ["x", "yz"] }, owner.opts)).task;
    const b = (await svc.tasks.createTask({ projectId: pid, title: "b", description: "long ".repeat(50) }, owner.opts))
      .task;
    await svc.tasks.addComment({ taskId: a?.id ?? "", body: "first ✓" }, owner.opts);
    await svc.tasks.addComment({ taskId: a?.id ?? "", body: "second" }, owner.opts);
    await svc.tasks.updateTask(
      { taskId: b?.id ?? "", updateMask: { paths: ["description", "labels"] }, description: "", labels: ["q"] },
      owner.opts,
    );
    await svc.tasks.moveTask({ taskId: b?.id ?? "", beforeTaskId: a?.id ?? "" }, owner.opts);
    await svc.projects.updateProject(
      { projectId: pid, updateMask: { paths: ["description"] }, description: "much longer than before" },
      owner.opts,
    );
    let c = await counters(t.tid);
    expect(c.stored).toEqual(c.recount);
    expect(c.stored.storageBytes).toBeGreaterThan(64 * 5);
    // deleting a task takes its comments with it (cascade), and their bytes
    await svc.tasks.deleteTask({ taskId: a?.id ?? "" }, owner.opts);
    await svc.projects.archiveProject({ projectId: pid }, owner.opts);
    c = await counters(t.tid);
    expect(c.stored).toEqual(c.recount);
    expect(c.stored.projects).toBe(0);
  });
});

describe("storage quota, with a tiny catalogue file (test/fixtures/plans/tiny.yaml: 4096 bytes, 2 projects)", () => {
  let small: InProcess;
  const tiny = loadPlanCatalogue(tinyPlans);

  beforeAll(async () => {
    small = await startInProcess(env, "projects-tiny-plans", async () => tiny.get("tiny"));
  });

  afterAll(async () => {
    await small?.stop();
  });

  it("refuses text past the plan's storage_bytes with RESOURCE_EXHAUSTED naming the quota and limit; deleting frees room", async () => {
    const tid = randomUUID();
    const caller = await tenant(env.issuer, tid).user("member");
    const { projects, tasks } = small;
    const { project } = await projects.createProject({ key: newKey(), name: "tiny" }, caller.opts);
    const pid = project?.id ?? "";
    const big = "x".repeat(1500);
    const first = await tasks.createTask({ projectId: pid, title: "one", description: big }, caller.opts);
    const second = await tasks.createTask({ projectId: pid, title: "two", description: big }, caller.opts);
    const before = await counters(tid);
    const err = await failureOf(tasks.createTask({ projectId: pid, title: "three", description: big }, caller.opts));
    expectQuotaFailure(err, "storage_bytes", 4096);
    expect(err.rawMessage).toBe("quota exceeded: storage_bytes (limit 4096 on plan tiny)");
    expect((await counters(tid)).stored).toEqual(before.stored);
    // a comment or an update that grows the text is refused the same way
    expectQuotaFailure(
      await failureOf(tasks.addComment({ taskId: first.task?.id ?? "", body: big }, caller.opts)),
      "storage_bytes",
      4096,
    );
    expectQuotaFailure(
      await failureOf(
        tasks.updateTask(
          { taskId: first.task?.id ?? "", updateMask: { paths: ["description"] }, description: big + big },
          caller.opts,
        ),
      ),
      "storage_bytes",
      4096,
    );
    // a change that shrinks is always allowed, and deleting frees room
    await tasks.updateTask(
      { taskId: first.task?.id ?? "", updateMask: { paths: ["description"] }, description: "short" },
      caller.opts,
    );
    await tasks.deleteTask({ taskId: second.task?.id ?? "" }, caller.opts);
    await tasks.createTask({ projectId: pid, title: "three", description: big }, caller.opts);
    const c = await counters(tid);
    expect(c.stored).toEqual(c.recount);
    expect(c.stored.storageBytes).toBeLessThanOrEqual(4096);
  });

  it("holds the tiny plan's project limit too", async () => {
    const other = await tenant(env.issuer).user("member");
    await small.projects.createProject({ key: newKey(), name: "a" }, other.opts);
    await small.projects.createProject({ key: newKey(), name: "b" }, other.opts);
    expectQuotaFailure(
      await failureOf(small.projects.createProject({ key: newKey(), name: "c" }, other.opts)),
      "projects",
      2,
    );
  });
});
