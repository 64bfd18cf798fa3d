import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { AuditEvent } from "@tessera/proto/tessera/audit/v1/audit_pb";
import { ActorKind, Outcome } from "@tessera/proto/tessera/common/v1/event_pb";
import { LoginEventSchema, LoginFailureReason } from "@tessera/proto/tessera/identity/v1/events_pb";
import { EchoRequestSchema } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chainHash, GENESIS_HASH } from "../src/domain/record.ts";
import { recordFromRow } from "../src/domain/sql.ts";
import {
  type AuditEnv,
  as,
  auditEnv,
  Code,
  fieldsOf,
  type InProcess,
  recordsOf,
  rejection,
  startInProcess,
  tokens,
} from "./support.ts";

let env: AuditEnv;
let svc: InProcess;
let adminOf: (tenant: string) => Promise<string>;

beforeAll(async () => {
  env = await auditEnv("audit_log");
  svc = await startInProcess(env, { exportBatchSize: 3 });
  adminOf = (tenant) => tokens(env.issuer).tenantUser(tenant, ["admin"]);
});

afterAll(async () => {
  await svc?.stop();
  await env?.close();
});

const echo = (message: string) => create(EchoRequestSchema, { message });

async function listAll(tenant: string, token: string): Promise<AuditEvent[]> {
  const res = await svc.client.listAuditEvents({ tenantId: tenant, page: { pageSize: 500 } }, as(token));
  return res.events;
}

describe("recording", () => {
  it("records an event with tenant, actor, action, target, outcome, origin, and a hash over them", async () => {
    const tenant = randomUUID();
    const key = randomUUID();
    const sent = await svc.publish({
      tenantId: tenant,
      type: "api_key.revoked",
      aggregateId: key,
      schema: EchoRequestSchema,
      payload: echo("revoked"),
      actor: { kind: "user", id: "user-7" },
      origin: { clientIp: "203.0.113.9", userAgent: "curl/8.5\r\nforged: yes" },
    });
    await recordsOf(env, tenant, 1);
    const [event] = await listAll(tenant, await adminOf(tenant));
    expect(event).toMatchObject({
      tenantId: tenant,
      sequence: 1n,
      eventId: sent.id,
      action: "api_key.revoked",
      target: { type: "api_key", id: key },
      actor: { kind: ActorKind.USER, id: "user-7" },
      outcome: Outcome.SUCCESS,
      sourceIp: "203.0.113.9",
      userAgent: "curl/8.5\r\nforged: yes",
      previousHash: GENESIS_HASH.toString("hex"),
    });
    const [row] = await env.admin("select * from audit_records where tenant_id = $1", [tenant]);
    const stored = recordFromRow(row as never);
    expect(event?.hash).toBe(chainHash(GENESIS_HASH, stored).toString("hex"));
  });

  it("takes client_ip / user_agent from the payload by reflection, and the outcome from the envelope or the verb", async () => {
    const tenant = randomUUID();
    const user = randomUUID();
    const login = (reason: LoginFailureReason) =>
      create(LoginEventSchema, { userId: user, clientIp: "198.51.100.4", userAgent: "Firefox/140", reason });
    await svc.publish({
      tenantId: tenant,
      type: "user.login_failed",
      aggregateId: user,
      schema: LoginEventSchema,
      payload: login(LoginFailureReason.WRONG_PASSWORD),
    });
    await svc.publish({
      tenantId: tenant,
      type: "user.locked_out",
      aggregateId: user,
      schema: LoginEventSchema,
      payload: login(LoginFailureReason.LOCKED),
      outcome: "denied",
    });
    await recordsOf(env, tenant, 2);
    const events = (await listAll(tenant, await adminOf(tenant))).reverse();
    expect(events.map((e) => [e.sequence, e.action, e.outcome, e.sourceIp, e.userAgent])).toEqual([
      [1n, "user.login_failed", Outcome.FAILURE, "198.51.100.4", "Firefox/140"],
      [2n, "user.locked_out", Outcome.DENIED, "198.51.100.4", "Firefox/140"],
    ]);
    expect(events[1]?.previousHash).toBe(events[0]?.hash);
  });

  it("records an event once however often it is delivered, even under another message id", async () => {
    const tenant = randomUUID();
    const first = await svc.publish({
      tenantId: tenant,
      type: "widget.created",
      aggregateId: "w-1",
      schema: EchoRequestSchema,
      payload: echo("one"),
    });
    await svc.republish(first);
    await svc.republish(first);
    await svc.publish({
      tenantId: tenant,
      type: "widget.deleted",
      aggregateId: "w-1",
      schema: EchoRequestSchema,
      payload: echo("two"),
    });
    await recordsOf(env, tenant, 2);
    // the second event arrived after both repeats of the first: all three deliveries were handled
    const events = await listAll(tenant, await adminOf(tenant));
    expect(events.map((e) => [e.sequence, e.action])).toEqual([
      [2n, "widget.deleted"],
      [1n, "widget.created"],
    ]);
  });
});

describe("ListAuditEvents", () => {
  const tenant = randomUUID();
  const t0 = new Date("2030-01-01T00:00:00Z");
  const minute = (n: number) => new Date(Date.UTC(2029, 0, 1, 0, n));

  beforeAll(async () => {
    for (let i = 0; i < 7; i++) {
      const sent = await svc.publish({
        occurredAt: minute(i),
        tenantId: tenant,
        type: i % 2 === 0 ? "project.created" : "member.invited",
        aggregateId: `agg-${i % 3}`,
        schema: EchoRequestSchema,
        payload: echo(`e${i}`),
        actor: i < 4 ? { kind: "user", id: "ada" } : { kind: "api_key", id: "key-1" },
      });
      expect(sent.id).toBeTruthy();
    }
    await recordsOf(env, tenant, 7);
  });

  it("pages newest first with an opaque cursor", async () => {
    const token = await adminOf(tenant);
    const seen: bigint[] = [];
    let pageToken = "";
    do {
      const res = await svc.client.listAuditEvents({ page: { pageSize: 3, pageToken } }, as(token));
      seen.push(...res.events.map((e) => e.sequence));
      pageToken = res.page?.nextPageToken ?? "";
    } while (pageToken);
    expect(seen).toEqual([7n, 6n, 5n, 4n, 3n, 2n, 1n]);
  });

  it("filters by actor, actor kind, action and target", async () => {
    const token = await adminOf(tenant);
    const list = async (filter: Record<string, unknown>) =>
      (await svc.client.listAuditEvents({ filter }, as(token))).events.map((e) => Number(e.sequence));
    expect(await list({ actorId: "ada" })).toEqual([4, 3, 2, 1]);
    expect(await list({ actorKind: ActorKind.API_KEY })).toEqual([7, 6, 5]);
    expect(await list({ action: "member.invited" })).toEqual([6, 4, 2]);
    expect(await list({ targetType: "project", targetId: "agg-0" })).toEqual([7, 1]);
    expect(await list({ action: "nothing.here" })).toEqual([]);
  });

  it("filters by time range: start inclusive, end exclusive", async () => {
    const token = await adminOf(tenant);
    const res = await svc.client.listAuditEvents(
      { filter: { startTime: timestampFromDate(minute(2)), endTime: timestampFromDate(minute(5)) } },
      as(token),
    );
    expect(res.events.map((e) => Number(e.sequence))).toEqual([5, 4, 3]);
    const future = await svc.client.listAuditEvents({ filter: { startTime: timestampFromDate(t0) } }, as(token));
    expect(future.events).toEqual([]);
  });

  it("refuses bad input with field-level messages", async () => {
    const token = await adminOf(tenant);
    const backwards = await rejection(
      svc.client.listAuditEvents(
        { filter: { startTime: timestampFromDate(t0), endTime: timestampFromDate(new Date("2029-01-01")) } },
        as(token),
      ),
    );
    expect(backwards.code).toBe(Code.InvalidArgument);
    expect(fieldsOf(backwards)).toEqual(["filter.end_time"]);
    const badToken = await rejection(
      svc.client.listAuditEvents({ page: { pageSize: 2, pageToken: "bm9wZQ.AAAA" } }, as(token)),
    );
    expect(badToken.code).toBe(Code.InvalidArgument);
    expect(fieldsOf(badToken)).toEqual(["page.page_token"]);
    const badAction = await rejection(svc.client.listAuditEvents({ filter: { action: "Not An Action" } }, as(token)));
    expect(badAction.code).toBe(Code.InvalidArgument);
    expect(fieldsOf(badAction)).toEqual(["filter.action"]);
    const badTenant = await rejection(svc.client.listAuditEvents({ tenantId: "tenant-a" }, as(token)));
    expect(badTenant.code).toBe(Code.InvalidArgument);
    expect(fieldsOf(badTenant)).toEqual(["tenant_id"]);
  });

  it("rejects a cursor reused with another filter", async () => {
    const token = await adminOf(tenant);
    const first = await svc.client.listAuditEvents({ page: { pageSize: 2 } }, as(token));
    const err = await rejection(
      svc.client.listAuditEvents(
        { filter: { actorId: "ada" }, page: { pageSize: 2, pageToken: first.page?.nextPageToken ?? "" } },
        as(token),
      ),
    );
    expect(err.code).toBe(Code.InvalidArgument);
  });
});

describe("ExportAuditEvents and VerifyChain", () => {
  it("exports the whole log in chain order, in batches, and verifies it", async () => {
    const tenant = randomUUID();
    for (let i = 0; i < 8; i++) {
      await svc.publish({
        tenantId: tenant,
        type: "doc.edited",
        aggregateId: "d",
        schema: EchoRequestSchema,
        payload: echo(`${i}`),
      });
    }
    await recordsOf(env, tenant, 8);
    const token = await adminOf(tenant);
    const batches: number[][] = [];
    for await (const res of svc.client.exportAuditEvents({}, as(token))) {
      batches.push(res.events.map((e) => Number(e.sequence)));
    }
    expect(batches).toEqual([
      [1, 2, 3],
      [4, 5, 6],
      [7, 8],
    ]);
    const verdict = await svc.client.verifyChain({}, as(token));
    expect(verdict).toMatchObject({
      ok: true,
      firstBrokenSequence: 0n,
      fromSequence: 1n,
      toSequence: 8n,
      verifiedCount: 8n,
    });
    const part = await svc.client.verifyChain({ fromSequence: 3n, toSequence: 5n }, as(token));
    expect(part).toMatchObject({ ok: true, fromSequence: 3n, toSequence: 5n, verifiedCount: 3n });
    const backwards = await rejection(svc.client.verifyChain({ fromSequence: 5n, toSequence: 3n }, as(token)));
    expect(backwards.code).toBe(Code.InvalidArgument);
    expect(fieldsOf(backwards)).toEqual(["to_sequence"]);
  });

  it("reports the first broken sequence after a record is changed in the database", async () => {
    const tenant = randomUUID();
    for (let i = 0; i < 5; i++) {
      await svc.publish({
        tenantId: tenant,
        type: "doc.edited",
        aggregateId: "d",
        schema: EchoRequestSchema,
        payload: echo(`${i}`),
      });
    }
    await recordsOf(env, tenant, 5);
    // a superuser bypasses the append-only trigger (replica mode) and row-level security
    await env.admin(`begin;
      set local session_replication_role = replica;
      update audit_records set actor_id = 'mallory' where tenant_id = '${tenant}' and seq = 3;
      commit;`);
    const verdict = await svc.client.verifyChain({}, as(await adminOf(tenant)));
    expect(verdict).toMatchObject({ ok: false, firstBrokenSequence: 3n, verifiedCount: 2n });
    expect(verdict.reason).toMatch(/hash/);
  });
});
