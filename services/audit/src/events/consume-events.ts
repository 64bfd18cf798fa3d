import type { Registry } from "@bufbuild/protobuf";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Orm, withTenantTransaction } from "@tessera/platform/db";
import { eventFilter, type RunningConsumer, startConsumer } from "@tessera/platform/events";
import type { Logger } from "@tessera/platform/log";
import { appendRecord } from "../domain/append.ts";
import { deriveFields } from "../domain/derive.ts";
import { projectPlan } from "../domain/plans.ts";
import { emSql } from "../domain/sql.ts";

/** Default durable name of audit's consumer (one per deployment; replicas share it). */
export const AUDIT_CONSUMER = "audit";

/**
 * An audit record must outlive an outage of audit's own database: an event is retried for about
 * 45 minutes (backoff up to a minute) before it is dead-lettered, not the kit's default ~1 minute.
 */
const MAX_DELIVER = 50;
const BACKOFF_MS = [1_000, 5_000, 15_000, 30_000, 60_000];

/** Options of startAuditConsumer. */
export interface AuditConsumerOptions {
  nats: NatsConnection;
  orm: Orm;
  /** Every generated message type, to find client_ip/user_agent in payloads. */
  registry: Registry;
  logger: Logger;
  durable?: string;
  /** Deliveries that may fail before an event is dead-lettered (default 50, about 45 minutes). */
  maxDeliver?: number;
  backoffMs?: number[];
  /** Called with the tenant after an appending transaction committed (the head publisher's cue). */
  onCommitted?: (tenantId: string) => void;
}

/**
 * Consumes every event on the events stream (`tessera.evt.>`, every tenant, every type — later
 * services need no code here) into its tenant's audit log: one record per event id, appended in
 * the same transaction as the consumer's idempotency record, so redeliveries (NATS restarts,
 * lost acks) never duplicate a record. tenancy's `tenant.*` events also feed the plan projection
 * retention reads.
 */
export function startAuditConsumer(options: AuditConsumerOptions): RunningConsumer {
  const { orm, registry, logger } = options;
  return startConsumer({
    nats: options.nats,
    orm,
    durable: options.durable ?? AUDIT_CONSUMER,
    filterSubjects: [eventFilter()],
    logger,
    maxDeliver: options.maxDeliver ?? MAX_DELIVER,
    backoffMs: options.backoffMs ?? BACKOFF_MS,
    transaction: async (tenantId, fn) => {
      const result = await withTenantTransaction(orm, fn, { tenantId });
      if (tenantId) options.onCommitted?.(tenantId);
      return result;
    },
    handler: async (envelope, { em }) => {
      const sql = emSql(em);
      const fields = deriveFields(envelope, registry, new Date());
      const result = await appendRecord(sql, fields);
      await projectPlan(sql, envelope, fields.occurredAt);
      if (result.appended) {
        logger.debug({ event_id: envelope.id, seq: result.record.seq, action: fields.action }, "audit record appended");
      } else {
        logger.info({ event_id: envelope.id, seq: result.seq }, "event already recorded; skipped");
      }
    },
  });
}
