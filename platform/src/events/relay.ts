import { fromBinary } from "@bufbuild/protobuf";
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import { type MsgHdrs, type NatsConnection, headers as natsHeaders } from "@nats-io/nats-core";
import { type Context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { EventEnvelopeSchema } from "@tessera/proto/tessera/common/v1/event_pb";
import pg from "pg";
import { type Logger, rootLogger } from "../log/index.ts";
import { extractTraceContext, injectTraceContext } from "../telemetry/propagation.ts";
import { backoffDelay, describeError, positiveInt, sleep } from "./retry.ts";
import { OUTBOX_TABLE } from "./schema.ts";
import { EVENTS_STREAM } from "./subjects.ts";

/** Options of startOutboxRelay. */
export interface OutboxRelayOptions {
  /**
   * The database holding the outbox: a URL (the relay makes and closes a small pool) or a pool
   * (the caller owns it and its `error` listener). Connect as the relay role (see README).
   */
  pg: string | pg.Pool;
  /** A connection made with natsConnectOptions/connectNats (reconnects forever). */
  nats: NatsConnection;
  /** Most events claimed per transaction. Default 100. */
  batchSize?: number;
  /** Wait between polls when the outbox is drained. Default 250 ms. */
  pollIntervalMs?: number;
  /** Deadline of one publish (until its PubAck). Default 5 000 ms. */
  publishTimeoutMs?: number;
  /** Longest wait between retries after a NATS or PostgreSQL failure. Default 2 000 ms. */
  maxBackoffMs?: number;
  /** Server-side deadline of each outbox statement. Default 10 000 ms. */
  statementTimeoutMs?: number;
  logger?: Logger;
}

/** A running relay. */
export interface OutboxRelay {
  /** Stops claiming; waits for the batch in flight (bounded by the publish timeout) to finish. */
  stop(): Promise<void>;
}

interface OutboxRow {
  id: string;
  tenant_id: string;
  subject: string;
  envelope: Buffer;
  attempts: number;
}

interface BatchResult {
  claimed: number;
  published: number;
  failure?: { row: OutboxRow; error: string };
}

/**
 * Claims the oldest pending events of up to `$2` tenants, one tenant at most per relay at a time:
 * each tenant's rows are taken only under a transaction-scoped advisory lock on that tenant, so
 * replicas split the work by tenant and never publish one tenant's events out of order. Rows
 * are then locked (SKIP LOCKED as a second guard) in `seq` order.
 */
const CLAIM = `
with candidates as (
  select tenant_id, min(seq) as first_seq from ${OUTBOX_TABLE}
  group by tenant_id order by first_seq limit $2
), mine as materialized (
  select tenant_id from candidates
  where pg_try_advisory_xact_lock(hashtext('${OUTBOX_TABLE}'), hashtext(tenant_id::text))
)
select o.id, o.tenant_id, o.subject, o.envelope, o.attempts
from ${OUTBOX_TABLE} o
where o.tenant_id in (select tenant_id from mine)
order by o.seq
limit $1
for update of o skip locked`;

const DELETE_PUBLISHED = `delete from ${OUTBOX_TABLE} where id = any($1::uuid[])`;
const RECORD_FAILURE = `update ${OUTBOX_TABLE} set attempts = attempts + 1, last_error = $2 where id = $1`;

const tracer = trace.getTracer("@tessera/platform/events");

/** The producer's trace (from the envelope's trace_context) and the event type, or undefined without one. */
function producerTrace(envelope: Buffer): { parent: Context; type: string } | undefined {
  try {
    const decoded = fromBinary(EventEnvelopeSchema, envelope);
    if (!decoded.traceContext?.traceparent) return undefined;
    const parent = extractTraceContext(decoded.traceContext);
    if (!trace.getSpanContext(parent)) return undefined;
    return { parent, type: decoded.type };
  } catch {
    return undefined;
  }
}

/**
 * Publishes one outbox row. When the event carries the producer's trace, the publish is a PRODUCER
 * span in that trace, and its context travels in the message's `traceparent`/`tracestate` headers,
 * so the consumer's span is the relay's child: request → … → publish → process, one trace.
 */
async function publishRow(js: JetStreamClient, row: OutboxRow, timeoutMs: number) {
  const options = { msgID: row.id, timeout: timeoutMs, expect: { streamName: EVENTS_STREAM } };
  const producer = producerTrace(row.envelope);
  if (!producer) return js.publish(row.subject, row.envelope, options);
  const span = tracer.startSpan(
    `publish ${producer.type}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        "messaging.system": "nats",
        "messaging.operation.type": "send",
        "messaging.destination.name": row.subject,
        "messaging.message.id": row.id,
      },
    },
    producer.parent,
  );
  const fields = injectTraceContext(trace.setSpan(producer.parent, span));
  const hdrs: MsgHdrs = natsHeaders();
  hdrs.set("traceparent", fields.traceparent);
  if (fields.tracestate) hdrs.set("tracestate", fields.tracestate);
  try {
    return await js.publish(row.subject, row.envelope, { ...options, headers: hdrs });
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(err, 200) });
    throw err;
  } finally {
    span.end();
  }
}

/** Groups rows by tenant, keeping each tenant's rows in claim (seq) order. */
function byTenant(rows: OutboxRow[]): OutboxRow[][] {
  const groups = new Map<string, OutboxRow[]>();
  for (const row of rows) {
    const group = groups.get(row.tenant_id);
    if (group) group.push(row);
    else groups.set(row.tenant_id, [row]);
  }
  return [...groups.values()];
}

/**
 * Starts the outbox relay: it claims pending events in order, publishes each to JetStream with
 * `Nats-Msg-Id` = event id (so a re-publish after a crash is dropped as a duplicate within the
 * stream's window), and deletes the published rows in the claiming transaction. Tenants are
 * published in parallel, each tenant's events one after another; a failed publish stops that
 * tenant's batch (the rest stay queued behind it), is recorded on the row (`attempts`,
 * `last_error`), and the relay backs off and retries — through NATS outages of any length and
 * PostgreSQL errors — without losing or reordering events.
 */
export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const batchSize = positiveInt(options.batchSize, 100, "batchSize");
  const pollIntervalMs = positiveInt(options.pollIntervalMs, 250, "pollIntervalMs");
  const publishTimeoutMs = positiveInt(options.publishTimeoutMs, 5_000, "publishTimeoutMs");
  const maxBackoffMs = positiveInt(options.maxBackoffMs, 2_000, "maxBackoffMs");
  const statementTimeoutMs = positiveInt(options.statementTimeoutMs, 10_000, "statementTimeoutMs");
  const log = (options.logger ?? rootLogger()).child({ component: "outbox-relay" });
  const ownPool = typeof options.pg === "string";
  const pool =
    typeof options.pg === "string"
      ? new pg.Pool({
          connectionString: options.pg,
          max: 2,
          connectionTimeoutMillis: 5_000,
          query_timeout: statementTimeoutMs + 5_000,
          idle_in_transaction_session_timeout: 60_000,
          application_name: "tessera-outbox-relay",
        })
      : options.pg;
  if (ownPool)
    pool.on("error", (err) => log.warn({ err_message: describeError(err) }, "idle outbox connection failed"));
  const js: JetStreamClient = jetstream(options.nats, { timeout: publishTimeoutMs });
  const abort = new AbortController();

  async function publishGroup(rows: OutboxRow[]): Promise<{ ok: string[]; failure?: BatchResult["failure"] }> {
    const ok: string[] = [];
    for (const row of rows) {
      if (abort.signal.aborted) break;
      try {
        const ack = await publishRow(js, row, publishTimeoutMs);
        if (ack.duplicate) log.debug({ event_id: row.id, tenant_id: row.tenant_id }, "event was already in the stream");
        ok.push(row.id);
      } catch (err) {
        return { ok, failure: { row, error: describeError(err) } };
      }
    }
    return { ok };
  }

  async function relayBatch(): Promise<BatchResult> {
    const client = await pool.connect();
    let failed: Error | undefined;
    try {
      await client.query("begin");
      await client.query(`select set_config('statement_timeout', $1, true)`, [String(statementTimeoutMs)]);
      const { rows } = await client.query<OutboxRow>(CLAIM, [batchSize, batchSize]);
      const results = await Promise.all(byTenant(rows).map(publishGroup));
      const published = results.flatMap((r) => r.ok);
      if (published.length > 0) await client.query(DELETE_PUBLISHED, [published]);
      const failures = results.flatMap((r) => (r.failure ? [r.failure] : []));
      for (const f of failures) await client.query(RECORD_FAILURE, [f.row.id, f.error]);
      await client.query("commit");
      const result: BatchResult = { claimed: rows.length, published: published.length };
      if (failures[0]) result.failure = failures[0];
      return result;
    } catch (err) {
      failed = err as Error;
      await client.query("rollback").catch(() => {});
      throw err;
    } finally {
      // a connection that failed mid-transaction is discarded, not returned to the pool
      client.release(failed);
    }
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!abort.signal.aborted) {
      let wait = 0;
      try {
        const result = await relayBatch();
        if (result.failure) {
          failures += 1;
          wait = backoffDelay(failures, 100, maxBackoffMs);
          log.warn(
            {
              tenant_id: result.failure.row.tenant_id,
              event_id: result.failure.row.id,
              attempts: result.failure.row.attempts + 1,
              published: result.published,
              err_message: result.failure.error,
              retry_in_ms: wait,
            },
            "publishing to NATS failed; will retry",
          );
        } else {
          if (failures > 0) log.info({ published: result.published }, "publishing to NATS recovered");
          failures = 0;
          if (result.claimed < batchSize) wait = pollIntervalMs;
        }
      } catch (err) {
        failures += 1;
        wait = backoffDelay(failures, 100, maxBackoffMs);
        log.warn({ err_message: describeError(err), retry_in_ms: wait }, "outbox database access failed; will retry");
      }
      if (wait > 0) await sleep(wait, abort.signal);
    }
  }

  log.info({ batch_size: batchSize, poll_interval_ms: pollIntervalMs }, "outbox relay started");
  const running = run();
  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        abort.abort();
        await running;
        if (ownPool) await pool.end();
        log.info("outbox relay stopped");
      })();
      return stopping;
    },
  };
}
