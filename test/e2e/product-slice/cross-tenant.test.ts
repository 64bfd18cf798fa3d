/**
 * Cross-tenant matrix: every projects RPC, GraphQL field / mutation and REST route called with
 * tenant B's credentials against tenant A's ids (plain ids, Relay global ids, ids in list filters,
 * A's pagination cursors), each answer compared — status and full body, after removing request /
 * trace ids — with the answer for a freshly generated nonexistent id of the same shape. B's lists
 * must never contain an A id, and A's data must be unchanged afterwards.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, expect, it } from "vitest";
import { globalId, type Json, projectKey, type Slice, startSlice } from "./setup.ts";

let slice: Slice;

/** A marker in every name A writes: any answer to B that contains it is a leak. */
const SECRET = `secretA${randomBytes(4).toString("hex")}`;
const ROUNDS = Number(process.env.SLICE_ROUNDS ?? 7);
const CONCURRENCY = 4;

interface AData {
  projects: string[];
  tasks: string[];
  comments: string[];
  users: string[];
  /** A's cursors from A's own listings, by surface. */
  cursors: { rpc: Record<string, string>; gql: Record<string, string>; rest: Record<string, string> };
  /** A's objects as A sees them before the matrix. */
  snapshot: string;
}
let aData: AData;
let bProject = "";
let bTask = "";

const json = (text: string) => JSON.parse(text) as Json;

// ---- forging a nonexistent cursor of the same shape --------------------------------------------------

function digest(text: string): string {
  return createHash("sha256").update(`tessera.projects.cursor\n${text}`).digest("base64url").slice(0, 16);
}
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** A well-formed page token (valid checksum) of a list that does not exist, same position shape. */
function forgeServiceToken(token: string): string {
  const [body, sum] = token.split(".");
  if (!body || !sum) throw new Error(`unknown page token shape: ${token}`);
  const [, ...position] = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as unknown[];
  const forgedKey = randomBytes(12).toString("base64url");
  const forged = position.map((p) => (typeof p === "string" ? p.replace(UUID, () => randomUUID()) : p));
  const newBody = Buffer.from(JSON.stringify([forgedKey, ...forged])).toString("base64url");
  return `${newBody}.${digest(newBody)}`;
}

/** The same for any surface's cursor: a page token, or GraphQL's `c1:<skip>:<page token>`. */
function forgeCursor(cursor: string): string {
  const text = Buffer.from(cursor, "base64url").toString("utf8");
  if (text.startsWith("c1:")) {
    const [prefix, skip, ...rest] = text.split(":");
    return Buffer.from(`${prefix}:${skip}:${forgeServiceToken(rest.join(":"))}`, "utf8").toString("base64url");
  }
  return forgeServiceToken(cursor);
}

// ---- normalizing answers ---------------------------------------------------------------------------------

const VOLATILE = /^(request_?id|trace_?id|span_?id|traceparent|instance)$/i;

function dropVolatile(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropVolatile);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([k]) => !VOLATILE.test(k))
        .map(([k, v]) => [k, dropVolatile(v)]),
    );
  }
  return value;
}

/** The answer with the probed values (and their global-id forms) replaced by placeholders. */
function substitute(text: string, values: string[]): string {
  let out = text;
  values.forEach((v, i) => {
    const forms = [v, ...["Project", "Task", "User", "Comment"].map((t) => globalId(t, v))];
    for (const f of forms) out = out.split(f).join(`<v${i}>`);
  });
  return out;
}

const bigintSafe = (_k: string, v: unknown) =>
  typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString("base64") : v;

async function rpcAnswer(call: () => Promise<unknown>): Promise<string> {
  try {
    return JSON.stringify({ ok: await call() }, bigintSafe);
  } catch (err) {
    const e = ConnectError.from(err);
    return JSON.stringify({
      code: e.code,
      message: e.rawMessage,
      details: e.details.map((d) =>
        "type" in d ? { type: d.type, value: Buffer.from(d.value).toString("latin1") } : { desc: d.desc.typeName },
      ),
    });
  }
}

function httpAnswer(res: { status: number; contentType: string; text: string }): string {
  let body: unknown = res.text;
  try {
    body = dropVolatile(JSON.parse(res.text));
  } catch {
    // not JSON: the raw text
  }
  return JSON.stringify({ status: res.status, contentType: res.contentType, body });
}

// ---- the matrix ------------------------------------------------------------------------------------------

/** One probe: the same call with A's values and with fresh nonexistent values of the same shape. */
interface Probe {
  name: string;
  /** A's values in the id positions. */
  values: string[];
  /** Fresh values of the same shape. */
  fake(): string[];
  run(values: string[]): Promise<string>;
}

const uuidFake = (n: number) => (): string[] => Array.from({ length: n }, () => randomUUID());

function probes(): Probe[] {
  const { a, b } = slice;
  const out: Probe[] = [];
  const rpc = (
    name: string,
    values: string[],
    run: (v: string[]) => Promise<unknown>,
    fake = uuidFake(values.length),
  ) => out.push({ name: `rpc ${name}`, values, fake, run: (v) => rpcAnswer(() => run(v)) });
  let bTokenRpc = "";
  let bAccess = "";
  const c = () => slice.rpc(bTokenRpc);
  // fresh credentials of B's admin for each round
  const setup = async () => {
    bTokenRpc = await b.admin.internalToken("projects");
    bAccess = await b.admin.accessToken();
    return "";
  };
  out.push({ name: "setup", values: [], fake: () => [], run: setup });
  const gql = (
    name: string,
    values: string[],
    query: string,
    vars: (v: string[]) => Record<string, unknown>,
    fake = uuidFake(values.length),
  ) =>
    out.push({
      name: `graphql ${name}`,
      values,
      fake,
      run: async (v) => httpAnswer(await slice.gql(bAccess, query, vars(v))),
    });
  const bKey = b.keys.admin.key;
  const rest = (
    name: string,
    values: string[],
    method: string,
    path: (v: string[]) => string,
    body?: (v: string[]) => unknown,
    fake = uuidFake(values.length),
  ) =>
    out.push({
      name: `rest ${name}`,
      values,
      fake,
      run: async (v) => httpAnswer(await slice.rest_(bKey, method, path(v), body?.(v))),
    });

  const P = (v: string[]) => v[0] as string;
  const gid = (t: string) => (v: string[]) => globalId(t, v[0] as string);
  const fakeCursor = (cursor: string) => () => [forgeCursor(cursor)];
  const mutation = (field: string, input: string) =>
    `mutation($input: ${input}!) { ${field}(input: $input) { __typename ... on Error { code message } } }`;

  for (const project of aData.projects) {
    const v = [project];
    rpc("GetProject", v, (x) => c().projects.getProject({ projectId: P(x) }));
    rpc("BatchGetProjects", v, (x) => c().projects.batchGetProjects({ projectIds: [P(x), bProject] }));
    rpc("UpdateProject", v, (x) =>
      c().projects.updateProject({ projectId: P(x), updateMask: { paths: ["name"] }, name: "hijacked" }),
    );
    rpc("ArchiveProject", v, (x) => c().projects.archiveProject({ projectId: P(x) }));
    rpc("CreateTask", v, (x) => c().tasks.createTask({ projectId: P(x), title: "intruder" }));
    rpc("ListTasks", v, (x) => c().tasks.listTasks({ projectId: P(x) }));
    rpc("BatchListTasks", v, (x) => c().tasks.batchListTasks({ projectIds: [P(x)] }));

    gql("node(Project)", v, "query($id: ID!) { node(id: $id) { id __typename } }", (x) => ({ id: gid("Project")(x) }));
    gql("project", v, "query($id: ID!) { project(id: $id) { id name tasks { edges { node { id } } } } }", (x) => ({
      id: gid("Project")(x),
    }));
    gql("updateProject", v, mutation("updateProject", "UpdateProjectInput"), (x) => ({
      input: { id: gid("Project")(x), name: "hijacked" },
    }));
    gql("archiveProject", v, mutation("archiveProject", "ArchiveProjectInput"), (x) => ({
      input: { id: gid("Project")(x) },
    }));
    gql("createTask", v, mutation("createTask", "CreateTaskInput"), (x) => ({
      input: { projectId: gid("Project")(x), title: "intruder" },
    }));

    rest("GET project", v, "GET", (x) => `/v1/projects/${P(x)}`);
    rest("GET project (global id)", v, "GET", (x) => `/v1/projects/${encodeURIComponent(gid("Project")(x))}`);
    rest(
      "PATCH project",
      v,
      "PATCH",
      (x) => `/v1/projects/${P(x)}`,
      () => ({ name: "hijacked" }),
    );
    rest("DELETE project", v, "DELETE", (x) => `/v1/projects/${P(x)}`);
    rest("GET project tasks", v, "GET", (x) => `/v1/projects/${P(x)}/tasks`);
    rest(
      "POST project task",
      v,
      "POST",
      (x) => `/v1/projects/${P(x)}/tasks`,
      () => ({ title: "intruder" }),
    );
  }

  for (const task of aData.tasks) {
    const v = [task];
    rpc("GetTask", v, (x) => c().tasks.getTask({ taskId: P(x) }));
    rpc("BatchGetTasks", v, (x) => c().tasks.batchGetTasks({ taskIds: [P(x), bTask] }));
    rpc("UpdateTask", v, (x) => c().tasks.updateTask({ taskId: P(x), updateMask: { paths: ["title"] }, title: "x" }));
    rpc("MoveTask", v, (x) => c().tasks.moveTask({ taskId: P(x) }));
    rpc("MoveTask(before)", v, (x) => c().tasks.moveTask({ taskId: bTask, beforeTaskId: P(x) }));
    rpc("DeleteTask", v, (x) => c().tasks.deleteTask({ taskId: P(x) }));
    rpc("AddComment", v, (x) => c().tasks.addComment({ taskId: P(x), body: "intruder" }));
    rpc("ListComments", v, (x) => c().tasks.listComments({ taskId: P(x) }));
    rpc("BatchListComments", v, (x) => c().tasks.batchListComments({ taskIds: [P(x)] }));

    gql("node(Task)", v, "query($id: ID!) { node(id: $id) { id __typename } }", (x) => ({ id: gid("Task")(x) }));
    gql("task", v, "query($id: ID!) { task(id: $id) { id title comments { edges { node { id body } } } } }", (x) => ({
      id: gid("Task")(x),
    }));
    gql("updateTask", v, mutation("updateTask", "UpdateTaskInput"), (x) => ({
      input: { id: gid("Task")(x), title: "x" },
    }));
    gql("moveTask", v, mutation("moveTask", "MoveTaskInput"), (x) => ({ input: { id: gid("Task")(x) } }));
    gql("moveTask(before)", v, mutation("moveTask", "MoveTaskInput"), (x) => ({
      input: { id: globalId("Task", bTask), beforeTaskId: gid("Task")(x) },
    }));
    gql("deleteTask", v, mutation("deleteTask", "DeleteTaskInput"), (x) => ({ input: { id: gid("Task")(x) } }));
    gql("addComment", v, mutation("addComment", "AddCommentInput"), (x) => ({
      input: { taskId: gid("Task")(x), body: "intruder" },
    }));

    rest("GET task", v, "GET", (x) => `/v1/tasks/${P(x)}`);
    rest(
      "PATCH task",
      v,
      "PATCH",
      (x) => `/v1/tasks/${P(x)}`,
      () => ({ title: "x" }),
    );
    rest("DELETE task", v, "DELETE", (x) => `/v1/tasks/${P(x)}`);
    rest(
      "POST move",
      v,
      "POST",
      (x) => `/v1/tasks/${P(x)}/move`,
      () => ({}),
    );
    rest(
      "POST move (before)",
      v,
      "POST",
      () => `/v1/tasks/${bTask}/move`,
      (x) => ({ before_task_id: P(x) }),
    );
    rest("GET comments", v, "GET", (x) => `/v1/tasks/${P(x)}/comments`);
    rest(
      "POST comment",
      v,
      "POST",
      (x) => `/v1/tasks/${P(x)}/comments`,
      () => ({ body: "intruder" }),
    );
  }

  for (const comment of aData.comments) {
    gql("node(Comment)", [comment], "query($id: ID!) { node(id: $id) { id __typename } }", (x) => ({
      id: gid("Comment")(x),
    }));
  }

  for (const user of aData.users) {
    const v = [user];
    rpc("ListTasks(assignee_id)", v, (x) => c().tasks.listTasks({ projectId: bProject, assigneeId: P(x) }));
    rpc("BatchListTasks(assignee_id)", v, (x) =>
      c().tasks.batchListTasks({ projectIds: [bProject], assigneeId: P(x) }),
    );
    gql("node(User)", v, "query($id: ID!) { node(id: $id) { id __typename } }", (x) => ({ id: gid("User")(x) }));
    gql(
      "Project.tasks(assigneeId)",
      v,
      "query($p: ID!, $u: ID!) { project(id: $p) { tasks(assigneeId: $u) { edges { node { id } } } } }",
      (x) => ({
        p: globalId("Project", bProject),
        u: gid("User")(x),
      }),
    );
    rest("GET tasks?assignee_id", v, "GET", (x) => `/v1/projects/${bProject}/tasks?assignee_id=${P(x)}`);
  }
  // B's credentials, A's tenant: sign-in answers exactly as for a tenant that does not exist
  gql("login(tenantId)", [a.id], mutation("login", "LoginInput"), (x) => ({
    input: { email: b.member.email, password: b.member.password, tenantId: P(x) },
  }));

  const { rpc: rc, gql: gc, rest: xc } = aData.cursors;
  rpc(
    "ListProjects(cursor)",
    [rc.projects as string],
    (x) => c().projects.listProjects({ page: { pageSize: 1, pageToken: P(x) } }),
    fakeCursor(rc.projects as string),
  );
  rpc(
    "ListTasks(cursor)",
    [rc.tasks as string],
    (x) => c().tasks.listTasks({ projectId: bProject, page: { pageSize: 1, pageToken: P(x) } }),
    fakeCursor(rc.tasks as string),
  );
  rpc(
    "ListComments(cursor)",
    [rc.comments as string],
    (x) => c().tasks.listComments({ taskId: bTask, page: { pageSize: 1, pageToken: P(x) } }),
    fakeCursor(rc.comments as string),
  );
  gql(
    "projects(after)",
    [gc.projects as string],
    "query($c: String!) { projects(first: 1, after: $c) { edges { node { id } } } }",
    (x) => ({ c: P(x) }),
    fakeCursor(gc.projects as string),
  );
  gql(
    "Project.tasks(after)",
    [gc.tasks as string],
    "query($p: ID!, $c: String!) { project(id: $p) { tasks(first: 1, after: $c) { edges { node { id } } } } }",
    (x) => ({ p: globalId("Project", bProject), c: P(x) }),
    fakeCursor(gc.tasks as string),
  );
  gql(
    "Task.comments(after)",
    [gc.comments as string],
    "query($t: ID!, $c: String!) { task(id: $t) { comments(first: 1, after: $c) { edges { node { id } } } } }",
    (x) => ({ t: globalId("Task", bTask), c: P(x) }),
    fakeCursor(gc.comments as string),
  );
  rest(
    "GET projects?cursor",
    [xc.projects as string],
    "GET",
    (x) => `/v1/projects?limit=1&cursor=${encodeURIComponent(P(x))}`,
    undefined,
    fakeCursor(xc.projects as string),
  );
  rest(
    "GET tasks?cursor",
    [xc.tasks as string],
    "GET",
    (x) => `/v1/projects/${bProject}/tasks?limit=1&cursor=${encodeURIComponent(P(x))}`,
    undefined,
    fakeCursor(xc.tasks as string),
  );
  rest(
    "GET comments?cursor",
    [xc.comments as string],
    "GET",
    (x) => `/v1/tasks/${bTask}/comments?limit=1&cursor=${encodeURIComponent(P(x))}`,
    undefined,
    fakeCursor(xc.comments as string),
  );
  return out;
}

async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

// ---- A's data and cursors, B's own objects ------------------------------------------------------------------

async function seedA(): Promise<AData> {
  const { a } = slice;
  const c = slice.rpc(await a.member.internalToken("projects"));
  const users = [a.owner.userId, a.admin.userId, a.member.userId, a.viewer.userId];
  const projects: string[] = [];
  const tasks: string[] = [];
  const comments: string[] = [];
  for (let i = 0; i < 3; i++) {
    const { project } = await c.projects.createProject({ name: `${SECRET} project ${i}`, key: projectKey() });
    projects.push(project?.id as string);
    for (let j = 0; j < 3; j++) {
      const { task } = await c.tasks.createTask({
        projectId: project?.id as string,
        title: `${SECRET} task ${i}.${j}`,
        assigneeId: users[j] as string,
        labels: ["shared"],
      });
      tasks.push(task?.id as string);
      if (j === 0) {
        for (let k = 0; k < 2; k++) {
          const { comment } = await c.tasks.addComment({ taskId: task?.id as string, body: `${SECRET} comment ${k}` });
          comments.push(comment?.id as string);
        }
      }
    }
  }
  const rpcCursors = {
    projects: (await c.projects.listProjects({ page: { pageSize: 1 } })).page?.nextPageToken as string,
    tasks: (await c.tasks.listTasks({ projectId: projects[0] as string, page: { pageSize: 1 } })).page
      ?.nextPageToken as string,
    comments: (await c.tasks.listComments({ taskId: tasks[0] as string, page: { pageSize: 1 } })).page
      ?.nextPageToken as string,
  };
  const token = await a.member.accessToken();
  const g = async (query: string, variables: Record<string, unknown>, path: (d: Json) => string) => {
    const res = await slice.gql(token, query, variables);
    const cursor = path(json(res.text).data);
    expect(cursor, res.text).toBeTruthy();
    return cursor;
  };
  const gqlCursors = {
    projects: await g("{ projects(first: 1) { pageInfo { endCursor } } }", {}, (d) => d.projects.pageInfo.endCursor),
    tasks: await g(
      "query($p: ID!) { project(id: $p) { tasks(first: 1) { pageInfo { endCursor } } } }",
      { p: globalId("Project", projects[0] as string) },
      (d) => d.project.tasks.pageInfo.endCursor,
    ),
    comments: await g(
      "query($t: ID!) { task(id: $t) { comments(first: 1) { pageInfo { endCursor } } } }",
      { t: globalId("Task", tasks[0] as string) },
      (d) => d.task.comments.pageInfo.endCursor,
    ),
  };
  const r = async (path: string) => {
    const res = await slice.rest_(a.keys.member.key, "GET", path);
    const cursor = json(res.text).next_cursor as string;
    expect(cursor, res.text).toBeTruthy();
    return cursor;
  };
  const restCursors = {
    projects: await r("/v1/projects?limit=1"),
    tasks: await r(`/v1/projects/${projects[0]}/tasks?limit=1`),
    comments: await r(`/v1/tasks/${tasks[0]}/comments?limit=1`),
  };
  for (const cur of [...Object.values(rpcCursors), ...Object.values(gqlCursors), ...Object.values(restCursors)]) {
    expect(cur).toBeTruthy();
  }
  return {
    projects,
    tasks,
    comments,
    users,
    cursors: { rpc: rpcCursors, gql: gqlCursors, rest: restCursors },
    snapshot: await snapshotA(),
  };
}

/** Everything of A as A's admin reads it (to prove B changed nothing). */
async function snapshotA(): Promise<string> {
  const c = slice.rpc(await slice.a.admin.internalToken("projects"));
  const { projects } = await c.projects.listProjects({ page: { pageSize: 100 }, includeArchived: true });
  const all: unknown[] = [projects];
  for (const p of projects) {
    const { tasks } = await c.tasks.listTasks({ projectId: p.id, page: { pageSize: 100 } });
    all.push(tasks);
    for (const t of tasks) all.push((await c.tasks.listComments({ taskId: t.id, page: { pageSize: 100 } })).comments);
  }
  return JSON.stringify(all, bigintSafe);
}

beforeAll(async () => {
  slice = await startSlice();
  const c = slice.rpc(await slice.b.member.internalToken("projects"));
  const { project } = await c.projects.createProject({ name: "B's own", key: projectKey() });
  bProject = project?.id as string;
  const { task } = await c.tasks.createTask({ projectId: bProject, title: "B's task" });
  bTask = task?.id as string;
  await c.tasks.addComment({ taskId: bTask, body: "B's comment" });
  aData = await seedA();
}, 120_000);
afterAll(async () => {
  await slice?.stop();
});

it("answers B about A's ids exactly as about ids that do not exist, ≥ 2,000 attempts, 0 leaks", async () => {
  const leaks: string[] = [];
  let attempts = 0;
  const answers = new Map<string, string>();
  const aIds = [...aData.projects, ...aData.tasks, ...aData.comments, ...aData.users, slice.a.id];
  for (let round = 0; round < ROUNDS; round++) {
    const all = probes();
    // credentials first (fresh each round), then the probes
    for (const p of all.filter((p) => p.name === "setup")) await p.run([]);
    await pool(
      all.filter((p) => p.name !== "setup"),
      CONCURRENCY,
      async (probe) => {
        const fake = probe.fake();
        const withA = await probe.run(probe.values);
        const withFake = await probe.run(fake);
        attempts++;
        const left = substitute(withA, probe.values);
        const right = substitute(withFake, fake);
        answers.set(probe.name, left);
        if (left !== right) leaks.push(`${probe.name}: A → ${left}\n  nonexistent → ${right}`);
        else if (left.includes(SECRET)) leaks.push(`${probe.name}: answer carries A's data: ${left}`);
      },
    );
  }

  // B's own lists never carry an A id, on any surface
  const b = slice.b;
  const c = slice.rpc(await b.admin.internalToken("projects"));
  const lists = [
    JSON.stringify(await c.projects.listProjects({ page: { pageSize: 100 }, includeArchived: true }), bigintSafe),
    JSON.stringify(await c.tasks.listTasks({ projectId: bProject, page: { pageSize: 100 } }), bigintSafe),
    JSON.stringify(await c.tasks.listComments({ taskId: bTask, page: { pageSize: 100 } }), bigintSafe),
    (
      await slice.gql(
        await b.admin.accessToken(),
        "{ projects(first: 100, includeArchived: true) { edges { node { id name tasks(first: 100) { edges { node { id title assignee { id } comments(first: 100) { edges { node { id body } } } } } } } } } }",
      )
    ).text,
    (await slice.rest_(b.keys.admin.key, "GET", "/v1/projects?limit=100&include_archived=true")).text,
    (await slice.rest_(b.keys.admin.key, "GET", `/v1/projects/${bProject}/tasks?limit=100`)).text,
    (await slice.rest_(b.keys.admin.key, "GET", `/v1/tasks/${bTask}/comments?limit=100`)).text,
  ];
  for (const text of lists) {
    expect(text).toContain(bProject.length > 0 ? "" : "never");
    for (const id of aIds) if (text.includes(id)) leaks.push(`B's list contains A's id ${id}: ${text}`);
    for (const id of aIds.slice(0, -1)) {
      for (const t of ["Project", "Task", "User"]) {
        if (text.includes(globalId(t, id))) leaks.push(`B's list contains A's global id ${t}:${id}`);
      }
    }
    if (text.includes(SECRET)) leaks.push(`B's list carries A's data: ${text}`);
  }
  expect(lists[0]).toContain(bProject);

  // and A's data is exactly as it was
  expect(await snapshotA()).toBe(aData.snapshot);

  // every probe reached the object lookup: B's credential was accepted, nothing refused up front
  for (const [name, answer] of answers) {
    expect(answer, name).not.toMatch(
      /"code":(7|8|16),|"status":(401|403|429|5\d\d),|UNAUTHENTICATED|FORBIDDEN|RATE_LIMITED|INTERNAL/,
    );
  }
  // and the comparison tells apart what must differ: B's own objects against nonexistent ones
  const controlSet = probes();
  for (const p of controlSet.filter((p) => p.name === "setup")) await p.run([]);
  const controls = controlSet.filter((p) =>
    ["rpc GetProject", "rpc ListTasks", "graphql project", "rest GET project", "rest GET project tasks"].includes(
      p.name,
    ),
  );
  for (const name of new Set(controls.map((p) => p.name))) {
    const probe = controls.find((p) => p.name === name) as Probe;
    const fake = probe.fake();
    expect(substitute(await probe.run([bProject]), [bProject]), name).not.toBe(substitute(await probe.run(fake), fake));
  }
  console.log(`cross-tenant: ${attempts} attempts, ${leaks.length} leaks`);
  expect(leaks.slice(0, 5)).toEqual([]);
  expect(leaks).toHaveLength(0);
  expect(attempts).toBeGreaterThanOrEqual(2_000);
}, 240_000);
