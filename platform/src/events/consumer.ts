import type { EntityManager, MikroORM } from "@mikro-orm/postgresql";
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  ReplayPolicy,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/nats-core";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { EventEnvelope } from "@tessera/proto/tessera/common/v1/event_pb";
import { newTraceId, runAsTenant, runWithContext, traceIdFromTraceparent } from "../context/index.ts";
import { type Logger, rootLogger } from "../log/index.ts";
import { extractTraceContext, type TraceCarrier } from "../telemetry/propagation.ts";
import { publishDeadLetter } from "./dead-letter.ts";
import { decodeEnvelope } from "./envelope.ts";
import { backoffDelay, describeError, positiveInt, sleep } from "./retry.ts";
import { CONSUMED_TABLE } from "./schema.ts";
import { EVENTS_STREAM, isDurableName } from "./subjects.ts";

/** What a handler gets besides the envelope. */
export interface HandlerContext {
  /** Bound to the transaction that also records the event as consumed: use it for side effects. */
  em: EntityManager;
  subject: string;
  /** 1 on first delivery. */
  deliveryCount: number;
}

/** Handles one event; throwing rolls its transaction back and retries the event later. */
export type EventHandler = (envelope: EventEnvelope, ctx: HandlerContext) => Promise<void>;

/**
 * Opens one transaction for the event's tenant and runs `fn` in it. The default forks
 * `orm.em`, opens a transaction and sets `app.tenant_id`; pass
 * `(tenantId, fn) => withTenantTransaction(orm, fn, { tenantId })` to use the db kit's.
 */
export type TenantTransaction = <T>(tenantId: string, fn: (em: EntityManager) => Promise<T>) => Promise<T>;

/** Options of startConsumer. */
export interface ConsumerOptions {
  /** A connection made with natsConnectOptions/connectNats (reconnects forever). */
  nats: NatsConnection;
  /** The consumer's database: its idempotency record and the handler's transaction. */
  orm: MikroORM;
  /** Durable consumer name, `[A-Za-z0-9_-]{1,64}`; also names its dead letters' subject. */
  durable: string;
  /** Subjects to consume, e.g. `eventFilter("project.created")`. */
  filterSubjects: string[];
  handler: EventHandler;
  /** Default TESSERA_EVENTS. */
  stream?: string;
  /** Failed attempts before the event is dead-lettered. Default 5. */
  maxDeliver?: number;
  /** How long a delivery may stay unacknowledged before NATS redelivers it. Default 30 000 ms. */
  ackWaitMs?: number;
  /** Delay before redelivery after the n-th failure (the last value repeats). Default [1s, 5s, 15s, 30s]. */
  backoffMs?: number[];
  /** Events handled at once. 1 (the default) keeps stream order apart from retried events. */
  concurrency?: number;
  /** Deadline of NATS API calls and dead-letter publishes. Default 5 000 ms. */
  natsTimeoutMs?: number;
  transaction?: TenantTransaction;
  logger?: Logger;
}

/** Counters of a running consumer. */
export interface ConsumerStats {
  /** Events whose handler committed. */
  handled: number;
  /** Deliveries skipped because the event was already recorded as consumed. */
  duplicates: number;
  /** Handler failures (each followed by a retry or a dead letter). */
  failures: number;
  deadLettered: number;
}

/** A running consumer. */
export interface RunningConsumer {
  /** Stops pulling, lets events in progress finish, and returns once they have. */
  stop(): Promise<void>;
  stats(): ConsumerStats;
}

const RECORD = `insert into ${CONSUMED_TABLE} (consumer, event_id, tenant_id) values (?, ?, ?) on conflict do nothing`;
const tracer = trace.getTracer("@tessera/platform/events");

function checkOptions(o: ConsumerOptions) {
  if (!isDurableName(o.durable)) throw new TypeError("durable must match [A-Za-z0-9_-]{1,64}");
  if (!Array.isArray(o.filterSubjects) || o.filterSubjects.length === 0) {
    throw new TypeError("filterSubjects must name at least one subject");
  }
  const backoffMs = o.backoffMs ?? [1_000, 5_000, 15_000, 30_000];
  if (backoffMs.length === 0 || backoffMs.some((ms) => !Number.isFinite(ms) || ms < 0)) {
    throw new RangeError("backoffMs must be a non-empty list of delays >= 0");
  }
  return {
    stream: o.stream ?? EVENTS_STREAM,
    maxDeliver: positiveInt(o.maxDeliver, 5, "maxDeliver"),
    ackWaitMs: positiveInt(o.ackWaitMs, 30_000, "ackWaitMs"),
    concurrency: positiveInt(o.concurrency, 1, "concurrency"),
    natsTimeoutMs: positiveInt(o.natsTimeoutMs, 5_000, "natsTimeoutMs"),
    backoffMs,
  };
}

function defaultTransaction(orm: MikroORM): TenantTransaction {
  return (tenantId, fn) =>
    orm.em.fork({ clear: true }).transactional(async (em) => {
      await em.execute("select set_config('app.tenant_id', ?, true)", [tenantId], "run");
      return fn(em);
    });
}

/**
 * Where the consumer's span continues the trace: the relay's publish span (message headers) when
 * the relay traced the publish, else the producer's span the envelope names.
 */
function traceCarrier(msg: JsMsg, envelope: EventEnvelope): TraceCarrier {
  const traceparent = msg.headers?.get("traceparent");
  if (traceparent) return { traceparent, tracestate: msg.headers?.get("tracestate") ?? "" };
  return envelope.traceContext ?? {};
}

/**
 * Starts a durable pull consumer with explicit acks on the events stream. Each message is decoded
 * and validated (a malformed one goes straight to `tessera.dlq.<durable>`); the handler then runs
 * as the event's tenant (`runAsTenant`), in the producer's trace, inside one transaction that
 * also records `(durable, event id)` in `tessera_consumed` — an event already recorded is acked
 * without running the handler, so side effects happen once however often NATS redelivers. A
 * failure is nak'ed with backoff; after `maxDeliver` failures the message is dead-lettered (with
 * headers naming consumer, error and original subject) and terminated. The consume loop
 * re-creates itself after NATS restarts or a lost consumer, waiting at most a few seconds.
 */
export function startConsumer(options: ConsumerOptions): RunningConsumer {
  const cfg = checkOptions(options);
  const { durable, nats: nc, handler } = options;
  const log = (options.logger ?? rootLogger()).child({ component: "event-consumer", consumer: durable });
  const inTransaction = options.transaction ?? defaultTransaction(options.orm);
  const js: JetStreamClient = jetstream(nc, { timeout: cfg.natsTimeoutMs });
  const stats: ConsumerStats = { handled: 0, duplicates: 0, failures: 0, deadLettered: 0 };
  const abort = new AbortController();
  let current: ConsumerMessages | undefined;

  const retryDelay = (deliveries: number) => cfg.backoffMs[Math.min(deliveries, cfg.backoffMs.length) - 1] ?? 0;

  async function deadLetter(msg: JsMsg, reason: string): Promise<void> {
    try {
      await publishDeadLetter(js, msg, durable, reason, cfg.natsTimeoutMs);
      msg.term(reason.slice(0, 200));
      stats.deadLettered += 1;
      log.error({ subject: msg.subject, stream_seq: msg.info.streamSequence, reason }, "message dead-lettered");
    } catch (err) {
      // the next delivery finds deliveries > maxDeliver and tries the dead letter again
      msg.nak(retryDelay(msg.info.deliveryCount));
      log.warn({ err_message: describeError(err) }, "dead-lettering failed; will retry");
    }
  }

  async function runHandler(envelope: EventEnvelope, msg: JsMsg): Promise<"handled" | "duplicate"> {
    return inTransaction(envelope.tenantId, async (em) => {
      const recorded = await em.execute<{ affectedRows: number }>(
        RECORD,
        [durable, envelope.id, envelope.tenantId],
        "run",
      );
      if (recorded.affectedRows === 0) return "duplicate";
      await handler(envelope, { em, subject: msg.subject, deliveryCount: msg.info.deliveryCount });
      return "handled";
    });
  }

  async function handleMessage(msg: JsMsg): Promise<void> {
    const decoded = decodeEnvelope(msg.data, msg.subject);
    if (!decoded.ok) return deadLetter(msg, `malformed event: ${decoded.reason}`);
    const envelope = decoded.envelope;
    // everything about a valid event, logs included, runs as its tenant and in the producer's trace
    return runWithContext(
      { requestId: envelope.id, traceId: traceIdFromTraceparent(envelope.traceContext?.traceparent) ?? newTraceId() },
      () =>
        runAsTenant(
          envelope.tenantId,
          () => context.with(extractTraceContext(traceCarrier(msg, envelope)), () => handleEvent(envelope, msg)),
          `consumer:${durable}`,
        ),
    );
  }

  async function handleEvent(envelope: EventEnvelope, msg: JsMsg): Promise<void> {
    const deliveries = msg.info.deliveryCount;
    if (deliveries > cfg.maxDeliver) {
      return deadLetter(msg, `not acknowledged after ${cfg.maxDeliver} deliveries`);
    }
    // keep NATS from redelivering to another instance while a slow handler still runs
    const keepAlive = setInterval(() => msg.working(), Math.max(1_000, Math.floor(cfg.ackWaitMs / 3)));
    try {
      const outcome = await tracer.startActiveSpan(
        `process ${envelope.type}`,
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            "messaging.system": "nats",
            "messaging.destination.name": msg.subject,
            "messaging.message.id": envelope.id,
            "messaging.consumer.group.name": durable,
          },
        },
        async (span) => {
          try {
            return await runHandler(envelope, msg);
          } catch (err) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(err, 200) });
            throw err;
          } finally {
            span.end();
          }
        },
      );
      msg.ack();
      if (outcome === "duplicate") stats.duplicates += 1;
      else stats.handled += 1;
    } catch (err) {
      stats.failures += 1;
      const reason = describeError(err);
      if (deliveries >= cfg.maxDeliver) return deadLetter(msg, reason);
      const delay = retryDelay(deliveries);
      msg.nak(delay);
      log.warn({ event_id: envelope.id, deliveries, retry_in_ms: delay, err_message: reason }, "event handler failed");
    } finally {
      clearInterval(keepAlive);
    }
  }

  async function ensureConsumer(jsm: JetStreamManager): Promise<void> {
    const [only, ...more] = options.filterSubjects;
    // one subject goes in filter_subject: the create request's NATS subject then names it
    // ($JS.API.CONSUMER.CREATE.<stream>.<durable>.<filter>), so permissions can limit what a
    // service consumes; `undefined` clears the other field when a consumer is updated
    const filter = (more.length === 0
      ? { filter_subject: only, filter_subjects: undefined }
      : { filter_subject: undefined, filter_subjects: options.filterSubjects }) as unknown as Pick<
      ConsumerConfig,
      "filter_subject" | "filter_subjects"
    >;
    const settings = {
      ...filter,
      ack_wait: nanos(cfg.ackWaitMs),
      // the client counts failures and dead-letters; the server must keep delivering until then
      max_deliver: -1,
      max_ack_pending: Math.max(100, cfg.concurrency * 10),
    };
    try {
      await jsm.consumers.info(cfg.stream, durable);
      await jsm.consumers.update(cfg.stream, durable, settings);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
      const config: Partial<ConsumerConfig> = {
        ...settings,
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        replay_policy: ReplayPolicy.Instant,
      };
      await jsm.consumers.add(cfg.stream, config);
    }
  }

  function watch(messages: ConsumerMessages): void {
    void (async () => {
      for await (const s of messages.status()) {
        const lost =
          s.type === "consumer_deleted" ||
          s.type === "stream_not_found" ||
          (s.type === "consumer_not_found" && s.count >= 3) ||
          (s.type === "heartbeats_missed" && s.count >= 4);
        if (lost) {
          log.warn({ status: s.type }, "consumer lost; re-creating it");
          messages.stop();
          return;
        }
      }
    })().catch(() => {});
  }

  async function consumeOnce(): Promise<void> {
    const jsm = await jetstreamManager(nc, { timeout: cfg.natsTimeoutMs });
    await ensureConsumer(jsm);
    const consumer = await js.consumers.get(cfg.stream, durable);
    const messages = await consumer.consume({ max_messages: Math.max(10, cfg.concurrency * 4), expires: 5_000 });
    current = messages;
    watch(messages);
    log.info({ stream: cfg.stream, filter_subjects: options.filterSubjects }, "consuming");
    const inFlight = new Set<Promise<void>>();
    try {
      for await (const msg of messages) {
        if (abort.signal.aborted) {
          msg.nak();
          break;
        }
        const work = handleMessage(msg).catch((err: unknown) => {
          log.error({ err_message: describeError(err) }, "processing a message failed unexpectedly");
        });
        inFlight.add(work);
        void work.finally(() => inFlight.delete(work));
        if (inFlight.size >= cfg.concurrency) await Promise.race(inFlight);
      }
    } finally {
      await Promise.all(inFlight);
      current = undefined;
    }
  }

  async function run(): Promise<void> {
    let attempt = 0;
    while (!abort.signal.aborted) {
      if (nc.isClosed()) {
        log.error("NATS connection is closed; consumer stops");
        return;
      }
      try {
        await consumeOnce();
        attempt = 0;
      } catch (err) {
        attempt += 1;
        log.warn({ err_message: describeError(err), attempt }, "consume loop failed; restarting");
      }
      if (!abort.signal.aborted) await sleep(backoffDelay(Math.max(1, attempt), 250, 3_000), abort.signal);
    }
  }

  const running = run();
  let stopping: Promise<void> | undefined;
  return {
    stats: () => ({ ...stats }),
    stop() {
      stopping ??= (async () => {
        abort.abort();
        // close() lets the iterator hand out what it buffered (nak'ed above); bounded in case NATS is gone
        await Promise.race([current?.close().catch(() => {}), sleep(cfg.natsTimeoutMs)]);
        await running;
        log.info(stats, "consumer stopped");
      })();
      return stopping;
    },
  };
}
