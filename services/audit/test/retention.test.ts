import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { createLogger } from "@tessera/platform/log";
import { TenantEventSchema, TenantSchema } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { EchoRequestSchema } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { captureLogs } from "@tessera/test/harness";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendRecord } from "../src/domain/append.ts";
import { enforceRetention, type RetentionOptions } from "../src/domain/retention.ts";
import { loadSigner } from "../src/domain/signing.ts";
import { pgSql } from "../src/domain/sql.ts";
import { openHeadStore } from "../src/events/publish-heads.ts";
import {
  type AuditEnv,
  as,
  auditEnv,
  eventually,
  type InProcess,
  recordsOf,
  startInProcess,
  tokens,
} from "./support.ts";

const DAY = 24 * 60 * 60 * 1000;
let env: AuditEnv;
let svc: InProcess;
let ownerPool: pg.Pool;
let retention: (now: Date, extra?: Partial<RetentionOptions>) => ReturnType<typeof enforceRetention>;

beforeAll(async () => {
  env = await auditEnv("audit_retention");
  svc = await startInProcess(env);
  ownerPool = new pg.Pool({ connectionString: env.db.ownerUrl, max: 2 });
  const logger = createLogger({ service: "audit", destination: captureLogs("audit-retention").stream });
  const signer = loadSigner(env.signingKey);
  const store = await openHeadStore(svc.nats);
  retention = (now, extra = {}) =>
    enforceRetention({ pool: ownerPool, platformRetentionDays: 365, logger, now: () => now, signer, store, ...extra });
});

afterAll(async () => {
  await ownerPool?.end();
  await svc?.stop();
  await env?.close();
});

/** Appends records as the app role with a chosen recording time (the consumer always uses now). */
async function appendAt(tenantId: string, recordedAt: Date[]): Promise<void> {
  const client = new pg.Client({ connectionString: env.db.appUrl });
  await client.connect();
  try {
    for (const at of recordedAt) {
      await client.query("begin");
      await client.query("select set_config('app.tenant_id', $1, true)", [tenantId]);
      await appendRecord(
        pgSql(client),
        {
          tenantId,
          eventId: randomUUID(),
          occurredAt: at,
          actorKind: "system",
          actorId: "test",
          action: "doc.edited",
          targetType: "doc",
          targetId: "d",
          outcome: "success",
          sourceIp: "",
          userAgent: "",
        },
        at,
      );
      await client.query("commit");
    }
  } finally {
    await client.end();
  }
}

const seqs = async (tenantId: string) =>
  (await env.admin<{ seq: string }>("select seq from audit_records where tenant_id = $1 order by seq", [tenantId])).map(
    (r) => Number(r.seq),
  );

describe("retention", () => {
  it("keeps each tenant's records for its plan's audit_retention_days, from tenancy's events", async () => {
    const team = randomUUID();
    const unknown = randomUUID();
    const tenant = create(TenantSchema, { id: team, plan: "team", slug: "t" });
    await svc.publish({
      tenantId: team,
      type: "tenant.created",
      aggregateId: team,
      schema: TenantEventSchema,
      payload: create(TenantEventSchema, { tenant }),
    });
    await svc.publish({
      tenantId: unknown,
      type: "doc.edited",
      aggregateId: "d",
      schema: EchoRequestSchema,
      payload: create(EchoRequestSchema),
    });
    await recordsOf(env, team, 1);
    await recordsOf(env, unknown, 1);
    await eventually(async () => {
      const rows = await env.admin<{ plan: string }>("select plan from audit_tenant_plans where tenant_id = $1", [
        team,
      ]);
      return rows[0]?.plan === "team" ? true : undefined;
    }, "the plan projection");

    // eight days on: past the free plan's 7 days (the default for a tenant audit knows no plan of), within team's 90
    const outcomes = await retention(new Date(Date.now() + 8 * DAY));
    expect(outcomes.find((o) => o.tenantId === unknown)).toMatchObject({ removed: 1, checkpointSeq: 1 });
    expect(outcomes.find((o) => o.tenantId === team)).toMatchObject({ removed: 0 });
    expect(await seqs(unknown)).toEqual([]);
    expect(await seqs(team)).toEqual([1]);

    // the chain goes on from the checkpoint, and verifies
    await svc.publish({
      tenantId: unknown,
      type: "doc.edited",
      aggregateId: "d",
      schema: EchoRequestSchema,
      payload: create(EchoRequestSchema),
    });
    await recordsOf(env, unknown, 1);
    const verdict = await svc.client.verifyChain({}, as(await tokens(env.issuer).tenantUser(unknown)));
    expect(verdict).toMatchObject({
      ok: true,
      fromSequence: 2n,
      toSequence: 2n,
      verifiedCount: 1n,
      checkpoint: { sequence: 1n },
    });
  });

  it("removes whole expired prefixes only, in bounded runs, and records a checkpoint verification continues from", async () => {
    const tenant = randomUUID();
    const t0 = new Date("2031-03-01T00:00:00Z");
    const day = (n: number) => new Date(t0.getTime() + n * DAY);
    await appendAt(tenant, [day(0), day(0), day(1), day(2), day(10), day(11)]);

    const first = await retention(day(9.5), { maxRecordsPerRun: 2 });
    expect(first.find((o) => o.tenantId === tenant)).toMatchObject({ removed: 2, checkpointSeq: 2 });
    const second = await retention(day(9.5), { maxRecordsPerRun: 2 });
    expect(second.find((o) => o.tenantId === tenant)).toMatchObject({ removed: 2, checkpointSeq: 4 });
    expect(await seqs(tenant)).toEqual([5, 6]);
    const token = await tokens(env.issuer).tenantUser(tenant);
    expect(await svc.client.verifyChain({}, as(token))).toMatchObject({
      ok: true,
      fromSequence: 5n,
      toSequence: 6n,
      checkpoint: { sequence: 4n },
    });
    // a range starting before the checkpoint starts at it
    expect((await svc.client.verifyChain({ fromSequence: 1n }, as(token))).fromSequence).toBe(5n);

    // the first retained record removed behind retention's back: the break is found right after the checkpoint
    await env.admin(`delete from audit_records where tenant_id = '${tenant}' and seq = 5`);
    expect(await svc.client.verifyChain({}, as(token))).toMatchObject({ ok: false, firstBrokenSequence: 5n });
  });

  it("refuses to remove an expired prefix that does not verify (the evidence is kept)", async () => {
    const tenant = randomUUID();
    const t0 = new Date("2032-01-01T00:00:00Z");
    await appendAt(tenant, [t0, t0, t0]);
    await env.admin(`begin;
      set local session_replication_role = replica;
      update audit_records set actor_id = 'mallory' where tenant_id = '${tenant}' and seq = 2;
      commit;`);
    const outcomes = await retention(new Date(t0.getTime() + 30 * DAY));
    expect(outcomes.find((o) => o.tenantId === tenant)).toMatchObject({ removed: 0 });
    expect(outcomes.find((o) => o.tenantId === tenant)?.refused).toMatch(/chain broken at 2/);
    expect(await seqs(tenant)).toEqual([1, 2, 3]);
  });
});
