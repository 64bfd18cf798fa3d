/**
 * NATS restarted 10 times while events flow from a producer's outbox into audit: afterwards audit's
 * log holds every committed event exactly once (and no rolled-back one), and every chain verifies.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { MikroORM } from "@mikro-orm/postgresql";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { type RunningNats, startNats } from "@tessera/dev/infra";
import { createTokenVerifier } from "@tessera/platform/auth";
import { startTestIssuer, type TestIssuer } from "@tessera/platform/auth/testing";
import { runAsTenant } from "@tessera/platform/context";
import { createDb, type Db } from "@tessera/platform/db";
import {
  connectNats,
  enqueueEvent,
  ensureStreams,
  eventsMigrationSql,
  type OutboxRelay,
  startOutboxRelay,
} from "@tessera/platform/events";
import { createLogger } from "@tessera/platform/log";
import { EchoRequestSchema } from "@tessera/proto/tessera/testing/v1/echo_pb";
import {
  captureLogs,
  freshDatabase,
  migrateServiceDatabase,
  type ServiceDatabase,
  serviceDatabase,
  type TestDatabase,
} from "@tessera/test/harness";
import pg from "pg";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { migrations } from "../../services/audit/migrations/index.ts";
import { configSchema } from "../../services/audit/src/config.ts";
import { pgSql } from "../../services/audit/src/domain/sql.ts";
import { verifyChain } from "../../services/audit/src/domain/verify.ts";
import { type Audit, build } from "../../services/audit/src/server.ts";

const RESTARTS = 10;
const UP_MS = 1_500;
const DOWN_MS = 1_500;
const PRODUCE_EVERY_MS = 20;
const ROLLBACK_EVERY = 7;

const logs = captureLogs("e2e-nats-restart");
const logger = createLogger({ service: "e2e-nats-restart", destination: logs.stream });
let nats: RunningNats;
let issuer: TestIssuer;
let producerDb: TestDatabase;
let producer: MikroORM;
let auditDb: ServiceDatabase;
let auditOrm: Db;
const clients: NatsConnection[] = [];
let relay: OutboxRelay | undefined;
let audit: Audit | undefined;

async function sql<R extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url, statement_timeout: 10_000 });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  nats = await startNats({ storeDir: join(inject("runDir"), `nats-restart-${randomBytes(4).toString("hex")}`) });
  issuer = await startTestIssuer();
  producerDb = await freshDatabase("restart_producer");
  for (const statement of eventsMigrationSql()) await sql(producerDb.adminUrl, statement);
  await sql(producerDb.adminUrl, "create table widgets (id uuid primary key, tenant_id uuid not null)");
  producer = await MikroORM.init({
    clientUrl: producerDb.adminUrl,
    entities: [],
    discovery: { warnWhenNoEntities: false },
    allowGlobalContext: false,
    pool: { min: 0, max: 3 },
    driverOptions: { connectionTimeoutMillis: 10_000, statement_timeout: 10_000 },
  });
  auditDb = await serviceDatabase("restart_audit");
  await migrateServiceDatabase(auditDb, [], migrations);
  auditOrm = await createDb({ url: auditDb.appUrl, entities: [], logger, poolMax: 3 });
}, 60_000);

afterAll(async () => {
  await audit?.server.shutdown("test over");
  await relay?.stop();
  for (const nc of clients) await nc.close().catch(() => {});
  await auditOrm?.close();
  await producer?.close(true);
  await nats?.stop();
  await issuer?.stop();
  await Promise.all([producerDb?.drop(), auditDb?.drop()]);
});

/** Produces one event per interval for `tenants`, a transaction in ROLLBACK_EVERY rolled back, until aborted. */
function produce(tenants: string[], stop: AbortSignal) {
  const committed = new Map(tenants.map((t) => [t, [] as string[]]));
  const rolledBack = new Set<string>();
  const done = (async () => {
    for (let i = 0; !stop.aborted; i++) {
      const tenant = tenants[i % tenants.length] as string;
      const rollback = i % ROLLBACK_EVERY === ROLLBACK_EVERY - 1;
      let eventId = "";
      try {
        await runAsTenant(tenant, () =>
          producer.em.fork().transactional(async (em) => {
            const widget = randomUUID();
            await em.execute("insert into widgets (id, tenant_id) values (?, ?)", [widget, tenant], "run");
            eventId = (
              await enqueueEvent(em, {
                type: "widget.created",
                aggregateId: widget,
                schema: EchoRequestSchema,
                payload: create(EchoRequestSchema, { message: `widget ${i}` }),
                origin: { clientIp: "192.0.2.10", userAgent: "restart-test" },
              })
            ).id;
            if (rollback) throw new Error("rolled back on purpose");
          }),
        );
        committed.get(tenant)?.push(eventId);
      } catch (err) {
        if (!rollback) throw err;
        rolledBack.add(eventId);
      }
      await new Promise((r) => setTimeout(r, PRODUCE_EVERY_MS));
    }
  })();
  return { committed, rolledBack, done };
}

it(`records every committed event exactly once through ${RESTARTS} NATS restarts, and the chains verify`, async () => {
  const connect = async (name: string) => {
    const nc = await connectNats(nats.url, name);
    clients.push(nc);
    return nc;
  };
  const relayNc = await connect("restart-relay");
  await ensureStreams(await jetstreamManager(relayNc, { timeout: 5_000 }));
  relay = startOutboxRelay({
    pg: producerDb.adminUrl,
    nats: relayNc,
    logger,
    pollIntervalMs: 50,
    publishTimeoutMs: 2_000,
    maxBackoffMs: 500,
  });
  audit = await build({
    orm: auditOrm.orm,
    verifier: createTokenVerifier({ jwksUrl: issuer.jwksUrl, issuer: issuer.issuer, audience: "audit" }),
    logger,
    nats: await connect("restart-audit"),
    config: configSchema.parse({
      PORT: "0",
      AUTH_JWKS_URL: issuer.jwksUrl,
      AUTH_ISSUER: issuer.issuer,
      DATABASE_URL: auditDb.appUrl,
      OUTBOX_RELAY_DATABASE_URL: auditDb.ownerUrl,
      NATS_URL: nats.url,
      AUDIT_RETENTION_ENABLED: "false",
    }),
  });
  audit.start();

  const tenants = [randomUUID(), randomUUID(), randomUUID()];
  const stop = new AbortController();
  const run = produce(tenants, stop.signal);
  for (let n = 0; n < RESTARTS; n++) {
    await new Promise((r) => setTimeout(r, UP_MS));
    await nats.kill();
    await new Promise((r) => setTimeout(r, DOWN_MS));
    await nats.restart();
  }
  stop.abort();
  await run.done;

  const committed = [...run.committed.values()].flat();
  expect(committed.length).toBeGreaterThan(300);
  expect(run.rolledBack.size).toBeGreaterThan(0);
  const count = async () =>
    Number((await sql<{ n: string }>(auditDb.adminUrl, "select count(*) as n from audit_records"))[0]?.n);
  const deadline = Date.now() + 45_000;
  while ((await count()) < committed.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  // a short grace lets a late duplicate show up before counting
  await new Promise((r) => setTimeout(r, 1_000));

  const rows = await sql<{ tenant_id: string; seq: string; event_id: string; source_ip: string }>(
    auditDb.adminUrl,
    "select tenant_id, seq, event_id, source_ip from audit_records order by tenant_id, seq",
  );
  expect(rows.length).toBe(committed.length);
  expect(new Set(rows.map((r) => r.event_id))).toEqual(new Set(committed));
  expect(rows.filter((r) => run.rolledBack.has(r.event_id))).toEqual([]);
  expect(new Set(rows.map((r) => r.source_ip))).toEqual(new Set(["192.0.2.10"]));
  const admin = new pg.Client({ connectionString: auditDb.adminUrl });
  await admin.connect();
  try {
    for (const tenant of tenants) {
      const mine = rows.filter((r) => r.tenant_id === tenant).map((r) => Number(r.seq));
      expect(mine).toEqual(mine.map((_, i) => i + 1));
      // each tenant's events were published, hence recorded, in commit order
      expect(rows.filter((r) => r.tenant_id === tenant).map((r) => r.event_id)).toEqual(run.committed.get(tenant));
      expect(await verifyChain(pgSql(admin), tenant)).toMatchObject({ ok: true, verified: mine.length });
    }
  } finally {
    await admin.end();
  }
  expect(logs.lines().some((l) => l.msg === "publishing to NATS failed; will retry")).toBe(true);
}, 110_000);
