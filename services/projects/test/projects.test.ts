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
  env = await projectsEnv("projects_p");
  svc = await startInProcess(env, "projects-projects");
  const t = tenant(env.issuer);
  member = await t.user("member");
  admin = await t.user("admin");
});

afterAll(async () => {
  await svc?.stop();
  await env?.close();
});

async function create(caller = member, key = newKey(), name = "Website") {
  const res = await svc.projects.createProject({ key, name, description: "the site" }, caller.opts);
  if (!res.project) throw new Error("no project in the answer");
  return res.project;
}

describe("CreateProject and GetProject", () => {
  it("creates a project at version 1, readable by id", async () => {
    const key = newKey();
    const p = await create(member, key, "Web site");
    expect(p).toMatchObject({ key, name: "Web site", description: "the site", archived: false, version: 1n });
    expect(p.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(p.createTime).toBeDefined();
    const got = await svc.projects.getProject({ projectId: p.id }, member.opts);
    expect(got.project).toEqual(p);
  });

  it("refuses a key the tenant already uses with AlreadyExists on key", async () => {
    const p = await create();
    const again = await failure(svc.projects.createProject({ key: p.key, name: "Other" }, member.opts));
    expect(again).toMatchObject({ code: Code.AlreadyExists, fields: ["key"] });
  });

  it("refuses bad input with field-level InvalidArgument", async () => {
    const cases: Array<[Parameters<typeof svc.projects.createProject>[0], string]> = [
      [{ key: "web", name: "x" }, "key"],
      [{ key: "W", name: "x" }, "key"],
      [{ key: newKey(), name: "" }, "name"],
      [{ key: newKey(), name: "   " }, "name"],
      [{ key: newKey(), name: "x".repeat(201) }, "name"],
    ];
    for (const [req, field] of cases) {
      const f = await failure(svc.projects.createProject(req, member.opts));
      expect(f, JSON.stringify(req)).toMatchObject({ code: Code.InvalidArgument, fields: [field] });
    }
    const get = await failure(svc.projects.getProject({ projectId: "not-a-uuid" }, member.opts));
    expect(get).toMatchObject({ code: Code.InvalidArgument, fields: ["project_id"] });
  });

  it("answers NotFound for an id that does not exist", async () => {
    const f = await failure(svc.projects.getProject({ projectId: crypto.randomUUID() }, member.opts));
    expect(f).toMatchObject({ code: Code.NotFound, message: "project not found" });
  });
});

describe("BatchGetProjects", () => {
  it("returns the projects asked for in request order, each once, leaving unknown ids out", async () => {
    const a = await create();
    const b = await create();
    const res = await svc.projects.batchGetProjects(
      { projectIds: [b.id, crypto.randomUUID(), a.id.toUpperCase(), b.id] },
      member.opts,
    );
    expect(res.projects.map((p) => p.id)).toEqual([b.id, a.id]);
  });

  it("refuses an empty list and a malformed id", async () => {
    expect(await failure(svc.projects.batchGetProjects({ projectIds: [] }, member.opts))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["project_ids"],
    });
    expect(await failure(svc.projects.batchGetProjects({ projectIds: ["x"] }, member.opts))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["project_ids[0]"],
    });
  });
});

describe("ListProjects", () => {
  it("pages through active projects in key order, and archived ones only when asked", async () => {
    const t = tenant(env.issuer);
    const owner = await t.user("owner");
    const keys = ["AAA", "BBB", "CCC", "DDD", "EEE"];
    const made = [];
    for (const key of [...keys].reverse()) made.push(await create(owner, key));
    const ccc = made.find((p) => p.key === "CCC");
    await svc.projects.archiveProject({ projectId: ccc?.id ?? "" }, owner.opts);

    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const res = await svc.projects.listProjects({ page: { pageSize: 2, pageToken: token } }, owner.opts);
      seen.push(...res.projects.map((p) => p.key));
      token = res.page?.nextPageToken ?? "";
      pages += 1;
    } while (token !== "");
    expect(seen).toEqual(["AAA", "BBB", "DDD", "EEE"]);
    expect(pages).toBe(2);

    const all = await svc.projects.listProjects({ includeArchived: true }, owner.opts);
    expect(all.projects.map((p) => [p.key, p.archived])).toEqual([
      ["AAA", false],
      ["BBB", false],
      ["CCC", true],
      ["DDD", false],
      ["EEE", false],
    ]);
    expect(all.page?.nextPageToken).toBe("");
  });

  it("rejects a tampered token, and a token reused with another filter, on page.page_token", async () => {
    const t = tenant(env.issuer);
    const owner = await t.user("owner");
    for (const key of ["QA", "QB", "QC"]) await create(owner, key);
    const first = await svc.projects.listProjects({ page: { pageSize: 1 } }, owner.opts);
    const token = first.page?.nextPageToken ?? "";
    expect(token).not.toBe("");
    const [body = "", sum = ""] = token.split(".");
    const forged = `${Buffer.from(Buffer.from(body, "base64url").toString().replace("QA", "QB")).toString("base64url")}.${sum}`;
    for (const bad of [forged, `${token}x`, "garbage"]) {
      const f = await failure(svc.projects.listProjects({ page: { pageSize: 1, pageToken: bad } }, owner.opts));
      expect(f).toMatchObject({ code: Code.InvalidArgument, fields: ["page.page_token"] });
    }
    const other = await failure(
      svc.projects.listProjects({ includeArchived: true, page: { pageSize: 1, pageToken: token } }, owner.opts),
    );
    expect(other).toMatchObject({ code: Code.InvalidArgument, fields: ["page.page_token"] });
  });
});

describe("UpdateProject", () => {
  it("changes the masked fields only and bumps the version once per change", async () => {
    const p = await create();
    const res = await svc.projects.updateProject(
      { projectId: p.id, updateMask: { paths: ["name"] }, name: "Renamed", description: "ignored" },
      member.opts,
    );
    expect(res.project).toMatchObject({ name: "Renamed", description: "the site", version: 2n });
    const same = await svc.projects.updateProject(
      { projectId: p.id, updateMask: { paths: ["name"] }, name: "Renamed" },
      member.opts,
    );
    expect(same.project?.version).toBe(2n);
    const desc = await svc.projects.updateProject(
      { projectId: p.id, updateMask: { paths: ["description"] }, description: "" },
      member.opts,
    );
    expect(desc.project).toMatchObject({ name: "Renamed", description: "", version: 3n });
  });

  it("applies expected_version: a stale version is FailedPrecondition and changes nothing", async () => {
    const p = await create();
    await svc.projects.updateProject(
      { projectId: p.id, updateMask: { paths: ["name"] }, name: "One", expectedVersion: 1n },
      member.opts,
    );
    const stale = await failure(
      svc.projects.updateProject(
        { projectId: p.id, updateMask: { paths: ["name"] }, name: "Two", expectedVersion: 1n },
        member.opts,
      ),
    );
    expect(stale).toMatchObject({ code: Code.FailedPrecondition, fields: ["expected_version"] });
    expect((await svc.projects.getProject({ projectId: p.id }, member.opts)).project).toMatchObject({
      name: "One",
      version: 2n,
    });
  });

  it("refuses a missing or unknown mask and an empty name, naming the field", async () => {
    const p = await create();
    const cases: Array<[Parameters<typeof svc.projects.updateProject>[0], string]> = [
      [{ projectId: p.id, name: "x" }, "update_mask"],
      [{ projectId: p.id, updateMask: { paths: [] }, name: "x" }, "update_mask"],
      [{ projectId: p.id, updateMask: { paths: ["key"] } }, "update_mask"],
      [{ projectId: p.id, updateMask: { paths: ["name"] }, name: " " }, "name"],
      [{ projectId: p.id, updateMask: { paths: ["name"] }, name: "x", expectedVersion: -1n }, "expected_version"],
    ];
    for (const [req, field] of cases) {
      const f = await failure(svc.projects.updateProject(req, member.opts));
      expect(f, field).toMatchObject({ code: Code.InvalidArgument, fields: [field] });
    }
  });
});

describe("ArchiveProject", () => {
  it("archives once (repeating changes nothing) and honours expected_version", async () => {
    const p = await create();
    const stale = await failure(svc.projects.archiveProject({ projectId: p.id, expectedVersion: 7n }, admin.opts));
    expect(stale).toMatchObject({ code: Code.FailedPrecondition, fields: ["expected_version"] });
    const res = await svc.projects.archiveProject({ projectId: p.id, expectedVersion: 1n }, admin.opts);
    expect(res.project).toMatchObject({ archived: true, version: 2n });
    const again = await svc.projects.archiveProject({ projectId: p.id }, admin.opts);
    expect(again.project).toMatchObject({ archived: true, version: 2n });
  });
});
