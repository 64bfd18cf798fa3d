import { randomUUID } from "node:crypto";
import { TaskStatus } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Caller,
  Code,
  failure,
  type InProcess,
  newKey,
  type ProjectsEnv,
  projectsEnv,
  startInProcess,
  tenant,
} from "./support.ts";

let env: ProjectsEnv;
let svc: InProcess;
let member: Caller;
let admin: Caller;

beforeAll(async () => {
  env = await projectsEnv("projects_t");
  svc = await startInProcess(env, "projects-tasks");
  const t = tenant(env.issuer);
  member = await t.user("member");
  admin = await t.user("admin");
});

afterAll(async () => {
  await svc?.stop();
  await env?.close();
});

async function project(): Promise<string> {
  const res = await svc.projects.createProject({ key: newKey(), name: "Board" }, member.opts);
  return res.project?.id ?? "";
}

async function task(projectId: string, title = "Do it", extra: Record<string, unknown> = {}) {
  const res = await svc.tasks.createTask({ projectId, title, ...extra }, member.opts);
  if (!res.task) throw new Error("no task in the answer");
  return res.task;
}

async function order(projectId: string): Promise<string[]> {
  const res = await svc.tasks.listTasks({ projectId, page: { pageSize: 500 } }, member.opts);
  return res.tasks.map((t) => t.title);
}

describe("CreateTask and GetTask", () => {
  it("creates a TODO task at the end of its project, readable by id", async () => {
    const p = await project();
    const assignee = randomUUID();
    const first = await task(p, "First", {
      assigneeId: assignee.toUpperCase(),
      labels: ["bug", "ui"],
      dueDate: "2030-02-28",
    });
    expect(first).toMatchObject({
      projectId: p,
      title: "First",
      status: TaskStatus.TODO,
      assigneeId: assignee,
      labels: ["bug", "ui"],
      dueDate: "2030-02-28",
      version: 1n,
    });
    const second = await task(p, "Second", { status: TaskStatus.IN_PROGRESS });
    expect(second).toMatchObject({ status: TaskStatus.IN_PROGRESS, assigneeId: "", dueDate: "", labels: [] });
    expect(second.position).toBeGreaterThan(first.position);
    expect((await svc.tasks.getTask({ taskId: first.id }, member.opts)).task).toEqual(first);
  });

  it("refuses bad input with field-level InvalidArgument", async () => {
    const p = await project();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ title: "" }, "title"],
      [{ title: "  " }, "title"],
      [{ title: "x", dueDate: "2030-02-30" }, "due_date"],
      [{ title: "x", dueDate: "30-01-2030" }, "due_date"],
      [{ title: "x", assigneeId: "bob" }, "assignee_id"],
      [{ title: "x", labels: ["Bug"] }, "labels[0]"],
      [{ title: "x", labels: ["a", "a"] }, "labels"],
      [{ title: "x", status: 9 }, "status"],
    ];
    for (const [extra, field] of cases) {
      const f = await failure(svc.tasks.createTask({ projectId: p, ...extra }, member.opts));
      expect(f, JSON.stringify(extra)).toMatchObject({ code: Code.InvalidArgument, fields: [field] });
    }
  });

  it("answers NotFound for a missing project and FailedPrecondition for an archived one", async () => {
    const missing = await failure(svc.tasks.createTask({ projectId: randomUUID(), title: "x" }, member.opts));
    expect(missing).toMatchObject({ code: Code.NotFound, message: "project not found" });
    const p = await project();
    await svc.projects.archiveProject({ projectId: p }, admin.opts);
    const archived = await failure(svc.tasks.createTask({ projectId: p, title: "x" }, member.opts));
    expect(archived).toMatchObject({ code: Code.FailedPrecondition, fields: ["project_id"] });
    const gone = await failure(svc.tasks.getTask({ taskId: randomUUID() }, member.opts));
    expect(gone).toMatchObject({ code: Code.NotFound, message: "task not found" });
  });
});

describe("BatchGetTasks", () => {
  it("returns tasks in request order, each once, leaving unknown ids out", async () => {
    const p = await project();
    const a = await task(p, "A");
    const b = await task(p, "B");
    const res = await svc.tasks.batchGetTasks({ taskIds: [b.id, randomUUID(), a.id, b.id.toUpperCase()] }, member.opts);
    expect(res.tasks.map((t) => t.title)).toEqual(["B", "A"]);
  });
});

describe("ListTasks", () => {
  it("filters by status, assignee and label, and pages with a cursor bound to the filter", async () => {
    const p = await project();
    const ada = randomUUID();
    await task(p, "t1", { labels: ["bug"], assigneeId: ada });
    await task(p, "t2", { labels: ["bug", "ui"], status: TaskStatus.DONE });
    await task(p, "t3", { labels: ["ui"], assigneeId: ada, status: TaskStatus.DONE });
    await task(p, "t4", { labels: ["bug"], assigneeId: ada, status: TaskStatus.DONE });
    const list = async (filter: Record<string, unknown>) =>
      (await svc.tasks.listTasks({ projectId: p, ...filter }, member.opts)).tasks.map((t) => t.title);
    expect(await list({})).toEqual(["t1", "t2", "t3", "t4"]);
    expect(await list({ status: TaskStatus.DONE })).toEqual(["t2", "t3", "t4"]);
    expect(await list({ assigneeId: ada })).toEqual(["t1", "t3", "t4"]);
    expect(await list({ label: "bug" })).toEqual(["t1", "t2", "t4"]);
    expect(await list({ label: "bug", assigneeId: ada.toUpperCase(), status: TaskStatus.DONE })).toEqual(["t4"]);
    expect(await list({ label: "nope" })).toEqual([]);

    const first = await svc.tasks.listTasks({ projectId: p, label: "bug", page: { pageSize: 2 } }, member.opts);
    expect(first.tasks.map((t) => t.title)).toEqual(["t1", "t2"]);
    const token = first.page?.nextPageToken ?? "";
    const second = await svc.tasks.listTasks(
      { projectId: p, label: "bug", page: { pageSize: 2, pageToken: token } },
      member.opts,
    );
    expect(second.tasks.map((t) => t.title)).toEqual(["t4"]);
    expect(second.page?.nextPageToken).toBe("");
    const otherFilter = await failure(
      svc.tasks.listTasks({ projectId: p, label: "ui", page: { pageSize: 2, pageToken: token } }, member.opts),
    );
    expect(otherFilter).toMatchObject({ code: Code.InvalidArgument, fields: ["page.page_token"] });
  });

  it("answers NotFound for a project that does not exist, and refuses bad filters", async () => {
    const f = await failure(svc.tasks.listTasks({ projectId: randomUUID() }, member.opts));
    expect(f).toMatchObject({ code: Code.NotFound, message: "project not found" });
    const p = await project();
    const bad = await failure(svc.tasks.listTasks({ projectId: p, label: "Not Valid" }, member.opts));
    expect(bad).toMatchObject({ code: Code.InvalidArgument, fields: ["label"] });
  });
});

describe("BatchListTasks", () => {
  it("answers each found project's first page in request order, exactly as ListTasks, continued by ListTasks", async () => {
    const p = await project();
    const q = await project();
    const empty = await project();
    // every column kind once, so the batch's row mapping is compared with ListTasks' on each
    await task(p, "t1", { dueDate: "2030-02-28", labels: ["x", "y"], assigneeId: randomUUID(), description: "d" });
    for (const title of ["t2", "t3", "t4", "t5"]) await task(p, title);
    for (const title of ["u1", "u2"]) await task(q, title);
    const res = await svc.tasks.batchListTasks(
      { projectIds: [q, randomUUID(), p, empty, p.toUpperCase()], pageSize: 2 },
      member.opts,
    );
    expect(res.projects.map((x) => [x.projectId, x.tasks.map((t) => t.title), x.page?.nextPageToken !== ""])).toEqual([
      [q, ["u1", "u2"], false],
      [p, ["t1", "t2"], true],
      [empty, [], false],
    ]);
    const fromBatch = res.projects[1];
    const single = await svc.tasks.listTasks({ projectId: p, page: { pageSize: 2 } }, member.opts);
    expect(fromBatch?.tasks).toEqual(single.tasks);
    expect(fromBatch?.page?.nextPageToken).toBe(single.page?.nextPageToken);
    const rest = await svc.tasks.listTasks(
      { projectId: p, page: { pageSize: 10, pageToken: fromBatch?.page?.nextPageToken ?? "" } },
      member.opts,
    );
    expect(rest.tasks.map((t) => t.title)).toEqual(["t3", "t4", "t5"]);
    expect(rest.page?.nextPageToken).toBe("");
    // page size 0 is the default (50), like ListTasks
    const all = await svc.tasks.batchListTasks({ projectIds: [p] }, member.opts);
    expect(all.projects[0]?.tasks).toHaveLength(5);
  });

  it("applies ListTasks' filters per project, binding each token to them", async () => {
    const p = await project();
    const q = await project();
    const ada = randomUUID();
    await task(p, "p1", { labels: ["bug"], assigneeId: ada, status: TaskStatus.DONE });
    await task(p, "p2", { labels: ["bug"], assigneeId: ada });
    await task(p, "p3", { labels: ["bug"], assigneeId: ada, status: TaskStatus.DONE });
    await task(p, "p4", { labels: ["bug", "ui"], assigneeId: ada, status: TaskStatus.DONE });
    await task(q, "q1", { labels: ["ui"], assigneeId: ada, status: TaskStatus.DONE });
    await task(q, "q2", { labels: ["bug"], status: TaskStatus.DONE });
    const filter = { label: "bug", assigneeId: ada.toUpperCase(), status: TaskStatus.DONE };
    const res = await svc.tasks.batchListTasks({ projectIds: [p, q], pageSize: 1, ...filter }, member.opts);
    expect(res.projects.map((x) => [x.projectId, x.tasks.map((t) => t.title)])).toEqual([
      [p, ["p1"]],
      [q, []],
    ]);
    const token = res.projects[0]?.page?.nextPageToken ?? "";
    const next = await svc.tasks.listTasks(
      { projectId: p, page: { pageSize: 5, pageToken: token }, ...filter },
      member.opts,
    );
    expect(next.tasks.map((t) => t.title)).toEqual(["p3", "p4"]);
    const otherFilter = await failure(
      svc.tasks.listTasks({ projectId: p, page: { pageToken: token }, label: "bug" }, member.opts),
    );
    expect(otherFilter).toMatchObject({ code: Code.InvalidArgument, fields: ["page.page_token"] });
    const labels = await svc.tasks.batchListTasks({ projectIds: [p, q], label: "ui" }, member.opts);
    expect(labels.projects.map((x) => x.tasks.map((t) => t.title))).toEqual([["p4"], ["q1"]]);
  });

  it("refuses no ids, more than 100 ids, bad ids, page sizes over 250 and bad filters", async () => {
    const ids = Array.from({ length: 101 }, () => randomUUID());
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ projectIds: [] }, "project_ids"],
      [{ projectIds: ids }, "project_ids"],
      [{ projectIds: ["nope"] }, "project_ids[0]"],
      [{ projectIds: [randomUUID()], pageSize: 251 }, "page_size"],
      [{ projectIds: [randomUUID()], label: "Not Valid" }, "label"],
    ];
    for (const [req, field] of cases) {
      const f = await failure(svc.tasks.batchListTasks(req, member.opts));
      expect(f, field).toMatchObject({ code: Code.InvalidArgument, fields: [field] });
    }
    const max = await svc.tasks.batchListTasks({ projectIds: ids.slice(0, 100) }, member.opts);
    expect(max.projects).toEqual([]);
  });
});

describe("UpdateTask", () => {
  it("changes the masked fields, clears with empty values, and bumps the version per change", async () => {
    const p = await project();
    const t = await task(p, "Old", { assigneeId: randomUUID(), labels: ["x"], dueDate: "2031-01-01" });
    const res = await svc.tasks.updateTask(
      {
        taskId: t.id,
        updateMask: { paths: ["title", "status", "assignee_id", "labels", "due_date"] },
        title: "New",
        status: TaskStatus.DONE,
        assigneeId: "",
        labels: [],
        dueDate: "",
        description: "not in the mask",
      },
      member.opts,
    );
    expect(res.task).toMatchObject({
      title: "New",
      status: TaskStatus.DONE,
      assigneeId: "",
      labels: [],
      dueDate: "",
      description: "",
      version: 2n,
    });
    const same = await svc.tasks.updateTask(
      { taskId: t.id, updateMask: { paths: ["title"] }, title: "New" },
      member.opts,
    );
    expect(same.task?.version).toBe(2n);
    const stale = await failure(
      svc.tasks.updateTask(
        { taskId: t.id, updateMask: { paths: ["title"] }, title: "Z", expectedVersion: 1n },
        member.opts,
      ),
    );
    expect(stale).toMatchObject({ code: Code.FailedPrecondition, fields: ["expected_version"] });
    const ok = await svc.tasks.updateTask(
      { taskId: t.id, updateMask: { paths: ["title"] }, title: "Z", expectedVersion: 2n },
      member.opts,
    );
    expect(ok.task).toMatchObject({ title: "Z", version: 3n });
  });

  it("refuses bad masks and values, naming the field", async () => {
    const p = await project();
    const t = await task(p);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{}, "update_mask"],
      [{ updateMask: { paths: ["position"] } }, "update_mask"],
      [{ updateMask: { paths: ["status"] } }, "status"],
      [{ updateMask: { paths: ["title"] }, title: "" }, "title"],
      [{ updateMask: { paths: ["due_date"] }, dueDate: "2030-13-01" }, "due_date"],
      [{ updateMask: { paths: ["labels"] }, labels: ["UPPER"] }, "labels[0]"],
    ];
    for (const [extra, field] of cases) {
      const f = await failure(svc.tasks.updateTask({ taskId: t.id, ...extra }, member.opts));
      expect(f, JSON.stringify(extra)).toMatchObject({ code: Code.InvalidArgument, fields: [field] });
    }
  });
});

describe("MoveTask", () => {
  it("places a task before another or last, bumping only the moved task's version", async () => {
    const p = await project();
    const a = await task(p, "A");
    const b = await task(p, "B");
    const c = await task(p, "C");
    const moved = await svc.tasks.moveTask({ taskId: c.id, beforeTaskId: a.id }, member.opts);
    expect(moved.task?.version).toBe(2n);
    expect(await order(p)).toEqual(["C", "A", "B"]);
    await svc.tasks.moveTask({ taskId: c.id, beforeTaskId: b.id }, member.opts);
    expect(await order(p)).toEqual(["A", "C", "B"]);
    await svc.tasks.moveTask({ taskId: a.id }, member.opts);
    expect(await order(p)).toEqual(["C", "B", "A"]);
    // already in place: nothing changes
    const still = await svc.tasks.moveTask({ taskId: a.id }, member.opts);
    expect(still.task?.version).toBe(2n);
    const stillBefore = await svc.tasks.moveTask({ taskId: c.id, beforeTaskId: b.id }, member.opts);
    expect(stillBefore.task?.version).toBe(3n);
    expect((await svc.tasks.getTask({ taskId: b.id }, member.opts)).task?.version).toBe(1n);
  });

  it("keeps the order when one gap is split until the project must be renumbered", async () => {
    const p = await project();
    await task(p, "A");
    const z = await task(p, "Z");
    const titles: string[] = [];
    for (let i = 0; i < 34; i += 1) {
      const t = await task(p, `T${i}`);
      await svc.tasks.moveTask({ taskId: t.id, beforeTaskId: z.id }, member.opts);
      titles.push(`T${i}`);
    }
    expect(await order(p)).toEqual(["A", ...titles, "Z"]);
    const res = await svc.tasks.listTasks({ projectId: p, page: { pageSize: 500 } }, member.opts);
    const positions = res.tasks.map((t) => t.position);
    expect(new Set(positions).size).toBe(positions.length);
    // Z never moved: its version grew only because the project was renumbered (once), onto the grid
    const last = res.tasks.at(-1);
    expect(last?.version).toBe(2n);
    expect((last?.position ?? 0.5) % 1024).toBe(0);
  });

  it("refuses the task itself and tasks of other projects or unknown ids on before_task_id", async () => {
    const p = await project();
    const q = await project();
    const a = await task(p, "A");
    const other = await task(q, "Other");
    const answers = [];
    for (const before of [a.id, other.id, randomUUID()]) {
      answers.push(await failure(svc.tasks.moveTask({ taskId: a.id, beforeTaskId: before }, member.opts)));
    }
    for (const f of answers) expect(f).toMatchObject({ code: Code.InvalidArgument, fields: ["before_task_id"] });
    expect(answers[1]).toEqual(answers[2]);
    const stale = await failure(svc.tasks.moveTask({ taskId: a.id, expectedVersion: 5n }, member.opts));
    expect(stale).toMatchObject({ code: Code.FailedPrecondition, fields: ["expected_version"] });
  });
});

describe("concurrency", () => {
  it("gives tasks created at once distinct positions, and lets one of two racing updates win", async () => {
    const p = await project();
    const made = await Promise.all(["a", "b", "c", "d", "e"].map((title) => task(p, title)));
    expect(new Set(made.map((t) => t.position)).size).toBe(5);
    const t = made[0]?.id ?? "";
    const race = await Promise.allSettled(
      ["x", "y"].map((title) =>
        svc.tasks.updateTask({ taskId: t, updateMask: { paths: ["title"] }, title, expectedVersion: 1n }, member.opts),
      ),
    );
    expect(race.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    const lost = race.find((r) => r.status === "rejected");
    expect((lost as PromiseRejectedResult).reason).toMatchObject({ code: Code.FailedPrecondition });
    expect((await svc.tasks.getTask({ taskId: t }, member.opts)).task?.version).toBe(2n);
  });
});

describe("DeleteTask", () => {
  it("deletes a task and its comments; a second delete is NotFound", async () => {
    const p = await project();
    const t = await task(p);
    await svc.tasks.addComment({ taskId: t.id, body: "note" }, member.opts);
    const stale = await failure(svc.tasks.deleteTask({ taskId: t.id, expectedVersion: 2n }, member.opts));
    expect(stale).toMatchObject({ code: Code.FailedPrecondition, fields: ["expected_version"] });
    await svc.tasks.deleteTask({ taskId: t.id, expectedVersion: 1n }, member.opts);
    expect(await failure(svc.tasks.getTask({ taskId: t.id }, member.opts))).toMatchObject({ code: Code.NotFound });
    expect(await failure(svc.tasks.deleteTask({ taskId: t.id }, member.opts))).toMatchObject({ code: Code.NotFound });
    const left = await env.admin<{ n: number }>("select count(*)::int as n from comments where task_id = $1", [t.id]);
    expect(left[0]?.n).toBe(0);
  });
});

describe("AddComment and ListComments", () => {
  it("adds comments authored by the caller and lists them oldest first with a cursor", async () => {
    const p = await project();
    const t = await task(p);
    const bodies = ["one", "two", "three"];
    for (const body of bodies) {
      const res = await svc.tasks.addComment({ taskId: t.id, body }, member.opts);
      expect(res.comment).toMatchObject({ taskId: t.id, authorId: member.sub, body });
    }
    const first = await svc.tasks.listComments({ taskId: t.id, page: { pageSize: 2 } }, member.opts);
    const rest = await svc.tasks.listComments(
      { taskId: t.id, page: { pageSize: 2, pageToken: first.page?.nextPageToken ?? "" } },
      member.opts,
    );
    expect([...first.comments, ...rest.comments].map((c) => c.body)).toEqual(bodies);
    expect(rest.page?.nextPageToken).toBe("");
  });

  it("BatchListComments answers each found task's first page, exactly as ListComments, continued by it", async () => {
    const p = await project();
    const t = await task(p, "commented");
    const quiet = await task(p, "quiet");
    for (const body of ["one", "two", "three"]) await svc.tasks.addComment({ taskId: t.id, body }, member.opts);
    const res = await svc.tasks.batchListComments(
      { taskIds: [quiet.id, randomUUID(), t.id, t.id.toUpperCase()], pageSize: 2 },
      member.opts,
    );
    expect(res.tasks.map((x) => [x.taskId, x.comments.map((c) => c.body), x.page?.nextPageToken !== ""])).toEqual([
      [quiet.id, [], false],
      [t.id, ["one", "two"], true],
    ]);
    const single = await svc.tasks.listComments({ taskId: t.id, page: { pageSize: 2 } }, member.opts);
    expect(res.tasks[1]?.comments).toEqual(single.comments);
    const rest = await svc.tasks.listComments(
      { taskId: t.id, page: { pageSize: 2, pageToken: res.tasks[1]?.page?.nextPageToken ?? "" } },
      member.opts,
    );
    expect(rest.comments.map((c) => c.body)).toEqual(["three"]);
    expect(rest.page?.nextPageToken).toBe("");
    const tooMany = await failure(
      svc.tasks.batchListComments({ taskIds: Array.from({ length: 101 }, () => randomUUID()) }, member.opts),
    );
    expect(tooMany).toMatchObject({ code: Code.InvalidArgument, fields: ["task_ids"] });
  });

  it("refuses an empty body, and answers NotFound for a missing task", async () => {
    const p = await project();
    const t = await task(p);
    for (const body of ["", " \n "]) {
      expect(await failure(svc.tasks.addComment({ taskId: t.id, body }, member.opts))).toMatchObject({
        code: Code.InvalidArgument,
        fields: ["body"],
      });
    }
    const missing = await failure(svc.tasks.addComment({ taskId: randomUUID(), body: "x" }, member.opts));
    expect(missing).toMatchObject({ code: Code.NotFound, message: "task not found" });
    const list = await failure(svc.tasks.listComments({ taskId: randomUUID() }, member.opts));
    expect(list).toMatchObject({ code: Code.NotFound, message: "task not found" });
  });
});
