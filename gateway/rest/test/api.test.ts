import { randomUUID } from "node:crypto";
import type { ApiKeySeed, TenantSeed } from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ALL_SCOPES,
  call,
  problemOf,
  projectKey,
  READ_SCOPES,
  revokeApiKey,
  startEdge,
  type TestEdge,
} from "./support.ts";

describe("REST /v1 on the real platform", () => {
  let edge: TestEdge;
  let a: TenantSeed;
  let admin: ApiKeySeed;
  let viewer: ApiKeySeed;

  beforeAll(async () => {
    edge = await startEdge("rest-gateway-api");
    a = await edge.platform.seed.tenant();
    admin = await a.apiKey("admin", ALL_SCOPES);
    viewer = await a.apiKey("viewer", READ_SCOPES);
  }, 180_000);

  afterAll(async () => {
    await edge?.close();
  });

  const createProject = async (key = admin.key, name = "Website") => {
    const res = await call(edge.app, "POST", "/v1/projects", { key, body: { name, key: projectKey() } });
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  };

  it("creates, reads, updates and archives a project, with ETags and conditional requests", async () => {
    const created = await call(edge.app, "POST", "/v1/projects", {
      key: admin.key,
      body: { name: "Website", key: projectKey(), description: "the public site" },
    });
    expect(created.statusCode).toBe(201);
    const project = created.json();
    expect(project).toMatchObject({ name: "Website", description: "the public site", archived: false, version: 1 });
    expect(created.headers.location).toBe(`/v1/projects/${project.id}`);
    expect(created.headers.etag).toBe('"v1"');
    expect(created.headers["ratelimit-limit"]).toBe("600");

    const got = await call(edge.app, "GET", `/v1/projects/${project.id}`, { key: viewer.key });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual(project);
    expect(got.headers.etag).toBe('"v1"');
    const notModified = await call(edge.app, "GET", `/v1/projects/${project.id}`, {
      key: viewer.key,
      headers: { "if-none-match": '"v1"' },
    });
    expect(notModified.statusCode).toBe(304);
    expect(notModified.body).toBe("");
    expect(notModified.headers.etag).toBe('"v1"');

    const renamed = await call(edge.app, "PATCH", `/v1/projects/${project.id}`, {
      key: admin.key,
      body: { name: "Website 2" },
      headers: { "if-match": '"v1"' },
    });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json()).toMatchObject({ name: "Website 2", description: "the public site", version: 2 });
    expect(renamed.headers.etag).toBe('"v2"');
    const changedSince = await call(edge.app, "GET", `/v1/projects/${project.id}`, {
      key: viewer.key,
      headers: { "if-none-match": '"v1"' },
    });
    expect(changedSince.statusCode).toBe(200);

    const stale = await call(edge.app, "PATCH", `/v1/projects/${project.id}`, {
      key: admin.key,
      body: { name: "lost update" },
      headers: { "if-match": '"v1"' },
    });
    expect(problemOf(stale)).toMatchObject({ status: 412, errors: [{ field: "If-Match" }] });

    const archived = await call(edge.app, "DELETE", `/v1/projects/${project.id}`, { key: admin.key });
    expect(archived.statusCode).toBe(204);
    expect((await call(edge.app, "GET", `/v1/projects/${project.id}`, { key: viewer.key })).json()).toMatchObject({
      archived: true,
    });
    const ids = async (query: string) =>
      (await call(edge.app, "GET", `/v1/projects${query}`, { key: viewer.key }))
        .json()
        .data.map((p: { id: string }) => p.id);
    expect(await ids("")).not.toContain(project.id);
    expect(await ids("?include_archived=true&limit=100")).toContain(project.id);
  });

  it("pages through projects with cursors", async () => {
    const b = await edge.platform.seed.tenant();
    const key = (await b.apiKey("admin", ALL_SCOPES)).key;
    for (let i = 0; i < 5; i++) await createProject(key, `p${i}`);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await call(
        edge.app,
        "GET",
        `/v1/projects?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
        {
          key,
        },
      );
      expect(res.statusCode).toBe(200);
      const page = res.json();
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((p: { id: string }) => p.id));
      cursor = page.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(5);
  });

  it("creates, filters, pages, updates, moves and deletes tasks", async () => {
    const project = await createProject();
    const assignee = randomUUID();
    const make = async (body: Record<string, unknown>) => {
      const res = await call(edge.app, "POST", `/v1/projects/${project.id}/tasks`, { key: admin.key, body });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.headers.location).toBe(`/v1/tasks/${res.json().id}`);
      return res.json();
    };
    const t1 = await make({ title: "Design", labels: ["ux"], assignee_id: assignee, due_date: "2030-01-31" });
    const t2 = await make({ title: "Build", status: "in_progress" });
    const t3 = await make({ title: "Ship", status: "done", labels: ["ux", "ops"] });
    expect(t1).toMatchObject({ status: "todo", labels: ["ux"], assignee_id: assignee, due_date: "2030-01-31" });
    expect(t2).toMatchObject({ assignee_id: null, due_date: null, labels: [] });

    const list = async (query: string) => {
      const res = await call(edge.app, "GET", `/v1/projects/${project.id}/tasks${query}`, { key: viewer.key });
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    };
    expect((await list("")).data.map((t: { id: string }) => t.id)).toEqual([t1.id, t2.id, t3.id]);
    expect((await list("?status=done")).data.map((t: { id: string }) => t.id)).toEqual([t3.id]);
    expect((await list("?label=ux")).data.map((t: { id: string }) => t.id)).toEqual([t1.id, t3.id]);
    expect((await list(`?assignee_id=${assignee}`)).data.map((t: { id: string }) => t.id)).toEqual([t1.id]);
    const first = await list("?limit=2");
    expect(first.data).toHaveLength(2);
    const second = await list(`?limit=2&cursor=${encodeURIComponent(first.next_cursor)}`);
    expect(second.data.map((t: { id: string }) => t.id)).toEqual([t3.id]);
    expect(second.next_cursor).toBeNull();
    // a cursor is bound to its filters
    const otherFilter = await call(
      edge.app,
      "GET",
      `/v1/projects/${project.id}/tasks?status=todo&cursor=${first.next_cursor}`,
      {
        key: viewer.key,
      },
    );
    expect(problemOf(otherFilter)).toMatchObject({ status: 400, errors: [{ field: "cursor" }] });

    const updated = await call(edge.app, "PATCH", `/v1/tasks/${t1.id}`, {
      key: admin.key,
      body: { status: "done", assignee_id: null, due_date: null },
      headers: { "content-type": "application/merge-patch+json" },
    });
    expect(updated.statusCode, updated.body).toBe(200);
    expect(updated.json()).toMatchObject({ status: "done", assignee_id: null, due_date: null, version: 2 });

    const moved = await call(edge.app, "POST", `/v1/tasks/${t3.id}/move`, {
      key: admin.key,
      body: { before_task_id: t1.id },
    });
    expect(moved.statusCode, moved.body).toBe(200);
    expect((await list("")).data.map((t: { id: string }) => t.id)).toEqual([t3.id, t1.id, t2.id]);

    const got = await call(edge.app, "GET", `/v1/tasks/${t2.id}`, { key: viewer.key });
    expect(got.headers.etag).toBe(`"v${got.json().version}"`);
    const staleDelete = await call(edge.app, "DELETE", `/v1/tasks/${t2.id}`, {
      key: admin.key,
      headers: { "if-match": '"v99"' },
    });
    expect(problemOf(staleDelete).status).toBe(412);
    expect((await call(edge.app, "DELETE", `/v1/tasks/${t2.id}`, { key: admin.key })).statusCode).toBe(204);
    expect(problemOf(await call(edge.app, "GET", `/v1/tasks/${t2.id}`, { key: viewer.key })).status).toBe(404);
  });

  it("adds and lists comments with cursors", async () => {
    const project = await createProject();
    const task = (
      await call(edge.app, "POST", `/v1/projects/${project.id}/tasks`, { key: admin.key, body: { title: "T" } })
    ).json();
    for (const body of ["one", "two", "three"]) {
      const res = await call(edge.app, "POST", `/v1/tasks/${task.id}/comments`, { key: admin.key, body: { body } });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json()).toMatchObject({ task_id: task.id, author_id: admin.id, body });
    }
    const page1 = (await call(edge.app, "GET", `/v1/tasks/${task.id}/comments?limit=2`, { key: viewer.key })).json();
    const page2 = (
      await call(edge.app, "GET", `/v1/tasks/${task.id}/comments?limit=2&cursor=${page1.next_cursor}`, {
        key: viewer.key,
      })
    ).json();
    expect([...page1.data, ...page2.data].map((c: { body: string }) => c.body)).toEqual(["one", "two", "three"]);
    expect(page2.next_cursor).toBeNull();
  });

  it("answers bad input with 400 problem+json naming each field", async () => {
    const res = await call(edge.app, "POST", "/v1/projects", {
      key: admin.key,
      body: { name: "", key: "lower", colour: "red" },
    });
    const p = problemOf(res);
    expect(p).toMatchObject({ type: "urn:tessera:problem:invalid-request", status: 400 });
    expect(p.errors?.map((e) => e.field).sort()).toEqual(["colour", "key", "name"]);

    const project = await createProject();
    const badTask = problemOf(
      await call(edge.app, "POST", `/v1/projects/${project.id}/tasks`, {
        key: admin.key,
        body: { title: "x", labels: ["ok", "Not OK"], due_date: "2030-02-30", status: "later" },
      }),
    );
    expect(badTask.errors?.map((e) => e.field).sort()).toEqual(["due_date", "labels[1]", "status"]);
    expect(problemOf(await call(edge.app, "GET", "/v1/projects?limit=1000", { key: viewer.key })).errors).toEqual([
      expect.objectContaining({ field: "limit" }),
    ]);
    expect(problemOf(await call(edge.app, "GET", "/v1/projects?cursor=garbage", { key: viewer.key })).errors).toEqual([
      { field: "cursor", message: "is not a cursor of this list" },
    ]);
    const badJson = await call(edge.app, "POST", "/v1/projects", {
      key: admin.key,
      body: '{"name": ',
      headers: { "content-type": "application/json" },
    });
    expect(problemOf(badJson)).toMatchObject({ status: 400, errors: [{ field: "body" }] });
    const emptyPatch = await call(edge.app, "PATCH", `/v1/projects/${project.id}`, { key: admin.key, body: {} });
    expect(problemOf(emptyPatch).status).toBe(400);
    const badKey = await call(edge.app, "POST", "/v1/projects", {
      key: admin.key,
      body: { name: "n", key: projectKey() },
      headers: { "idempotency-key": "" },
    });
    expect(problemOf(badKey).errors).toEqual([expect.objectContaining({ field: "Idempotency-Key" })]);
  });

  it("answers 409 for a duplicate project key, 413 for a huge body, 415 for non-JSON, 404 for unknown routes", async () => {
    const key = projectKey();
    expect(
      (await call(edge.app, "POST", "/v1/projects", { key: admin.key, body: { name: "a", key } })).statusCode,
    ).toBe(201);
    const dup = problemOf(await call(edge.app, "POST", "/v1/projects", { key: admin.key, body: { name: "b", key } }));
    expect(dup).toMatchObject({ status: 409, type: "urn:tessera:problem:conflict" });

    const huge = await call(edge.app, "POST", "/v1/projects", {
      key: admin.key,
      body: { name: "x", key: projectKey(), description: "y".repeat(1024 * 1024 + 10) },
    });
    expect(problemOf(huge)).toMatchObject({ status: 413, type: "urn:tessera:problem:payload-too-large" });
    const text = await call(edge.app, "POST", "/v1/projects", {
      key: admin.key,
      body: "name=x",
      headers: { "content-type": "text/plain" },
    });
    expect(problemOf(text)).toMatchObject({ status: 415 });
    const form = await call(edge.app, "POST", "/v1/projects", {
      key: admin.key,
      body: "name=x",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(problemOf(form).status).toBe(415);
    for (const [method, url] of [
      ["GET", "/v1/nothing-here"],
      ["GET", "/v2/projects"],
    ] as const) {
      expect(problemOf(await call(edge.app, method, url, { key: admin.key })).status, url).toBe(404);
    }
    // a served path with a method it is not served with (docs/errors.md)
    const put = await call(edge.app, "PUT", "/v1/projects", { key: admin.key });
    expect(problemOf(put).status).toBe(405);
    expect(put.headers.allow).toBe("GET, POST");
  });

  it("answers 401 with WWW-Authenticate for missing, malformed, unknown and revoked credentials", async () => {
    const none = await call(edge.app, "GET", "/v1/projects");
    expect(problemOf(none).status).toBe(401);
    expect(none.headers["www-authenticate"]).toBe('Bearer realm="tessera"');
    for (const headers of [
      { "x-api-key": "not-a-key" },
      { authorization: "Basic dXNlcjpwYXNz" },
      { "x-api-key": `tsk_live_${"x".repeat(40)}` },
      { authorization: "Bearer not.a.jwt" },
    ]) {
      const res = await call(edge.app, "GET", "/v1/projects", { headers });
      expect(problemOf(res).status, JSON.stringify(headers)).toBe(401);
      expect(res.headers["www-authenticate"]).toContain('error="invalid_token"');
    }
    // Authorization: Bearer <API key> works like X-Api-Key
    const bearer = await call(edge.app, "GET", "/v1/projects", { headers: { authorization: `Bearer ${viewer.key}` } });
    expect(bearer.statusCode).toBe(200);

    const doomed = await a.apiKey("viewer", READ_SCOPES);
    expect((await call(edge.app, "GET", "/v1/projects", { key: doomed.key })).statusCode).toBe(200);
    await revokeApiKey(edge, a, doomed.id);
    expect(problemOf(await call(edge.app, "GET", "/v1/projects", { key: doomed.key })).status).toBe(401);
  });

  it("honours roles and API-key scopes with 403", async () => {
    const project = await createProject();
    const write = { name: "n", key: projectKey() };
    const viewerPost = await call(edge.app, "POST", "/v1/projects", { key: viewer.key, body: write });
    expect(problemOf(viewerPost)).toMatchObject({ status: 403, type: "urn:tessera:problem:forbidden" });
    const readOnlyMember = await a.apiKey("member", READ_SCOPES);
    expect(
      problemOf(await call(edge.app, "POST", "/v1/projects", { key: readOnlyMember.key, body: write })).status,
    ).toBe(403);
    expect((await call(edge.app, "GET", `/v1/projects/${project.id}`, { key: readOnlyMember.key })).statusCode).toBe(
      200,
    );
    const projectsOnly = await a.apiKey("member", ["projects.read"]);
    expect(
      problemOf(await call(edge.app, "GET", `/v1/projects/${project.id}/tasks`, { key: projectsOnly.key })).status,
    ).toBe(403);
    const member = await a.apiKey("member", ALL_SCOPES);
    expect(problemOf(await call(edge.app, "DELETE", `/v1/projects/${project.id}`, { key: member.key })).status).toBe(
      403,
    );
    // a user's access token works too, with the user's role
    const user = await a.user("viewer");
    const asUser = await call(edge.app, "GET", `/v1/projects/${project.id}`, {
      headers: { authorization: `Bearer ${await user.accessToken()}` },
    });
    expect(asUser.statusCode).toBe(200);
  });
});
