import { randomUUID } from "node:crypto";
import { Kvm } from "@nats-io/kv";
import { createLogger } from "@tessera/platform/log";
import { type ApiKeySeed, captureLogs, startPlatform, type TestPlatform } from "@tessera/test/harness";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRestConfig, SERVICE } from "../src/config.ts";
import { NDJSON_MEDIA_TYPE } from "../src/routes/v1/audit-events.ts";
import { build } from "../src/server.ts";
import { type Wired, wire } from "../src/wiring.ts";
import { ALL_SCOPES, call, EDGE_CLIENT, problemOf, projectKey } from "./support.ts";

type AuditRecord = { sequence: number; action: string; target: { type: string; id: string }; hash: string };

describe("REST /v1/audit-events on the real platform (tenancy, projects, audit)", () => {
  let platform: TestPlatform;
  let wired: Wired;
  let app: FastifyInstance;
  let bucket: string;
  let auditorA: ApiKeySeed;
  let noScopeA: ApiKeySeed;
  let auditorB: ApiKeySeed;
  let projectId: string;

  /** Polls the list until the predicate holds for some record (the audit trail is asynchronous). */
  async function waitForRecord(key: string, query: string, pred: (r: AuditRecord) => boolean): Promise<AuditRecord[]> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const res = await call(app, "GET", `/v1/audit-events${query}`, { key });
      expect(res.statusCode, res.body).toBe(200);
      const data = res.json().data as AuditRecord[];
      if (data.some(pred)) return data;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no matching audit record for ${query}`);
  }

  beforeAll(async () => {
    platform = await startPlatform({
      services: ["tenancy", "projects", "audit"],
      clients: [{ id: EDGE_CLIENT, roles: ["edge", "service"] }],
    });
    bucket = `rest_idem_${randomUUID().slice(0, 8)}`;
    const env: Record<string, string> = { ...platform.gatewayEnv(EDGE_CLIENT), IDEMPOTENCY_BUCKET: bucket };
    expect(env.AUDIT_URL).toBeTruthy();
    const logger = createLogger({ service: SERVICE, destination: captureLogs("rest-gateway-audit").stream });
    wired = await wire(parseRestConfig(env), logger);
    app = await build(wired.deps);
    await app.ready();

    const a = await platform.seed.tenant();
    const b = await platform.seed.tenant();
    auditorA = await a.apiKey("admin", [...ALL_SCOPES, "audit.read"]);
    noScopeA = await a.apiKey("admin", ALL_SCOPES);
    auditorB = await b.apiKey("admin", [...ALL_SCOPES, "audit.read"]);
    const created = await call(app, "POST", "/v1/projects", {
      key: auditorA.key,
      body: { name: "Audited", key: projectKey() },
    });
    expect(created.statusCode, created.body).toBe(201);
    projectId = created.json().id;
  }, 180_000);

  afterAll(async () => {
    await app?.close();
    if (wired) {
      await (await new Kvm(wired.nats).open(bucket)).destroy().catch(() => undefined);
      await wired.close();
    }
    await platform?.stop();
  });

  it("lists the tenant's records with filters and cursor paging", async () => {
    const data = await waitForRecord(auditorA.key, "?action=project.created", (r) => r.target.id === projectId);
    const rec = data.find((r) => r.target.id === projectId);
    expect(rec).toMatchObject({ action: "project.created", target: { type: "project", id: projectId } });
    expect(rec?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(data.every((r) => r.action === "project.created")).toBe(true);

    // a second project → two records; page through them one at a time
    const second = await call(app, "POST", "/v1/projects", {
      key: auditorA.key,
      body: { name: "Audited 2", key: projectKey() },
    });
    expect(second.statusCode).toBe(201);
    await waitForRecord(auditorA.key, "?action=project.created", (r) => r.target.id === second.json().id);
    const page1 = await call(app, "GET", "/v1/audit-events?action=project.created&limit=1", { key: auditorA.key });
    expect(page1.json().data).toHaveLength(1);
    const cursor = page1.json().next_cursor as string;
    expect(cursor).toBeTruthy();
    const page2 = await call(
      app,
      "GET",
      `/v1/audit-events?action=project.created&limit=1&cursor=${encodeURIComponent(cursor)}`,
      {
        key: auditorA.key,
      },
    );
    expect(page2.statusCode, page2.body).toBe(200);
    expect(page2.json().data[0].sequence).toBeLessThan(page1.json().data[0].sequence);

    const byTarget = await call(app, "GET", `/v1/audit-events?target_id=${projectId}`, { key: auditorA.key });
    expect(byTarget.json().data.map((r: AuditRecord) => r.target.id)).toEqual([projectId]);
    const future = await call(app, "GET", "/v1/audit-events?since=2999-01-01T00:00:00Z", { key: auditorA.key });
    expect(future.json()).toEqual({ data: [], next_cursor: null });
  });

  it("rejects malformed filters with problem+json", async () => {
    const bad = await call(app, "GET", "/v1/audit-events?since=yesterday", { key: auditorA.key });
    expect(bad.statusCode).toBe(400);
    expect(problemOf(bad).type).toBe("urn:tessera:problem:invalid-request");
    const reversed = await call(app, "GET", "/v1/audit-events?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", {
      key: auditorA.key,
    });
    expect(reversed.statusCode).toBe(400);
  });

  it("exports NDJSON, oldest first, and verifies the chain", async () => {
    await waitForRecord(auditorA.key, "", (r) => r.target.id === projectId);
    const res = await call(app, "GET", "/v1/audit-events/export", { key: auditorA.key });
    expect(res.statusCode, res.body).toBe(200);
    expect(String(res.headers["content-type"])).toContain(NDJSON_MEDIA_TYPE);
    expect(res.body.endsWith("\n")).toBe(true);
    const lines = res.body
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as AuditRecord);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.map((r) => r.sequence)).toEqual(lines.map((_, i) => i + 1));
    expect(lines.some((r) => r.action === "project.created" && r.target.id === projectId)).toBe(true);

    const filtered = await call(app, "GET", `/v1/audit-events/export?target_id=${projectId}`, { key: auditorA.key });
    expect(
      filtered.body
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l).target.id),
    ).toEqual([projectId]);

    const verify = await call(app, "GET", "/v1/audit-events/verify", { key: auditorA.key });
    expect(verify.statusCode, verify.body).toBe(200);
    expect(verify.json()).toMatchObject({ ok: true, first_broken_sequence: null, reason: null });
    expect(verify.json().verified_count).toBeGreaterThanOrEqual(lines.length);
  });

  it("refuses a key without the audit.read scope (403) on every route", async () => {
    for (const path of ["/v1/audit-events", "/v1/audit-events/export", "/v1/audit-events/verify"]) {
      const res = await call(app, "GET", path, { key: noScopeA.key });
      expect(res.statusCode, path).toBe(403);
      expect(problemOf(res).type).toBe("urn:tessera:problem:forbidden");
    }
  });

  it("never shows tenant A's records to tenant B (list, export, verify)", async () => {
    await waitForRecord(auditorA.key, "", (r) => r.target.id === projectId);
    const list = await call(app, "GET", "/v1/audit-events?limit=100", { key: auditorB.key });
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain(projectId);
    const byTarget = await call(app, "GET", `/v1/audit-events?target_id=${projectId}`, { key: auditorB.key });
    expect(byTarget.json().data).toEqual([]);
    const exported = await call(app, "GET", "/v1/audit-events/export", { key: auditorB.key });
    expect(exported.statusCode).toBe(200);
    expect(exported.body).not.toContain(projectId);
    const ownA = await call(app, "GET", "/v1/audit-events/export", { key: auditorA.key });
    const hashesA = new Set(
      ownA.body
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l).hash as string),
    );
    for (const line of exported.body.split("\n").filter(Boolean))
      expect(hashesA.has(JSON.parse(line).hash)).toBe(false);
    const verify = await call(app, "GET", "/v1/audit-events/verify", { key: auditorB.key });
    expect(verify.statusCode).toBe(200);
    // B's chain is B's own: exactly the records B's export holds
    expect(verify.json().verified_count).toBe(exported.body.split("\n").filter(Boolean).length);
  });
});
