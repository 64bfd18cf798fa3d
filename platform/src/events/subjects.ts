/** The JetStream stream that stores every domain event (`tessera.evt.>`). */
export const EVENTS_STREAM = "TESSERA_EVENTS";
/** The JetStream stream that stores dead-lettered messages (`tessera.dlq.>`). */
export const DLQ_STREAM = "TESSERA_DLQ";
/** Subject prefix of domain events: `tessera.evt.<tenantId>.<aggregate>.<verb>`. */
export const EVENT_SUBJECT_PREFIX = "tessera.evt";
/** Subject prefix of dead letters: `tessera.dlq.<durable>`. */
export const DLQ_SUBJECT_PREFIX = "tessera.dlq";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Same rule as `EventEnvelope.type` in proto/tessera/common/v1/event.proto. */
const EVENT_TYPE = /^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$/;
/** A durable name is one subject token and a valid consumer name. */
const DURABLE = /^[A-Za-z0-9_-]{1,64}$/;

/** True when `value` is a UUID in any letter case. */
export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID.test(value);
}

/** True when `value` is an event type `<aggregate>.<verb>` (lower-case, digits, underscores). */
export function isEventType(value: unknown): value is string {
  return typeof value === "string" && EVENT_TYPE.test(value);
}

/** True when `value` can name a durable consumer (and its dead-letter subject token). */
export function isDurableName(value: unknown): value is string {
  return typeof value === "string" && DURABLE.test(value);
}

/**
 * The subject an event is published on: `tessera.evt.<tenantId>.<aggregate>.<verb>`. Both parts
 * must already be valid (a UUID and an event type), so the result never holds a wildcard or an
 * empty token.
 */
export function eventSubject(tenantId: string, type: string): string {
  if (!isUuid(tenantId)) throw new TypeError("tenant id must be a UUID");
  if (!isEventType(type)) throw new TypeError('event type must look like "<aggregate>.<verb>"');
  return `${EVENT_SUBJECT_PREFIX}.${tenantId.toLowerCase()}.${type}`;
}

/**
 * A filter subject for consumers: events of `type` (or every type when omitted) of every tenant,
 * e.g. `tessera.evt.*.project.created`.
 */
export function eventFilter(type?: string): string {
  if (type === undefined) return `${EVENT_SUBJECT_PREFIX}.>`;
  if (!isEventType(type)) throw new TypeError('event type must look like "<aggregate>.<verb>"');
  return `${EVENT_SUBJECT_PREFIX}.*.${type}`;
}

/** The dead-letter subject of a durable consumer: `tessera.dlq.<durable>`. */
export function deadLetterSubject(durable: string): string {
  if (!isDurableName(durable)) throw new TypeError("durable name must match [A-Za-z0-9_-]{1,64}");
  return `${DLQ_SUBJECT_PREFIX}.${durable}`;
}
