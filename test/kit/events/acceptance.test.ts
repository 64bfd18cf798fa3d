import { randomUUID } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { jetstream } from "@nats-io/jetstream";
import { runAsTenant } from "@tessera/platform/context";
import {
  EVENTS_STREAM,
  enqueueEvent,
  type OutboxRelay,
  type RunningConsumer,
  startConsumer,
  startOutboxRelay,
} from "@tessera/platform/events";
import { EventEnvelopeSchema } from "@tessera/proto/tessera/common/v1/event_pb";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type EventsRig, Payload, payload, startRig, waitFor } from "./rig.ts";

const OUTAGES = 10;
const DOWN_MS = 5_000;
const UP_MS = 2_000;
/** Two producers at 100 events/s each. */
const PRODUCER_INTERVAL_MS = 10;
/** One transaction in ten rolls back after writing its event. */
const ROLLBACK_EVERY = 10;

let rig: EventsRig;
let relay: OutboxRelay | undefined;
let consumer: RunningConsumer | undefined;

beforeAll(async () => {
  rig = await startRig("chaos", [
    "create table widgets (id uuid primary key, tenant_id uuid not null, event_id uuid not null)",
    "create table effects (seq bigserial primary key, event_id uuid not null, tenant_id uuid not null)",
    "create table effect_counts (tenant_id uuid primary key, n bigint not null)",
  ]);
});

afterAll(async () => {
  await consumer?.stop();
  await relay?.stop();
  await rig?.close();
});

interface Producer {
  /** Per tenant, committed event ids in commit order. */
  committed: Map<string, string[]>;
  rolledBack: Set<string>;
  done: Promise<void>;
}

/** Produces for `tenants` at one event per interval until `stop` aborts; sequential, so commit order is known. */
function produce(tenants: string[], stop: AbortSignal): Producer {
  const committed = new Map(tenants.map((t) => [t, [] as string[]]));
  const rolledBack = new Set<string>();
  const done = (async () => {
    const start = Date.now();
    for (let i = 0; !stop.aborted; i++) {
      const tenant = tenants[i % tenants.length] as string;
      const rollback = i % ROLLBACK_EVERY === ROLLBACK_EVERY - 1;
      let eventId = "";
      try {
        await runAsTenant(tenant, () =>
          rig.orm.em.fork().transactional(async (em) => {
            const widget = randomUUID();
            const envelope = await enqueueEvent(em, {
              type: "widget.created",
              aggregateId: widget,
              schema: Payload,
              payload: payload(`widget ${i}`),
            });
            eventId = envelope.id;
            await em.execute(
              "insert into widgets (id, tenant_id, event_id) values (?, ?, ?)",
              [widget, tenant, eventId],
              "run",
            );
            if (rollback) throw new Error("rolled back on purpose");
          }),
        );
        committed.get(tenant)?.push(eventId);
      } catch (err) {
        if (!rollback) throw err;
        rolledBack.add(eventId);
      }
      const wait = start + (i + 1) * PRODUCER_INTERVAL_MS - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return { committed, rolledBack, done };
}

it("delivers every committed event exactly once through 10 NATS crashes, and no rolled-back one", async () => {
  const relayNc = await rig.connect("chaos-relay");
  const consumerNc = await rig.connect("chaos-consumer");
  relay = startOutboxRelay({
    pg: rig.db.adminUrl,
    nats: relayNc,
    pollIntervalMs: 50,
    publishTimeoutMs: 3_000,
    maxBackoffMs: 1_000,
    logger: rig.logger,
  });
  consumer = startConsumer({
    nats: consumerNc,
    orm: rig.orm,
    durable: "chaos",
    filterSubjects: ["tessera.evt.>"],
    ackWaitMs: 5_000,
    backoffMs: [200],
    concurrency: 4,
    logger: rig.logger,
    handler: async (envelope, { em }) => {
      await em.execute(
        "insert into effects (event_id, tenant_id) values (?, ?)",
        [envelope.id, envelope.tenantId],
        "run",
      );
      await em.execute(
        `insert into effect_counts (tenant_id, n) values (?, 1)
           on conflict (tenant_id) do update set n = effect_counts.n + 1`,
        [envelope.tenantId],
        "run",
      );
    },
  });

  const stopProducing = new AbortController();
  const producers = [
    produce([randomUUID(), randomUUID()], stopProducing.signal),
    produce([randomUUID()], stopProducing.signal),
  ];

  for (let outage = 0; outage < OUTAGES; outage++) {
    await new Promise((r) => setTimeout(r, UP_MS));
    await rig.nats.kill();
    await new Promise((r) => setTimeout(r, DOWN_MS));
    await rig.nats.restart();
  }
  stopProducing.abort();
  await Promise.all(producers.map((p) => p.done));

  const committedByTenant = new Map(producers.flatMap((p) => [...p.committed]));
  const committed = new Set([...committedByTenant.values()].flat());
  const rolledBack = new Set(producers.flatMap((p) => [...p.rolledBack]));
  expect(committed.size).toBeGreaterThan(1_000);
  expect(rolledBack.size).toBeGreaterThan(0);

  const effectCount = async () =>
    Number((await rig.sql<{ n: string }>("select count(*) as n from effects"))[0]?.n ?? 0);
  const caughtUp = await waitFor(async () => (await effectCount()) >= committed.size, 45_000, 500);
  const stats = consumer.stats();
  expect(
    caughtUp,
    `consumer handled ${await effectCount()} of ${committed.size} (stats ${JSON.stringify(stats)})`,
  ).toBe(true);
  // a short grace period lets any late duplicate show up before counting
  await new Promise((r) => setTimeout(r, 1_000));

  const effects = await rig.sql<{ event_id: string }>("select event_id from effects");
  const effectIds = effects.map((e) => e.event_id);
  expect(effectIds.length).toBe(committed.size);
  expect(new Set(effectIds)).toEqual(committed);
  expect(effectIds.filter((id) => rolledBack.has(id))).toEqual([]);

  const counts = await rig.sql<{ tenant_id: string; n: string }>("select tenant_id, n from effect_counts");
  expect(Object.fromEntries(counts.map((c) => [c.tenant_id, Number(c.n)]))).toEqual(
    Object.fromEntries([...committedByTenant].map(([t, ids]) => [t, ids.length])),
  );
  expect(await rig.sql("select 1 from tessera_outbox")).toHaveLength(0);

  // the stream holds each committed event once, and each tenant's events in commit order
  const js = jetstream(consumerNc);
  const info = await rig.jsm.streams.info(EVENTS_STREAM);
  expect(info.state.messages).toBe(committed.size);
  const reader = await js.consumers.get(EVENTS_STREAM, { filter_subjects: ["tessera.evt.>"] });
  const inStream = new Map<string, string[]>();
  const messages = await reader.consume({ max_messages: 1_000 });
  for await (const m of messages) {
    const env = fromBinary(EventEnvelopeSchema, m.data);
    inStream.set(env.tenantId, [...(inStream.get(env.tenantId) ?? []), env.id]);
    if (m.info.pending === 0) break;
  }
  expect(inStream).toEqual(committedByTenant);

  const relayFailures = rig.logs.lines().filter((l) => l.msg === "publishing to NATS failed; will retry");
  expect(relayFailures.length).toBeGreaterThan(0);
  rig.logger.info({ committed: committed.size, rolled_back: rolledBack.size, ...stats }, "chaos run finished");
}, 170_000);
