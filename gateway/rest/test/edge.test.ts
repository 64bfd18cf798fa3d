import { randomBytes, randomUUID } from "node:crypto";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace";
import { getPlan } from "@tessera/platform/plans";
import { initTelemetry, type Telemetry } from "@tessera/platform/telemetry";
import { type ApiKeySeed, startMain, stopMain, type TenantSeed } from "@tessera/test/harness";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idempotencyScope, requestFingerprint } from "../src/idempotency.ts";
import { SCOPE } from "../src/observability.ts";
import { build } from "../src/server.ts";
import { ALL_SCOPES, call, problemOf, projectKey, READ_SCOPES, startEdge, type TestEdge } from "./support.ts";

/** The parts of a response a client could compare across tenants (not its request id or quota). */
const visible = (res: LightMyRequestResponse) => ({
  status: res.statusCode,
  type: res.headers["content-type"],
  body: res.body,
});

describe("the REST edge around the API: tenants, idempotency, limits, telemetry, the process", () => {
  const spans = new InMemorySpanExporter();
  let telemetry: Telemetry;
  let edge: TestEdge;
  let a: TenantSeed;
  let aKey: ApiKeySeed;
  let bKey: ApiKeySeed;

  beforeAll(async () => {
    telemetry = await initTelemetry({ service: "rest-gateway", traceExporter: spans, metricsPort: 0 });
    edge = await startEdge("rest-gateway-edge");
    a = await edge.platform.seed.tenant();
    aKey = await a.apiKey("admin", ALL_SCOPES);
    bKey = await (await edge.platform.seed.tenant()).apiKey("admin", ALL_SCOPES);
  }, 180_000);

  afterAll(async () => {
    await edge?.close();
    await telemetry?.shutdown();
  });

  const post = (url: string, key: string, body: unknown, headers: Record<string, string> = {}) =>
    call(edge.app, "POST", url, { key, body, headers });

  it("gives another tenant's ids, on every route, exactly the 404 a nonexistent or malformed id gets", async () => {
    const project = (await post("/v1/projects", aKey.key, { name: "secret", key: projectKey() })).json();
    const task = (await post(`/v1/projects/${project.id}/tasks`, aKey.key, { title: "secret task" })).json();
    expect((await post(`/v1/tasks/${task.id}/comments`, aKey.key, { body: "secret comment" })).statusCode).toBe(201);
    const bProject = (await post("/v1/projects", bKey.key, { name: "mine", key: projectKey() })).json();
    const bTask = (await post(`/v1/projects/${bProject.id}/tasks`, bKey.key, { title: "mine" })).json();

    type Method = "GET" | "POST" | "PATCH" | "DELETE";
    const routes: Array<[method: Method, path: (id: string) => string, body?: unknown]> = [
      ["GET", (id) => `/v1/projects/${id}`],
      ["PATCH", (id) => `/v1/projects/${id}`, { name: "taken over" }],
      ["DELETE", (id) => `/v1/projects/${id}`],
      ["GET", (id) => `/v1/projects/${id}/tasks`],
      ["POST", (id) => `/v1/projects/${id}/tasks`, { title: "planted" }],
      ["GET", (id) => `/v1/tasks/${id}`],
      ["PATCH", (id) => `/v1/tasks/${id}`, { title: "taken over" }],
      ["POST", (id) => `/v1/tasks/${id}/move`, {}],
      ["DELETE", (id) => `/v1/tasks/${id}`],
      ["GET", (id) => `/v1/tasks/${id}/comments`],
      ["POST", (id) => `/v1/tasks/${id}/comments`, { body: "planted" }],
    ];
    for (const [method, path, body] of routes) {
      const foreignId = path("").startsWith("/v1/projects/") ? project.id : task.id;
      const foreign = await call(edge.app, method, path(foreignId), { key: bKey.key, body });
      const unknown = await call(edge.app, method, path(randomUUID()), { key: bKey.key, body });
      const malformed = await call(edge.app, method, path("not-an-id"), { key: bKey.key, body });
      expect(foreign.statusCode, `${method} ${path(":id")}`).toBe(404);
      expect(visible(foreign), `${method} ${path(":id")}`).toEqual(visible(unknown));
      expect(visible(malformed), `${method} ${path(":id")}`).toEqual(visible(unknown));
    }
    // naming A's task as a neighbour is refused like naming a task that does not exist
    const neighbour = await post(`/v1/tasks/${bTask.id}/move`, bKey.key, { before_task_id: task.id });
    const nobody = await post(`/v1/tasks/${bTask.id}/move`, bKey.key, { before_task_id: randomUUID() });
    expect(neighbour.statusCode).toBe(400);
    expect(visible(neighbour)).toEqual(visible(nobody));

    // lists show nothing of A's, and A's cursors read like garbage
    const bList = (
      await call(edge.app, "GET", "/v1/projects?include_archived=true&limit=100", { key: bKey.key })
    ).json();
    expect(bList.data.map((p: { id: string }) => p.id)).toEqual([bProject.id]);
    for (let i = 0; i < 2; i++) await post("/v1/projects", aKey.key, { name: `more ${i}`, key: projectKey() });
    const aCursor = (await call(edge.app, "GET", "/v1/projects?limit=1", { key: aKey.key })).json().next_cursor;
    expect(aCursor).toEqual(expect.any(String));
    const withForeignCursor = await call(edge.app, "GET", `/v1/projects?limit=1&cursor=${aCursor}`, { key: bKey.key });
    const withGarbage = await call(edge.app, "GET", "/v1/projects?limit=1&cursor=bm90LWEtY3Vyc29y.abc", {
      key: bKey.key,
    });
    expect(withForeignCursor.statusCode).toBe(400);
    expect(visible(withForeignCursor)).toEqual(visible(withGarbage));

    // and A's data is untouched
    const after = (await call(edge.app, "GET", `/v1/tasks/${task.id}`, { key: aKey.key })).json();
    expect(after).toMatchObject({ title: "secret task", version: 1 });
    expect((await call(edge.app, "GET", `/v1/projects/${project.id}`, { key: aKey.key })).json()).toMatchObject({
      name: "secret",
      archived: false,
    });
    const comments = (await call(edge.app, "GET", `/v1/tasks/${task.id}/comments`, { key: aKey.key })).json();
    expect(comments.data.map((c: { body: string }) => c.body)).toEqual(["secret comment"]);
  });

  it("replays a POST with the same Idempotency-Key and body, and refuses another body with 422", async () => {
    const key = `idem-${randomUUID()}`;
    const body = { name: "Once", key: projectKey() };
    const first = await post("/v1/projects", aKey.key, body, { "idempotency-key": key });
    expect(first.statusCode).toBe(201);
    expect(first.headers["idempotent-replayed"]).toBeUndefined();
    const again = await post("/v1/projects", aKey.key, { key: body.key, name: "Once" }, { "idempotency-key": key });
    expect(again.statusCode).toBe(201);
    expect(again.body).toBe(first.body);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.headers.location).toBe(first.headers.location);
    expect(again.headers.etag).toBe(first.headers.etag);
    const all = (await call(edge.app, "GET", "/v1/projects?limit=100", { key: aKey.key })).json();
    expect(all.data.filter((p: { key: string }) => p.key === body.key)).toHaveLength(1);

    const other = await post("/v1/projects", aKey.key, { ...body, name: "Twice" }, { "idempotency-key": key });
    expect(problemOf(other)).toMatchObject({ status: 422, type: "urn:tessera:problem:idempotency-key-reused" });
    const otherPath = await post(
      `/v1/projects/${first.json().id}/tasks`,
      aKey.key,
      { title: "x" },
      { "idempotency-key": key },
    );
    expect(problemOf(otherPath).status).toBe(422);

    // the outcome of running the request is what is kept, failures included
    const missing = `/v1/projects/${randomUUID()}/tasks`;
    const failed = await post(missing, aKey.key, { title: "t" }, { "idempotency-key": `${key}-404` });
    expect(failed.statusCode).toBe(404);
    const failedAgain = await post(missing, aKey.key, { title: "t" }, { "idempotency-key": `${key}-404` });
    expect(failedAgain.headers["idempotent-replayed"]).toBe("true");
    expect(failedAgain.body).toBe(failed.body);
  });

  it("scopes idempotency keys to the tenant: B's request with A's key and body runs as B's own", async () => {
    const key = `shared-${randomUUID()}`;
    const body = { name: "Same", key: projectKey() };
    const fromA = await post("/v1/projects", aKey.key, body, { "idempotency-key": key });
    const fromB = await post("/v1/projects", bKey.key, body, { "idempotency-key": key });
    expect(fromA.statusCode).toBe(201);
    expect(fromB.statusCode).toBe(201);
    expect(fromB.headers["idempotent-replayed"]).toBeUndefined();
    expect(fromB.json().id).not.toBe(fromA.json().id);
  });

  it("answers 409 with Retry-After while the first request with a key is still running", async () => {
    const key = `busy-${randomUUID()}`;
    const body = { name: "Busy", key: projectKey() };
    const claim = await edge.wired.deps.idempotency.begin(
      idempotencyScope(a.id, key),
      requestFingerprint({ subject: aKey.id, method: "POST", path: "/v1/projects", body }),
    );
    expect(claim.kind).toBe("proceed");
    const res = await post("/v1/projects", aKey.key, body, { "idempotency-key": key });
    expect(problemOf(res)).toMatchObject({ status: 409, type: "urn:tessera:problem:idempotency-key-in-use" });
    expect(res.headers["retry-after"]).toBe("1");
    if (claim.kind === "proceed") await claim.lease.abandon();
    expect((await post("/v1/projects", aKey.key, body, { "idempotency-key": key })).statusCode).toBe(201);
  });

  it("limits each tenant to its plan's requests per minute: RateLimit headers, then 429 with Retry-After", async () => {
    const small = await edge.platform.seed.tenant({ plan: "free" });
    const key = (await small.apiKey("viewer", READ_SCOPES)).key;
    let last: LightMyRequestResponse | undefined;
    for (let i = 0; i < 60; i++) {
      last = await call(edge.app, "GET", "/v1/projects?limit=1", { key });
      expect(last.statusCode).toBe(200);
      expect(last.headers["ratelimit-remaining"]).toBe(String(59 - i));
    }
    expect(last?.headers["ratelimit-limit"]).toBe("60");
    const refused = await call(edge.app, "GET", "/v1/projects?limit=1", { key });
    expect(problemOf(refused)).toMatchObject({ status: 429, type: "urn:tessera:problem:rate-limited" });
    const retryAfter = Number(refused.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers["ratelimit-remaining"]).toBe("0");
    // other tenants are not affected
    expect((await call(edge.app, "GET", "/v1/projects?limit=1", { key: bKey.key })).statusCode).toBe(200);
  });

  it("answers a change past a plan quota with 403 quota-exceeded naming the quota and its limit (rate limiting stays 429)", async () => {
    const small = await edge.platform.seed.tenant({ plan: "free" });
    const key = (await small.apiKey("admin", ALL_SCOPES)).key;
    const limit = getPlan("free").quotas.projects;
    for (let i = 0; i < limit; i++) {
      expect((await post("/v1/projects", key, { name: `p${i}`, key: projectKey() })).statusCode).toBe(201);
    }
    const refused = await post("/v1/projects", key, { name: "one too many", key: projectKey() });
    expect(problemOf(refused)).toEqual({
      type: "urn:tessera:problem:quota-exceeded",
      title: "Plan quota exceeded",
      status: 403,
      detail: `quota exceeded: projects (limit ${limit} on plan free)`,
      quota: "projects",
      limit,
    });
    expect(refused.headers["retry-after"]).toBeUndefined();
    // the tenant's other writes still work; a bigger tenant is not affected
    const list = await call(edge.app, "GET", "/v1/projects", { key });
    expect(list.json().data).toHaveLength(limit);
    expect((await post("/v1/projects", bKey.key, { name: "fine", key: projectKey() })).statusCode).toBe(201);
  });

  it("traces a request through its gRPC hop, logs it with tenant_id and trace_id, and counts it without tenant labels", async () => {
    const project = (await post("/v1/projects", aKey.key, { name: "Traced", key: projectKey() })).json();
    const traceId = randomBytes(16).toString("hex");
    const parent = randomBytes(8).toString("hex");
    spans.reset();
    const exchangesBefore = edge.wired.deps.exchanger.stats().exchanges;
    const res = await call(edge.app, "GET", `/v1/projects/${project.id}`, {
      key: aKey.key,
      headers: { traceparent: `00-${traceId}-${parent}-01` },
    });
    expect(res.statusCode).toBe(200);
    // the API key was exchanged once for this request (auth and the gRPC call share it), not cached across requests
    expect(edge.wired.deps.exchanger.stats().exchanges - exchangesBefore).toBe(1);
    const finished = spans.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const server = finished.find((s) => s.kind === SpanKind.SERVER && s.instrumentationScope.name === SCOPE);
    expect(server?.name).toBe("GET /v1/projects/:projectId");
    expect(server?.parentSpanContext?.spanId).toBe(parent);
    const client = finished.find((s) => s.kind === SpanKind.CLIENT);
    expect(client?.name).toBe("tessera.projects.v1.ProjectService/GetProject");
    expect(client?.parentSpanContext?.spanId).toBe(server?.spanContext().spanId);
    const exchange = finished.find((s) => s.name === "token exchange");
    expect(exchange?.parentSpanContext?.spanId).toBe(server?.spanContext().spanId);

    const line = edge.logs.lines().find((l) => l.msg === "request" && l.trace_id === traceId);
    expect(line).toMatchObject({
      tenant_id: a.id,
      status_code: 200,
      route: "/v1/projects/:projectId",
      service: "rest-gateway",
    });
    expect(edge.logs.text()).not.toContain(aKey.key);
    expect(edge.logs.text()).not.toContain(bKey.key);

    const metrics = await (await fetch(telemetry.metricsUrl ?? "")).text();
    expect(metrics).toMatch(
      /http_server_duration_seconds_bucket\{[^}]*route="\/v1\/projects\/:projectId"[^}]*status_code="200"[^}]*le="0.005"\}/,
    );
    expect(metrics).toMatch(/http_server_requests_total\{[^}]*method="GET"/);
    expect(metrics).toMatch(/http_server_errors_total\{[^}]*status_code="404"/);
    expect(metrics).not.toContain(a.id);
    expect(metrics).not.toContain(project.id);
  });

  it("announces deprecation and sunset of a retired version on its responses and in its OpenAPI", async () => {
    const retired = await build({
      ...edge.wired.deps,
      versions: {
        v1: {
          deprecatedAt: new Date("2030-01-01T00:00:00Z"),
          sunsetAt: new Date("2031-01-01T00:00:00Z"),
          link: "https://docs.example.test/v2-migration",
        },
      },
    });
    try {
      const res = await call(retired, "GET", "/v1/projects", { key: aKey.key });
      expect(res.statusCode).toBe(200);
      expect(res.headers.deprecation).toBe("@1893456000");
      expect(res.headers.sunset).toBe("Wed, 01 Jan 2031 00:00:00 GMT");
      expect(res.headers.link).toContain('rel="deprecation sunset"');
      const doc = (await retired.inject({ method: "GET", url: "/v1/openapi.json" })).json();
      expect(doc.paths["/v1/projects"].get.deprecated).toBe(true);
      // a current version sends none of it
      expect((await call(edge.app, "GET", "/v1/projects", { key: aKey.key })).headers.deprecation).toBeUndefined();
    } finally {
      await retired.close();
    }
  });

  it("runs as a real process: HTTP on a port, healthz, the API, and a clean exit on SIGTERM", async () => {
    const main = new URL("../src/main.ts", import.meta.url).pathname;
    const proc = await startMain(
      main,
      { ...edge.env, PORT: "0", METRICS_PORT: "0", LOG_LEVEL: "info" },
      { logName: "rest-gateway-process" },
    );
    try {
      expect((await fetch(`${proc.url}/healthz`)).status).toBe(200);
      const listed = await fetch(`${proc.url}/v1/projects?limit=1`, { headers: { "x-api-key": aKey.key } });
      expect(listed.status).toBe(200);
      expect(listed.headers.get("ratelimit-limit")).toBe("600");
      const missing = await fetch(`${proc.url}/v1/projects/${randomUUID()}`, {
        headers: { authorization: `Bearer ${aKey.key}` },
      });
      expect(missing.status).toBe(404);
      expect(missing.headers.get("content-type")).toContain("application/problem+json");
      expect((await fetch(`${proc.url}/v1/openapi.json`)).status).toBe(200);
    } finally {
      expect(await stopMain(proc)).toBe(0);
    }
    const logged = proc.lines().filter((l) => l.msg === "request");
    expect(logged.find((l) => l.route === "/v1/projects")).toMatchObject({ tenant_id: a.id });
    expect(proc.stdout()).not.toContain(aKey.key);
  });
});
