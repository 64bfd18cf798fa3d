import { randomUUID } from "node:crypto";
import { TaskStatus } from "@tessera/proto/tessera/projects/v1/projects_pb";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  as,
  type Caller,
  Code,
  failure,
  type InProcess,
  newKey,
  type ProjectsEnv,
  projectsEnv,
  type Role,
  startInProcess,
  tenant,
} from "./support.ts";

let env: ProjectsEnv;
let svc: InProcess;

beforeAll(async () => {
  env = await projectsEnv("projects_a");
  svc = await startInProcess(env, "projects-access");
});

afterAll(async () => {
  await svc?.stop();
  await env?.close();
});

/** A tenant with a project, a task and a comment, made by its owner. */
async function seeded() {
  const t = tenant(env.issuer);
  const owner = await t.user("owner");
  const project = (await svc.projects.createProject({ key: newKey(), name: "Seeded" }, owner.opts)).project;
  const task = (await svc.tasks.createTask({ projectId: project?.id ?? "", title: "Seeded" }, owner.opts)).task;
  await svc.tasks.addComment({ taskId: task?.id ?? "", body: "seeded" }, owner.opts);
  return { t, owner, projectId: project?.id ?? "", taskId: task?.id ?? "" };
}

/** Every RPC once, as `caller`, on the given project and task; each entry resolves to its gRPC code (0 = OK). */
function everyRpc(caller: Caller, projectId: string, taskId: string) {
  const code = async (call: Promise<unknown>) => {
    try {
      await call;
      return "OK";
    } catch (err) {
      return Code[(err as { code: Code }).code];
    }
  };
  const o = caller.opts;
  return {
    read: {
      getProject: () => code(svc.projects.getProject({ projectId }, o)),
      batchGetProjects: () => code(svc.projects.batchGetProjects({ projectIds: [projectId] }, o)),
      listProjects: () => code(svc.projects.listProjects({}, o)),
      getTask: () => code(svc.tasks.getTask({ taskId }, o)),
      batchGetTasks: () => code(svc.tasks.batchGetTasks({ taskIds: [taskId] }, o)),
      listTasks: () => code(svc.tasks.listTasks({ projectId }, o)),
      batchListTasks: () => code(svc.tasks.batchListTasks({ projectIds: [projectId] }, o)),
      listComments: () => code(svc.tasks.listComments({ taskId }, o)),
      batchListComments: () => code(svc.tasks.batchListComments({ taskIds: [taskId] }, o)),
    },
    write: {
      createProject: () => code(svc.projects.createProject({ key: newKey(), name: "n" }, o)),
      updateProject: () =>
        code(
          svc.projects.updateProject(
            { projectId, updateMask: { paths: ["description"] }, description: randomUUID() },
            o,
          ),
        ),
      createTask: () => code(svc.tasks.createTask({ projectId, title: "t" }, o)),
      updateTask: () =>
        code(svc.tasks.updateTask({ taskId, updateMask: { paths: ["description"] }, description: randomUUID() }, o)),
      moveTask: () => code(svc.tasks.moveTask({ taskId }, o)),
      addComment: () => code(svc.tasks.addComment({ taskId, body: "b" }, o)),
    },
    archive: { archiveProject: () => code(svc.projects.archiveProject({ projectId }, o)) },
  };
}

async function run(group: Record<string, () => Promise<string>>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, call] of Object.entries(group)) out[name] = await call();
  return out;
}

const all = (group: Record<string, unknown>, code: string) =>
  Object.fromEntries(Object.keys(group).map((k) => [k, code]));

describe("role matrix", () => {
  const expected: Record<Role, { read: string; write: string; archive: string }> = {
    viewer: { read: "OK", write: "PermissionDenied", archive: "PermissionDenied" },
    member: { read: "OK", write: "OK", archive: "PermissionDenied" },
    admin: { read: "OK", write: "OK", archive: "OK" },
    owner: { read: "OK", write: "OK", archive: "OK" },
  };
  for (const role of Object.keys(expected) as Role[]) {
    it(`${role}: reads ${expected[role].read}, writes ${expected[role].write}, archives ${expected[role].archive}`, async () => {
      const { t, projectId, taskId } = await seeded();
      const rpcs = everyRpc(await t.user(role), projectId, taskId);
      expect(await run(rpcs.read)).toEqual(all(rpcs.read, expected[role].read));
      expect(await run(rpcs.write)).toEqual(all(rpcs.write, expected[role].write));
      expect(await run(rpcs.archive)).toEqual(all(rpcs.archive, expected[role].archive));
      const del = await everyRpcDelete(await t.user(role), taskId);
      expect(del).toBe(expected[role].write);
    });
  }

  it("refuses roles it does not know, tokens without a tenant, and calls without a token", async () => {
    const { t, projectId } = await seeded();
    const stranger = {
      opts: as(
        await env.issuer.mint({
          aud: "projects",
          sub: "x",
          kind: "user",
          tid: t.tid,
          roles: ["service", "platform-admin"],
        }),
      ),
    };
    expect(await failure(svc.projects.getProject({ projectId }, stranger.opts))).toMatchObject({
      code: Code.PermissionDenied,
    });
    const noTenant = as(await env.issuer.mint({ aud: "projects", sub: "op", kind: "user", roles: ["owner"] }));
    expect(await failure(svc.projects.listProjects({}, noTenant))).toMatchObject({ code: Code.PermissionDenied });
    expect(await failure(svc.projects.listProjects({}, { timeoutMs: 5_000 }))).toMatchObject({
      code: Code.Unauthenticated,
    });
    const wrongAudience = as(
      await env.issuer.mint({ aud: "identity", sub: "u", kind: "user", tid: t.tid, roles: ["owner"] }),
    );
    expect(await failure(svc.projects.listProjects({}, wrongAudience))).toMatchObject({ code: Code.Unauthenticated });
  });
});

async function everyRpcDelete(caller: Caller, taskId: string): Promise<string> {
  try {
    await svc.tasks.deleteTask({ taskId }, caller.opts);
    return "OK";
  } catch (err) {
    return Code[(err as { code: Code }).code] ?? "?";
  }
}

describe("API keys", () => {
  it("hold a permission only when the role grants it and it is among the key's scopes", async () => {
    const { t, projectId, taskId } = await seeded();
    const reader = await t.apiKey("admin", ["projects.read", "tasks.read"]);
    expect((await svc.projects.getProject({ projectId }, reader.opts)).project?.id).toBe(projectId);
    expect((await svc.tasks.listTasks({ projectId }, reader.opts)).tasks).toHaveLength(1);
    expect((await svc.tasks.batchListTasks({ projectIds: [projectId] }, reader.opts)).projects).toHaveLength(1);
    for (const call of [
      svc.tasks.listComments({ taskId }, reader.opts),
      svc.tasks.batchListComments({ taskIds: [taskId] }, reader.opts),
      svc.tasks.createTask({ projectId, title: "x" }, reader.opts),
      svc.projects.archiveProject({ projectId }, reader.opts),
    ]) {
      expect(await failure(call)).toMatchObject({ code: Code.PermissionDenied });
    }
    // the scope alone grants nothing the role does not
    const memberKey = await t.apiKey("member", ["projects.read", "projects.archive"]);
    expect(await failure(svc.projects.archiveProject({ projectId }, memberKey.opts))).toMatchObject({
      code: Code.PermissionDenied,
    });
    const writer = await t.apiKey("member", ["tasks.write", "comments.write"]);
    const task = await svc.tasks.createTask({ projectId, title: "by key", status: TaskStatus.DONE }, writer.opts);
    expect(task.task?.status).toBe(TaskStatus.DONE);
    const comment = await svc.tasks.addComment({ taskId, body: "from a key" }, writer.opts);
    expect(comment.comment?.authorId).toBe(writer.sub);
    const archiver = await t.apiKey("admin", ["projects.archive"]);
    expect((await svc.projects.archiveProject({ projectId }, archiver.opts)).project?.archived).toBe(true);
  });
});

describe("tenant isolation", () => {
  it("gives another tenant exactly what a nonexistent id gets, on every RPC", async () => {
    const a = await seeded();
    const b = await seeded();
    const o = b.owner.opts;
    const ghost = randomUUID();
    const same = async (call: (id: string) => Promise<unknown>, foreignId: string) => {
      const foreign = await failure(call(foreignId));
      const missing = await failure(call(ghost));
      expect(foreign).toEqual(missing);
      return foreign;
    };
    const notFound = { code: Code.NotFound };
    expect(await same((id) => svc.projects.getProject({ projectId: id }, o), a.projectId)).toMatchObject(notFound);
    expect(
      await same(
        (id) => svc.projects.updateProject({ projectId: id, updateMask: { paths: ["name"] }, name: "x" }, o),
        a.projectId,
      ),
    ).toMatchObject(notFound);
    expect(await same((id) => svc.projects.archiveProject({ projectId: id }, o), a.projectId)).toMatchObject(notFound);
    expect(await same((id) => svc.tasks.createTask({ projectId: id, title: "x" }, o), a.projectId)).toMatchObject(
      notFound,
    );
    expect(await same((id) => svc.tasks.listTasks({ projectId: id }, o), a.projectId)).toMatchObject(notFound);
    expect(await same((id) => svc.tasks.getTask({ taskId: id }, o), a.taskId)).toMatchObject(notFound);
    expect(
      await same(
        (id) => svc.tasks.updateTask({ taskId: id, updateMask: { paths: ["title"] }, title: "x" }, o),
        a.taskId,
      ),
    ).toMatchObject(notFound);
    expect(await same((id) => svc.tasks.moveTask({ taskId: id }, o), a.taskId)).toMatchObject(notFound);
    expect(await same((id) => svc.tasks.deleteTask({ taskId: id }, o), a.taskId)).toMatchObject(notFound);
    expect(await same((id) => svc.tasks.addComment({ taskId: id, body: "x" }, o), a.taskId)).toMatchObject(notFound);
    expect(await same((id) => svc.tasks.listComments({ taskId: id }, o), a.taskId)).toMatchObject(notFound);
    expect(await same((id) => svc.tasks.moveTask({ taskId: b.taskId, beforeTaskId: id }, o), a.taskId)).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["before_task_id"],
    });

    const projects = await svc.projects.batchGetProjects({ projectIds: [a.projectId, b.projectId] }, o);
    expect(projects.projects.map((p) => p.id)).toEqual([b.projectId]);
    const tasks = await svc.tasks.batchGetTasks({ taskIds: [a.taskId, b.taskId] }, o);
    expect(tasks.tasks.map((t) => t.id)).toEqual([b.taskId]);
    const listed = await svc.projects.listProjects({ includeArchived: true }, o);
    expect(listed.projects.map((p) => p.id)).toEqual([b.projectId]);
    const taskPages = await svc.tasks.batchListTasks({ projectIds: [a.projectId, b.projectId] }, o);
    expect(taskPages.projects.map((p) => [p.projectId, p.tasks.map((t) => t.id)])).toEqual([[b.projectId, [b.taskId]]]);
    const onlyTheirs = await svc.tasks.batchListTasks({ projectIds: [a.projectId] }, o);
    expect(onlyTheirs.projects).toEqual([]);
    const commentPages = await svc.tasks.batchListComments({ taskIds: [a.taskId, b.taskId] }, o);
    expect(commentPages.tasks.map((t) => [t.taskId, t.comments.map((c) => c.body)])).toEqual([[b.taskId, ["seeded"]]]);

    // tenant A's rows are untouched
    const mine = await svc.projects.getProject({ projectId: a.projectId }, a.owner.opts);
    expect(mine.project).toMatchObject({ version: 1n, archived: false, name: "Seeded" });
    expect((await svc.tasks.getTask({ taskId: a.taskId }, a.owner.opts)).task?.version).toBe(1n);
    expect((await svc.tasks.listComments({ taskId: a.taskId }, a.owner.opts)).comments).toHaveLength(1);
  });

  it("rejects page tokens minted for another tenant, and lets tenants reuse each other's keys", async () => {
    const a = await seeded();
    const b = await seeded();
    await svc.projects.createProject({ key: newKey(), name: "second" }, a.owner.opts);
    await svc.tasks.createTask({ projectId: a.projectId, title: "second" }, a.owner.opts);
    await svc.tasks.addComment({ taskId: a.taskId, body: "second" }, a.owner.opts);
    const page = { pageSize: 1 };
    const pt = (await svc.projects.listProjects({ page }, a.owner.opts)).page?.nextPageToken ?? "";
    const tt = (await svc.tasks.listTasks({ projectId: a.projectId, page }, a.owner.opts)).page?.nextPageToken ?? "";
    const ct = (await svc.tasks.listComments({ taskId: a.taskId, page }, a.owner.opts)).page?.nextPageToken ?? "";
    const bt =
      (await svc.tasks.batchListTasks({ projectIds: [a.projectId], pageSize: 1 }, a.owner.opts)).projects[0]?.page
        ?.nextPageToken ?? "";
    const bc =
      (await svc.tasks.batchListComments({ taskIds: [a.taskId], pageSize: 1 }, a.owner.opts)).tasks[0]?.page
        ?.nextPageToken ?? "";
    for (const token of [pt, tt, ct, bt, bc]) expect(token).not.toBe("");
    const bad = { code: Code.InvalidArgument, fields: ["page.page_token"] };
    const o = b.owner.opts;
    expect(await failure(svc.projects.listProjects({ page: { pageToken: pt } }, o))).toMatchObject(bad);
    expect(await failure(svc.tasks.listTasks({ projectId: a.projectId, page: { pageToken: tt } }, o))).toMatchObject(
      bad,
    );
    expect(await failure(svc.tasks.listTasks({ projectId: b.projectId, page: { pageToken: tt } }, o))).toMatchObject(
      bad,
    );
    expect(await failure(svc.tasks.listComments({ taskId: b.taskId, page: { pageToken: ct } }, o))).toMatchObject(bad);
    expect(await failure(svc.tasks.listTasks({ projectId: b.projectId, page: { pageToken: bt } }, o))).toMatchObject(
      bad,
    );
    expect(await failure(svc.tasks.listComments({ taskId: b.taskId, page: { pageToken: bc } }, o))).toMatchObject(bad);

    const key = newKey();
    await svc.projects.createProject({ key, name: "A's" }, a.owner.opts);
    const theirs = await svc.projects.createProject({ key, name: "B's" }, b.owner.opts);
    expect(theirs.project?.key).toBe(key);
  });

  it("keeps rows of every table behind forced row-level security for the app role", async () => {
    const a = await seeded();
    const client = new pg.Client({ connectionString: env.db.appUrl });
    await client.connect();
    try {
      for (const table of ["projects", "tasks", "comments"]) {
        const rows = await client.query(`select count(*)::int as n from ${table}`);
        expect(rows.rows[0].n, table).toBe(0);
      }
      await client.query("begin");
      await client.query("select set_config('app.tenant_id', $1, true)", [randomUUID()]);
      const hidden = await client.query("select count(*)::int as n from tasks where id = $1", [a.taskId]);
      expect(hidden.rows[0].n).toBe(0);
      await expect(
        client.query(
          "insert into projects (id, tenant_id, key, name, version, created_at, updated_at) values ($1, $2, 'EVIL', 'x', 1, now(), now())",
          [randomUUID(), a.t.tid],
        ),
      ).rejects.toThrow(/row-level security/);
      await client.query("rollback");
    } finally {
      await client.end();
    }
  });
});
