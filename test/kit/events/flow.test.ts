import { randomUUID } from "node:crypto";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { context, TraceFlags, trace } from "@opentelemetry/api";
import { currentContext, runAsTenant } from "@tessera/platform/context";
import {
  buildEnvelope,
  DLQ_HEADERS,
  DLQ_STREAM,
  deadLetterSubject,
  EVENTS_STREAM,
  type EventHandler,
  enqueueEvent,
  type OutboxRelay,
  type RunningConsumer,
  startConsumer,
  startOutboxRelay,
} from "@tessera/platform/events";
import { type EventEnvelope, EventEnvelopeSchema } from "@tessera/proto/tessera/common/v1/event_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EventsRig, installContextManager, Payload, payload, startRig, waitFor } from "./rig.ts";

let rig: EventsRig;
let nc: NatsConnection;
let relay: OutboxRelay;
const running: RunningConsumer[] = [];

beforeAll(async () => {
  installContextManager();
  rig = await startRig("flow");
  nc = await rig.connect("flow-app");
  relay = startOutboxRelay({ pg: rig.db.adminUrl, nats: nc, pollIntervalMs: 50, logger: rig.logger });
});

afterAll(async () => {
  for (const c of running) await c.stop();
  await relay?.stop();
  await rig?.close();
});

/** A consumer of one tenant's events (tests use their own tenant, so they never see each other's). */
function consume(durable: string, tenant: string, handler: EventHandler, extra: { maxDeliver?: number } = {}) {
  const consumer = startConsumer({
    nats: nc,
    orm: rig.orm,
    durable,
    filterSubjects: [`tessera.evt.${tenant}.>`],
    handler,
    backoffMs: [50],
    ackWaitMs: 5_000,
    logger: rig.logger,
    ...extra,
  });
  running.push(consumer);
  return consumer;
}

/** Commits one event for `tenant` through the outbox. */
function produce(tenant: string, type = "widget.created", message = "m") {
  return runAsTenant(tenant, () =>
    rig.orm.em
      .fork()
      .transactional((em) =>
        enqueueEvent(em, { type, aggregateId: randomUUID(), schema: Payload, payload: payload(message) }),
      ),
  );
}

async function deadLetters(durable: string) {
  const consumer = await jetstream(nc).consumers.get(DLQ_STREAM, { filter_subjects: [deadLetterSubject(durable)] });
  const out: Array<{ subject: string; header: (k: string) => string; data: Uint8Array }> = [];
  const info = await rig.jsm.streams.info(DLQ_STREAM);
  if (info.state.messages === 0) return out;
  const batch = await consumer.fetch({ max_messages: 100, expires: 1_000 });
  for await (const m of batch) out.push({ subject: m.subject, header: (k) => m.headers?.get(k) ?? "", data: m.data });
  return out;
}

describe("relay and consumer", () => {
  it("runs the handler as the event's tenant, in the producer's trace", async () => {
    const tenant = randomUUID();
    const seen: Array<{
      env: EventEnvelope;
      subject: string;
      tenant: string | undefined;
      traceId: string | undefined;
    }> = [];
    consume("trace_check", tenant, async (env, ctx) => {
      seen.push({
        env,
        subject: ctx.subject,
        tenant: currentContext()?.tenantId,
        traceId: trace.getSpanContext(context.active())?.traceId,
      });
    });
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    // a non-recording span, as an incoming request's traceparent would make active
    const producer = trace.setSpanContext(context.active(), {
      traceId,
      spanId: "00f067aa0ba902b7",
      traceFlags: TraceFlags.SAMPLED,
    });
    const sent = await context.with(producer, () => produce(tenant));

    expect(await waitFor(() => seen.length > 0, 15_000)).toBe(true);
    const got = seen[0];
    expect(got?.env.id).toBe(sent.id);
    expect(got?.subject).toBe(`tessera.evt.${tenant}.widget.created`);
    expect(got?.tenant).toBe(tenant);
    expect(got?.env.traceContext?.traceparent).toBe(`00-${traceId}-00f067aa0ba902b7-01`);
    expect(got?.traceId).toBe(traceId);
  });

  it("delivers a re-published event once: JetStream drops the same Nats-Msg-Id, the consumer skips a recorded id", async () => {
    const tenant = randomUUID();
    const handled: string[] = [];
    const consumer = consume("dedup_check", tenant, async (env) => {
      handled.push(env.id);
    });
    const env = runAsTenant(tenant, () =>
      buildEnvelope({ type: "widget.renamed", aggregateId: "w1", schema: Payload, payload: payload("x") }),
    );
    const subject = `tessera.evt.${tenant}.widget.renamed`;
    const bytes = toBinary(EventEnvelopeSchema, env);
    const js = jetstream(nc);
    // a relay that crashed after publishing and before deleting the row publishes it again
    const first = await js.publish(subject, bytes, { msgID: env.id });
    const second = await js.publish(subject, bytes, { msgID: env.id });
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    expect(second.seq).toBe(first.seq);
    // past the de-duplication window the copy gets through; the idempotency record stops it
    await js.publish(subject, bytes, { msgID: `${env.id}-late` });
    const marker = await produce(tenant, "widget.deleted");

    expect(await waitFor(() => handled.includes(marker.id), 15_000)).toBe(true);
    expect(await waitFor(() => consumer.stats().duplicates === 1, 5_000)).toBe(true);
    expect(handled.filter((id) => id === env.id)).toHaveLength(1);
    const recorded = await rig.sql("select 1 from tessera_consumed where consumer = 'dedup_check' and event_id = $1", [
      env.id,
    ]);
    expect(recorded).toHaveLength(1);
  });

  it("dead-letters an event whose handler keeps failing after maxDeliver attempts, then moves on", async () => {
    const tenant = randomUUID();
    const attempts = new Map<string, number>();
    const handled: string[] = [];
    const consumer = consume(
      "dlq_check",
      tenant,
      async (env) => {
        attempts.set(env.id, (attempts.get(env.id) ?? 0) + 1);
        if (env.type === "widget.poisoned") throw new Error("widget service\r\nrefuses this event");
        handled.push(env.id);
      },
      { maxDeliver: 3 },
    );
    const poisoned = await produce(tenant, "widget.poisoned");
    const next = await produce(tenant, "widget.created");

    expect(await waitFor(() => handled.includes(next.id), 15_000)).toBe(true);
    expect(await waitFor(() => consumer.stats().deadLettered === 1, 15_000)).toBe(true);
    expect(attempts.get(poisoned.id)).toBe(3);
    const letters = await deadLetters("dlq_check");
    expect(letters).toHaveLength(1);
    const letter = letters[0];
    expect(letter?.subject).toBe("tessera.dlq.dlq_check");
    expect(letter?.header(DLQ_HEADERS.consumer)).toBe("dlq_check");
    expect(letter?.header(DLQ_HEADERS.subject)).toBe(`tessera.evt.${tenant}.widget.poisoned`);
    expect(letter?.header(DLQ_HEADERS.error)).toBe("Error: widget service refuses this event");
    expect(letter?.header(DLQ_HEADERS.deliveries)).toBe("3");
    // the dead letter is the original event, intact
    expect(fromBinary(EventEnvelopeSchema, letter?.data ?? new Uint8Array()).id).toBe(poisoned.id);
    // each failure was logged for the event's tenant
    const failures = rig.logs.lines().filter((l) => l.msg === "event handler failed" && l.event_id === poisoned.id);
    expect(failures.map((l) => l.tenant_id)).toEqual([tenant, tenant]);
    const gaveUp = rig.logs.lines().find((l) => l.msg === "message dead-lettered" && l.request_id === poisoned.id);
    expect(gaveUp?.tenant_id).toBe(tenant);
    // the failed attempts rolled back: no idempotency record for the poisoned event
    expect(await rig.sql("select 1 from tessera_consumed where event_id = $1", [poisoned.id])).toHaveLength(0);
  });

  it("dead-letters a malformed message at once, without calling the handler", async () => {
    const tenant = randomUUID();
    const handled: string[] = [];
    const consumer = consume("malformed_check", tenant, async (env) => {
      handled.push(env.id);
    });
    const js = jetstream(nc);
    await js.publish(`tessera.evt.${tenant}.widget.created`, new TextEncoder().encode("{not protobuf at all"));
    // a valid envelope on a subject naming another tenant is malformed too
    const foreign = buildEnvelope({
      type: "widget.created",
      aggregateId: "w",
      schema: Payload,
      payload: payload(""),
      tenantId: randomUUID(),
    });
    await js.publish(`tessera.evt.${tenant}.widget.created`, toBinary(EventEnvelopeSchema, foreign));
    const good = await produce(tenant);

    expect(await waitFor(() => handled.includes(good.id), 15_000)).toBe(true);
    expect(await waitFor(() => consumer.stats().deadLettered === 2, 10_000)).toBe(true);
    expect(handled).toEqual([good.id]);
    const letters = await deadLetters("malformed_check");
    expect(letters.map((l) => l.header(DLQ_HEADERS.deliveries))).toEqual(["1", "1"]);
    expect(letters[0]?.header(DLQ_HEADERS.error)).toMatch(/^malformed event: not an EventEnvelope/);
    expect(letters[1]?.header(DLQ_HEADERS.error)).toMatch(/subject does not match/);
  });

  it("re-creates its durable consumer when it disappears, and replays without repeating side effects", async () => {
    const tenant = randomUUID();
    const handled: string[] = [];
    const consumer = consume("recreate_check", tenant, async (env) => {
      handled.push(env.id);
    });
    const first = await produce(tenant);
    expect(await waitFor(() => handled.includes(first.id), 15_000)).toBe(true);

    await rig.jsm.consumers.delete(EVENTS_STREAM, "recreate_check");
    const second = await produce(tenant);

    expect(await waitFor(() => handled.includes(second.id), 20_000)).toBe(true);
    // the new consumer starts from the stream's beginning: the first event comes again and is skipped
    expect(await waitFor(() => consumer.stats().duplicates === 1, 10_000)).toBe(true);
    expect(handled).toEqual([first.id, second.id]);
  });

  it("refuses bad consumer options with a clear error", () => {
    const base = { nats: nc, orm: rig.orm, filterSubjects: ["tessera.evt.>"], handler: async () => {} };
    expect(() => startConsumer({ ...base, durable: "has.dot" })).toThrow(/durable/);
    expect(() => startConsumer({ ...base, durable: "ok", filterSubjects: [] })).toThrow(/filterSubjects/);
    expect(() => startConsumer({ ...base, durable: "ok", maxDeliver: 0 })).toThrow(/maxDeliver/);
  });
});
