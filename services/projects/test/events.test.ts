import { TaskStatus } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  collectEvents,
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
let events: ReturnType<typeof collectEvents>;

beforeAll(async () => {
  env = await projectsEnv("projects_e");
  svc = await startInProcess(env, "projects-events");
  events = collectEvents(svc.nats);
});

afterAll(async () => {
  events?.close();
  await svc?.stop();
  await env?.close();
});

describe("events", () => {
  it("publishes one event per change through the outbox, none for no-ops or failures", async () => {
    const t = tenant(env.issuer);
    const member = await t.user("member");
    const admin = await t.user("admin");
    const m = member.opts;
    const p = (await svc.projects.createProject({ key: newKey(), name: "Events" }, m)).project;
    const projectId = p?.id ?? "";
    await svc.projects.updateProject({ projectId, updateMask: { paths: ["name"] }, name: "Renamed" }, m);
    await svc.projects.updateProject({ projectId, updateMask: { paths: ["name"] }, name: "Renamed" }, m);
    const t1 = (await svc.tasks.createTask({ projectId, title: "one" }, m)).task?.id ?? "";
    await svc.tasks.updateTask({ taskId: t1, updateMask: { paths: ["title"] }, title: "uno" }, m);
    await failure(
      svc.tasks.updateTask({ taskId: t1, updateMask: { paths: ["title"] }, title: "x", expectedVersion: 1n }, m),
    );
    await svc.tasks.updateTask(
      {
        taskId: t1,
        updateMask: { paths: ["status", "labels", "title"] },
        status: TaskStatus.DONE,
        labels: ["ok"],
        title: "uno",
      },
      m,
    );
    await svc.tasks.updateTask({ taskId: t1, updateMask: { paths: ["status"] }, status: TaskStatus.DONE }, m);
    const t2 = (await svc.tasks.createTask({ projectId, title: "two" }, m)).task?.id ?? "";
    await svc.tasks.moveTask({ taskId: t2, beforeTaskId: t1 }, m);
    await svc.tasks.moveTask({ taskId: t2, beforeTaskId: t1 }, m);
    const comment = (await svc.tasks.addComment({ taskId: t1, body: "nice" }, m)).comment?.id ?? "";
    await svc.tasks.deleteTask({ taskId: t2 }, m);
    await svc.projects.archiveProject({ projectId }, admin.opts);
    await svc.projects.archiveProject({ projectId }, admin.opts);
    await failure(svc.tasks.createTask({ projectId, title: "late" }, m));
    // a last change: the relay publishes a tenant's events in commit order, so once this one is
    // here every earlier one is too, and anything extra would show up in the list
    const marker = (await svc.projects.createProject({ key: newKey(), name: "Marker" }, m)).project?.id ?? "";

    const all = await events.waitFor(t.tid, (mine) => mine.some((e) => e.entityId === marker));
    expect(all.map((e) => [e.type, e.entityId, e.changedFields])).toEqual([
      ["project.created", projectId, []],
      ["project.updated", projectId, []],
      ["task.created", t1, []],
      ["task.updated", t1, ["title"]],
      ["task.updated", t1, ["status", "labels"]],
      ["task.completed", t1, []],
      ["task.created", t2, []],
      ["task.moved", t2, []],
      ["comment.added", comment, []],
      ["task.deleted", t2, []],
      ["project.archived", projectId, []],
      ["project.created", marker, []],
    ]);
    expect(all.filter((e) => e.type !== "project.archived").every((e) => e.actor === member.sub)).toBe(true);
    expect(all.find((e) => e.type === "project.archived")?.actor).toBe(admin.sub);
    expect(all.find((e) => e.type === "comment.added")?.aggregateId).toBe(t1);
    const completed = all.find((e) => e.type === "task.completed")?.payload as {
      task?: { status: TaskStatus; version: bigint };
    };
    expect(completed.task).toMatchObject({ status: TaskStatus.DONE, version: 3n });
    const deleted = all.find((e) => e.type === "task.deleted")?.payload as {
      task?: { title: string; version: bigint };
    };
    expect(deleted.task).toMatchObject({ title: "two", version: 2n });
    expect(events.events.filter((e) => e.tenantId !== t.tid && [projectId, t1, t2].includes(e.entityId))).toEqual([]);
  });
});
