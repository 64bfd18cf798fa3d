import type { DescMessage } from "@bufbuild/protobuf";
import type { EntityManager } from "@mikro-orm/postgresql";
import type { EventEnvelope } from "@tessera/proto/tessera/common/v1/event_pb";
import { FailedPrecondition } from "../errors/index.ts";
import { buildEnvelope, encodeEnvelope, type NewEvent } from "./envelope.ts";
import { OUTBOX_TABLE } from "./schema.ts";
import { eventSubject } from "./subjects.ts";

const INSERT = `insert into ${OUTBOX_TABLE} (id, tenant_id, subject, envelope) values (?, ?, ?, ?)`;

/**
 * Records an event in the transactional outbox, in the transaction `em` is bound to: the event
 * commits or rolls back with the state change made through the same `em`, and the relay publishes
 * it after commit. Call it after the state change, so the outbox order of one aggregate's events
 * follows the order its changes committed in.
 *
 * Tenant and actor default to the request context, the trace context to the active span. Returns
 * the envelope (its `id` is the event id, the consumers' idempotency key). Throws InvalidArgument
 * for a bad type/tenant/actor or an oversized payload, and FailedPrecondition outside a
 * transaction (an event written on its own could be published for a change that never commits).
 */
export async function enqueueEvent<Desc extends DescMessage>(
  em: EntityManager,
  event: NewEvent<Desc>,
): Promise<EventEnvelope> {
  if (!em.isInTransaction()) {
    throw new FailedPrecondition(
      "enqueueEvent must run inside a transaction: use the em given by em.transactional() or withTenantTransaction()",
    );
  }
  const envelope = buildEnvelope(event);
  const bytes = encodeEnvelope(envelope);
  const subject = eventSubject(envelope.tenantId, envelope.type);
  await em.execute(INSERT, [envelope.id, envelope.tenantId, subject, Buffer.from(bytes)], "run");
  return envelope;
}
