/**
 * Cross-tenant matrix across tiers: tenant A lives in the silo tier (its own database and its own
 * projects process, which the gateways route its calls to), B in the bridge tier (its own
 * database), C in the pool; A and B were moved there through MoveTenant before they had data. Every
 * projects RPC, GraphQL field / mutation and REST route is called with one tenant's credentials
 * against another's ids (plain ids, Relay global ids, ids in list filters, its pagination
 * cursors), in all six directions (rounds rotate through them; gRPC goes to the instance serving
 * the prober, so a silo prober asks its own process), each answer compared — status and full body,
 * after removing request / trace ids — with the answer for a freshly generated nonexistent id of
 * the same shape. A tenant's lists must never contain another's ids, and every tenant's data must
 * be unchanged afterwards.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { registerSecret } from "@tessera/test/harness";
import { afterAll, beforeAll, expect, it } from "vitest";
import { adminQuery, databasesLike } from "../tiers/support.ts";
import { globalId, type Json, localId, projectKey, type Slice, type SliceTenant, startSlice } from "./setup.ts";

let slice: Slice;

/** Rounds of the whole matrix, rotating through the six directions. */
const ROUNDS = Number(process.env.SLICE_ROUNDS ?? 12);
const CONCURRENCY = 4;

/** What one tenant holds: the data the other tenant probes for, and its own objects it probes with. */
interface Owned {
  projects: string[];
  tasks: string[];
  comments: string[];
  users: string[];
  /** Cursors from the tenant's own listings, by surface. */
  cursors: { rpc: Record<string, string>; gql: Record<string, string>; rest: Record<string, string> };
  /** Its objects as it sees them before the matrix. */
  snapshot: string;
}

/** One tenant of the matrix. */
interface Side {
  name: "A" | "B" | "C";
  t: SliceTenant;
  /** A marker in every name the tenant writes: any answer to the other tenant that contains it is a leak. */
  secret: string;
  /** Its own project and task, outside the probed data: what it uses when it is the prober. */
  ownProject: string;
  ownTask: string;
  data: Owned;
}
let A: Side;
let B: Side;
let C: Side;

/** Who probes whom. */
interface Direction {
  prober: Side;
  owner: Side;
}
const label = (d: Direction) => `${d.prober.name}(${d.prober.t.tier}) → ${d.owner.name}(${d.owner.t.tier})`;

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

/** An identity page token (or GraphQL cursor around one) of the same shape, for another tenant and position. */
function forgeIdentityCursor(cursor: string): string {
  const text = Buffer.from(cursor, "base64url").toString("utf8");
  if (text.startsWith("c1:")) {
    const [prefix, skip, ...rest] = text.split(":");
    return Buffer.from(`${prefix}:${skip}:${forgeIdentityCursor(rest.join(":"))}`, "utf8").toString("base64url");
  }
  const token = JSON.parse(text) as { t: string; l: string; a: string; i: string };
  return Buffer.from(JSON.stringify({ ...token, t: randomUUID(), i: randomUUID() })).toString("base64url");
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

function probes({ prober, owner }: Direction): Probe[] {
  const [a, b, aData, bProject, bTask] = [owner.t, prober.t, owner.data, prober.ownProject, prober.ownTask];
  const out: Probe[] = [];
  const rpc = (
    name: string,
    values: string[],
    run: (v: string[]) => Promise<unknown>,
    fake = uuidFake(values.length),
  ) => out.push({ name: `rpc ${name}`, values, fake, run: (v) => rpcAnswer(() => run(v)) });
  let bTokenRpc = "";
  let bAccess = "";
  const c = () => slice.rpc(bTokenRpc, b);
  // fresh credentials of the prober's admin for each round
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
  // the prober's credentials, the owner's tenant: sign-in answers exactly as for a tenant that does not exist
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
  // tenant administration (identity): members, invitations, API keys and sessions, as the prober's admin user
  const adminData = administered.get(a.id);
  if (!adminData) throw new Error("the owner's administration ids were not gathered");
  const restAsUser = (
    name: string,
    values: string[],
    method: string,
    path: (v: string[]) => string,
    body?: (v: string[]) => unknown,
    fake = uuidFake(values.length),
  ) =>
    out.push({
      name: `rest(user) ${name}`,
      values,
      fake,
      run: async (v) => {
        const b2 = body?.(v);
        const res = await fetch(`${slice.rest.url}${path(v)}`, {
          method,
          headers: {
            authorization: `Bearer ${bAccess}`,
            ...(b2 !== undefined && { "content-type": "application/json" }),
          },
          ...(b2 !== undefined && { body: JSON.stringify(b2) }),
          signal: AbortSignal.timeout(20_000),
        });
        return httpAnswer({
          status: res.status,
          contentType: res.headers.get("content-type") ?? "",
          text: await res.text(),
        });
      },
    });
  for (const user of aData.users) {
    const v = [user];
    gql("updateMemberRole", v, mutation("updateMemberRole", "UpdateMemberRoleInput"), (x) => ({
      input: { userId: gid("User")(x), role: "VIEWER" },
    }));
    gql("removeMember", v, mutation("removeMember", "RemoveMemberInput"), (x) => ({
      input: { userId: gid("User")(x) },
    }));
    gql("revokeAllSessions", v, mutation("revokeAllSessions", "RevokeAllSessionsInput"), (x) => ({
      input: { userId: gid("User")(x) },
    }));
    gql("sessions(userId)", v, "query($u: ID) { sessions(first: 5, userId: $u) { edges { node { id } } } }", (x) => ({
      u: gid("User")(x),
    }));
    restAsUser(
      "PATCH member",
      v,
      "PATCH",
      (x) => `/v1/members/${P(x)}`,
      () => ({ role: "viewer" }),
    );
    restAsUser("DELETE member", v, "DELETE", (x) => `/v1/members/${P(x)}`);
    restAsUser("GET sessions?user_id", v, "GET", (x) => `/v1/sessions?user_id=${P(x)}`);
  }
  for (const key of Object.values(a.keys).map((k) => k.id)) {
    const v = [key];
    gql("revokeApiKey", v, mutation("revokeApiKey", "RevokeApiKeyInput"), (x) => ({ input: { id: gid("ApiKey")(x) } }));
    restAsUser("DELETE api key", v, "DELETE", (x) => `/v1/api-keys/${P(x)}`);
  }
  // the owner's SCIM token: revoking or rotating it answers as for a token that does not exist
  const scimToken = [adminData.scimToken];
  gql("revokeScimToken", scimToken, mutation("revokeScimToken", "RevokeScimTokenInput"), (x) => ({
    input: { id: gid("ScimToken")(x) },
  }));
  gql("rotateScimToken", scimToken, mutation("rotateScimToken", "RotateScimTokenInput"), (x) => ({
    input: { id: gid("ScimToken")(x) },
  }));
  restAsUser("DELETE scim token", scimToken, "DELETE", (x) => `/v1/scim/tokens/${P(x)}`);
  restAsUser(
    "POST scim token rotate",
    scimToken,
    "POST",
    (x) => `/v1/scim/tokens/${P(x)}/rotate`,
    () => ({}),
  );
  for (const [id, type, field, path] of [
    [adminData.invitation, "Invitation", "revokeInvitation", "invitations"],
    [adminData.session, "Session", "revokeSession", "sessions"],
  ] as const) {
    const input = `${field[0]?.toUpperCase()}${field.slice(1)}Input`;
    gql(field, [id], mutation(field, input), (x) => ({ input: { id: gid(type)(x) } }));
    restAsUser(`DELETE ${path}`, [id], "DELETE", (x) => `/v1/${path}/${P(x)}`);
  }
  for (const [list, field] of [
    ["members", "members"],
    ["invitations", "invitations"],
    ["api-keys", "apiKeys"],
  ] as const) {
    const cursors = adminData.cursors[list];
    gql(
      `${field}(after)`,
      [cursors.gql],
      `query($c: String!) { ${field}(first: 1, after: $c) { edges { node { id } } } }`,
      (x) => ({ c: P(x) }),
      () => [forgeIdentityCursor(cursors.gql)],
    );
    restAsUser(
      `GET ${list}?cursor`,
      [cursors.rest],
      "GET",
      (x) => `/v1/${list}?limit=1&cursor=${encodeURIComponent(P(x))}`,
      undefined,
      () => [forgeIdentityCursor(cursors.rest)],
    );
  }
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

// ---- each tenant's data and cursors, and its own objects ---------------------------------------------------

/** Seeds one tenant: its own project / task / comment, then the probed data (3 projects, 9 tasks, 6 comments). */
async function seedSide(name: Side["name"], t: SliceTenant): Promise<Side> {
  const secret = `secret${name}${randomBytes(4).toString("hex")}`;
  const c = slice.rpc(await t.member.internalToken("projects"), t);
  const own = await c.projects.createProject({ name: `${name}'s own`, key: projectKey() });
  const ownProject = own.project?.id as string;
  const ownTask = (await c.tasks.createTask({ projectId: ownProject, title: `${name}'s task` })).task?.id as string;
  await c.tasks.addComment({ taskId: ownTask, body: `${name}'s comment` });

  const users = [t.owner.userId, t.admin.userId, t.member.userId, t.viewer.userId];
  const projects: string[] = [];
  const tasks: string[] = [];
  const comments: string[] = [];
  for (let i = 0; i < 3; i++) {
    const { project } = await c.projects.createProject({ name: `${secret} project ${i}`, key: projectKey() });
    projects.push(project?.id as string);
    for (let j = 0; j < 3; j++) {
      const { task } = await c.tasks.createTask({
        projectId: project?.id as string,
        title: `${secret} task ${i}.${j}`,
        assigneeId: users[j] as string,
        labels: ["shared"],
      });
      tasks.push(task?.id as string);
      if (j === 0) {
        for (let k = 0; k < 2; k++) {
          const { comment } = await c.tasks.addComment({ taskId: task?.id as string, body: `${secret} comment ${k}` });
          comments.push(comment?.id as string);
        }
      }
    }
  }
  // the tenant's own reads, on every surface, give the cursors the other tenant replays
  const rpcCursors = {
    projects: (await c.projects.listProjects({ page: { pageSize: 1 } })).page?.nextPageToken as string,
    tasks: (await c.tasks.listTasks({ projectId: projects[0] as string, page: { pageSize: 1 } })).page
      ?.nextPageToken as string,
    comments: (await c.tasks.listComments({ taskId: tasks[0] as string, page: { pageSize: 1 } })).page
      ?.nextPageToken as string,
  };
  const token = await t.member.accessToken();
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
    const res = await slice.rest_(t.keys.member.key, "GET", path);
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
  const side: Side = {
    name,
    t,
    secret,
    ownProject,
    ownTask,
    data: {
      projects,
      tasks,
      comments,
      users,
      cursors: { rpc: rpcCursors, gql: gqlCursors, rest: restCursors },
      snapshot: "",
    },
  };
  side.data.snapshot = await snapshot(side);
  return side;
}

/** Everything of a tenant as its admin reads it (to prove the other tenant changed nothing). */
async function snapshot(side: Side): Promise<string> {
  const c = slice.rpc(await side.t.admin.internalToken("projects"), side.t);
  const { projects } = await c.projects.listProjects({ page: { pageSize: 100 }, includeArchived: true });
  const all: unknown[] = [projects];
  for (const p of projects) {
    const { tasks } = await c.tasks.listTasks({ projectId: p.id, page: { pageSize: 100 } });
    all.push(tasks);
    for (const t of tasks) all.push((await c.tasks.listComments({ taskId: t.id, page: { pageSize: 100 } })).comments);
  }
  return JSON.stringify(all, bigintSafe);
}

/** Every id of a tenant the other must never see. */
const idsOf = (side: Side) => [
  ...side.data.projects,
  ...side.data.tasks,
  ...side.data.comments,
  ...side.data.users,
  side.ownProject,
  side.ownTask,
  ...[administered.get(side.t.id)?.scimToken ?? ""].filter((id) => id !== ""),
];

/** The prober's own lists, on every surface, as its admin reads them. */
async function listsOf(side: Side): Promise<string[]> {
  const { t, ownProject, ownTask } = side;
  const c = slice.rpc(await t.admin.internalToken("projects"), t);
  return [
    JSON.stringify(await c.projects.listProjects({ page: { pageSize: 100 }, includeArchived: true }), bigintSafe),
    JSON.stringify(await c.tasks.listTasks({ projectId: ownProject, page: { pageSize: 100 } }), bigintSafe),
    JSON.stringify(await c.tasks.listComments({ taskId: ownTask, page: { pageSize: 100 } }), bigintSafe),
    (
      await slice.gql(
        await t.admin.accessToken(),
        "{ projects(first: 100, includeArchived: true) { edges { node { id name tasks(first: 100) { edges { node { id title assignee { id } comments(first: 100) { edges { node { id body } } } } } } } } } }",
      )
    ).text,
    (await slice.rest_(t.keys.admin.key, "GET", "/v1/projects?limit=100&include_archived=true")).text,
    (await slice.rest_(t.keys.admin.key, "GET", `/v1/projects/${ownProject}/tasks?limit=100`)).text,
    (await slice.rest_(t.keys.admin.key, "GET", `/v1/tasks/${ownTask}/comments?limit=100`)).text,
    // SCIM tokens: admin keys carry no identity scope, so the admin's own sign-in reads them
    (await slice.gql(await t.admin.accessToken(), "{ scimTokens { id prefix state } }")).text,
    await (
      await fetch(`${slice.rest.url}/v1/scim/tokens`, {
        headers: { authorization: `Bearer ${await t.admin.accessToken()}` },
        signal: AbortSignal.timeout(20_000),
      })
    ).text(),
  ];
}

const hex = (id: string) => id.replaceAll("-", "");

/** RPCs the silo tenant's own projects process has served so far (its Prometheus counter). */
async function siloRequests(tenantId: string): Promise<number> {
  const dir = slice.platform.localCompute?.stateDir as string;
  const state = JSON.parse(readFileSync(join(dir, `${tenantId}.json`), "utf8"));
  const port = state.services?.projects?.metricsPort as number;
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const lines = text.split("\n").filter((l) => l.startsWith("rpc_server_requests") && l.includes("ProjectService"));
  expect(lines.length, text.slice(0, 2_000)).toBeGreaterThan(0);
  return lines.reduce((n, l) => n + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

beforeAll(async () => {
  slice = await startSlice({ tiers: { a: "silo", b: "bridge", c: "pool" } });
  A = await seedSide("A", slice.a);
  B = await seedSide("B", slice.b);
  C = await seedSide("C", slice.c as SliceTenant);
}, 240_000);

/** Per tenant id: ids and cursors of its administration data the other tenants probe for. */
const administered = new Map<
  string,
  {
    invitation: string;
    session: string;
    /** Its SCIM token's id (created by its admin; the secret is registered, never logged). */
    scimToken: string;
    cursors: Record<"members" | "invitations" | "api-keys", { gql: string; rest: string }>;
  }
>();

beforeAll(async () => {
  for (const side of [slice.a, slice.b, slice.c].filter((t): t is SliceTenant => t !== undefined)) {
    const token = await side.admin.accessToken();
    const invited = json(
      (
        await slice.gql(
          token,
          "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { ... on InviteMemberSuccess { newInvitation { invitation { id } } } } }",
          { i: { email: `probed-${randomBytes(4).toString("hex")}@example.com`, role: "VIEWER" } },
        )
      ).text,
    );
    const mine = json((await slice.gql(token, "{ mySessions(first: 1) { edges { node { id } } } }")).text);
    const scim = json(
      (
        await slice.gql(
          token,
          "mutation { createScimToken { ... on CreateScimTokenSuccess { newScimToken { secret scimToken { id } } } } }",
        )
      ).text,
    ).data.createScimToken.newScimToken;
    registerSecret(scim.secret);
    const cursors = {} as Record<"members" | "invitations" | "api-keys", { gql: string; rest: string }>;
    for (const [list, field] of [
      ["members", "members"],
      ["invitations", "invitations"],
      ["api-keys", "apiKeys"],
    ] as const) {
      const gqlAnswer = json((await slice.gql(token, `{ ${field}(first: 1) { pageInfo { endCursor } } }`)).text);
      const restAnswer = await fetch(`${slice.rest.url}/v1/${list}?limit=1`, {
        headers: { authorization: `Bearer ${token}` },
      });
      cursors[list] = { gql: gqlAnswer.data[field].pageInfo.endCursor, rest: (await restAnswer.json()).next_cursor };
      expect(cursors[list].gql && cursors[list].rest, list).toBeTruthy();
    }
    administered.set(side.id, {
      invitation: localId(invited.data.inviteMember.newInvitation.invitation.id),
      session: localId(mine.data.mySessions.edges[0].node.id),
      scimToken: localId(scim.scimToken.id),
      cursors,
    });
  }
}, 60_000);
afterAll(async () => {
  await slice?.stop();
});

it("holds A in a silo, B in a bridge database and C in the pool, each reading its own data on every surface", async () => {
  const [a, b, c] = await Promise.all(
    [A, B, C].map(async (s) => (await slice.tenancy.getTenant({ tenantId: s.t.id })).tenant),
  );
  expect(a?.tier).toBe(Tier.SILO);
  expect(a?.placement?.database).toBe(`main/t_${hex(A.t.id)}`);
  const siloUrl = a?.placement?.endpoints.projects as string;
  expect(siloUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  expect(siloUrl).not.toBe(slice.platform.services.projects?.url);
  expect(b?.tier).toBe(Tier.BRIDGE);
  expect(b?.placement?.database).toBe(`main/t_${hex(B.t.id)}`);
  expect(b?.placement?.endpoints).toEqual({});
  expect(c?.tier).toBe(Tier.POOL);
  expect(c?.placement?.database).toBe("pool");

  // beneath the contracts: A's and B's rows in their own databases only, C's in the pool only
  const pool = slice.platform.databases.projects?.name as string;
  const own = (s: Side) => `${pool}_t_${hex(s.t.id)}`;
  expect((await databasesLike(`${pool}_t_`)).sort()).toEqual([own(A), own(B)].sort());
  const count = async (database: string, table: string, tenantId: string) =>
    Number(
      (
        await adminQuery<{ n: string }>(database, `select count(*)::text as n from ${table} where tenant_id = $1`, [
          tenantId,
        ])
      )[0]?.n,
    );
  for (const [table, n] of [
    ["projects", 4],
    ["tasks", 10],
    ["comments", 7],
  ] as const) {
    for (const s of [A, B]) {
      expect(await count(own(s), table, s.t.id), `${s.name}'s ${table} in its own database`).toBe(n);
      expect(await count(pool, table, s.t.id), `${s.name}'s ${table} in the pool`).toBe(0);
    }
    expect(await count(own(A), table, B.t.id), `B's ${table} in A's database`).toBe(0);
    expect(await count(pool, table, C.t.id), `C's ${table} in the pool`).toBe(n);
  }

  // each tenant reads all of its own data back through gRPC, GraphQL and REST; A's calls through
  // both gateways are served by A's own process, the others' never
  for (const side of [A, B, C]) {
    const before = await siloRequests(A.t.id);
    const c = slice.rpc(await side.t.member.internalToken("projects"), side.t);
    const rpc = await c.projects.listProjects({ page: { pageSize: 100 } });
    expect(rpc.projects.map((p) => p.id).sort(), `${side.name} gRPC`).toEqual(
      [side.ownProject, ...side.data.projects].sort(),
    );
    const gqlAnswer = await slice.gql(
      await side.t.member.accessToken(),
      "{ projects(first: 10) { edges { node { name tasks(first: 10) { edges { node { title } } } } } } }",
    );
    const gql = json(gqlAnswer.text);
    expect(gql.errors, gqlAnswer.text).toBeUndefined();
    const titles = gql.data.projects.edges.flatMap((e: Json) => e.node.tasks.edges.map((t: Json) => t.node.title));
    expect(
      titles.filter((t: string) => t.startsWith(side.secret)),
      `${side.name} GraphQL`,
    ).toHaveLength(9);
    const rest = json((await slice.rest_(side.t.keys.member.key, "GET", "/v1/projects?limit=100")).text);
    expect(
      rest.data.map((p: Json) => p.name).filter((n: string) => n.startsWith(side.secret)),
      `${side.name} REST`,
    ).toHaveLength(3);
    expect(side.data.snapshot).toContain(side.secret);
    const served = (await siloRequests(A.t.id)) - before;
    // gRPC ListProjects, GraphQL projects, REST /v1/projects: three ProjectService calls at least
    if (side === A) expect(served, "A's calls served by its silo process").toBeGreaterThanOrEqual(3);
    else expect(served, `${side.name}'s calls never reach A's silo process`).toBe(0);
  }

  // A's own process serves A alone: another tenant's token is refused there, whatever it asks
  const intruder = slice.rpc(await C.t.admin.internalToken("projects"), A.t);
  const refused = await intruder.projects.listProjects({}).catch((e: unknown) => ConnectError.from(e));
  expect((refused as ConnectError).code).toBe(Code.PermissionDenied);
});

/** Every ordered pair of the three tenants. */
const DIRECTIONS = (): Direction[] =>
  [
    [A, B],
    [B, A],
    [A, C],
    [C, A],
    [B, C],
    [C, B],
  ].map(([prober, owner]) => ({ prober, owner }) as Direction);

it("answers each tenant about another's ids across silo, bridge and pool exactly as about ids that do not exist: ≥ 2,000 attempts, 0 leaks", async () => {
  const leaks: string[] = [];
  let attempts = 0;
  const crossed = new Map<string, number>();
  const answers = new Map<string, string>();
  const directions = DIRECTIONS();
  for (let round = 0; round < ROUNDS; round++) {
    const dir = directions[round % directions.length] as Direction;
    const { prober, owner } = dir;
    const all = probes(dir);
    // credentials first (fresh each round), then the probes
    for (const p of all.filter((p) => p.name === "setup")) await p.run([]);
    await pool(
      all.filter((p) => p.name !== "setup"),
      CONCURRENCY,
      async (probe) => {
        const fake = probe.fake();
        const withOwner = await probe.run(probe.values);
        const withFake = await probe.run(fake);
        attempts++;
        if (prober.t.tier !== owner.t.tier) crossed.set(label(dir), (crossed.get(label(dir)) ?? 0) + 1);
        const left = substitute(withOwner, probe.values);
        const right = substitute(withFake, fake);
        answers.set(`${label(dir)} ${probe.name}`, left);
        if (left !== right) leaks.push(`${label(dir)} ${probe.name}: owner's → ${left}\n  nonexistent → ${right}`);
        else if (left.includes(owner.secret))
          leaks.push(`${label(dir)} ${probe.name}: answer carries ${owner.name}'s data: ${left}`);
      },
    );
  }

  for (const { prober, owner } of directions) {
    // the prober's own lists never carry an id of the owner, on any surface
    const ids = idsOf(owner);
    const lists = await listsOf(prober);
    for (const text of lists) {
      for (const id of [...ids, owner.t.id]) {
        if (text.includes(id)) leaks.push(`${prober.name}'s list contains ${owner.name}'s id ${id}: ${text}`);
      }
      for (const id of ids) {
        for (const t of ["Project", "Task", "User", "Comment", "ScimToken"]) {
          if (text.includes(globalId(t, id)))
            leaks.push(`${prober.name}'s list contains ${owner.name}'s global id ${t}:${id}`);
        }
      }
      if (text.includes(owner.secret)) leaks.push(`${prober.name}'s list carries ${owner.name}'s data: ${text}`);
    }
    expect(lists[0]).toContain(prober.ownProject);
    // the SCIM lists are not trivially empty: each holds the prober's own token (GraphQL, REST)
    const ownScim = administered.get(prober.t.id)?.scimToken as string;
    expect(lists.at(-2)).toContain(globalId("ScimToken", ownScim));
    expect(lists.at(-1)).toContain(ownScim);
    // and the owner's data is exactly as it was
    expect(await snapshot(owner), `${owner.name}'s data`).toBe(owner.data.snapshot);
  }

  // every probe reached the object lookup: the prober's credential was accepted, nothing refused up front
  for (const [name, answer] of answers) {
    expect(answer, name).not.toMatch(
      /"code":(7|8|14|16),|"status":(401|403|429|5\d\d),|UNAUTHENTICATED|FORBIDDEN|RATE_LIMITED|UNAVAILABLE|INTERNAL/,
    );
  }
  // and the comparison tells apart what must differ: each prober's own objects (read from its own
  // tier) against nonexistent ones, on every surface
  for (const dir of directions) {
    const controlSet = probes(dir);
    for (const p of controlSet.filter((p) => p.name === "setup")) await p.run([]);
    const controls = controlSet.filter((p) =>
      ["rpc GetProject", "rpc ListTasks", "graphql project", "rest GET project", "rest GET project tasks"].includes(
        p.name,
      ),
    );
    const own = dir.prober.ownProject;
    for (const name of new Set(controls.map((p) => p.name))) {
      const probe = controls.find((p) => p.name === name) as Probe;
      const fake = probe.fake();
      const mine = await probe.run([own]);
      expect(mine, `${label(dir)} ${name}`).toMatch(new RegExp(`${dir.prober.name}'s (own|task)`));
      expect(substitute(mine, [own]), `${label(dir)} ${name}`).not.toBe(substitute(await probe.run(fake), fake));
    }
  }
  const across = [...crossed.values()].reduce((x, y) => x + y, 0);
  console.log(
    `cross-tenant: ${attempts} attempts, ${across} across tiers (${[...crossed].map(([d, n]) => `${d}: ${n}`).join(", ")}), ${leaks.length} leaks`,
  );
  expect(leaks.slice(0, 5)).toEqual([]);
  expect(leaks).toHaveLength(0);
  expect(attempts).toBeGreaterThanOrEqual(2_000);
  // every attempt crossed between the tiers, in all six directions
  expect(across).toBe(attempts);
  for (const dir of directions) expect(crossed.get(label(dir)), label(dir)).toBeGreaterThanOrEqual(300);
}, 420_000);
