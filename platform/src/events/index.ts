export {
  type ConsumerOptions,
  type ConsumerStats,
  type EventHandler,
  type HandlerContext,
  type RunningConsumer,
  startConsumer,
  type TenantTransaction,
} from "./consumer.ts";
export { DLQ_HEADERS, publishDeadLetter } from "./dead-letter.ts";
export {
  buildEnvelope,
  type DecodedEnvelope,
  decodeEnvelope,
  type EventActor,
  type EventOrigin,
  type EventOutcome,
  encodeEnvelope,
  MAX_ENVELOPE_BYTES,
  type NewEvent,
} from "./envelope.ts";
export { connectNats, ensureStreams, natsConnectOptions, type StreamsOptions } from "./nats.ts";
export { enqueueEvent } from "./outbox.ts";
export {
  inboxPrefix,
  isNatsUser,
  isNatsUserName,
  NATS_ACCESS,
  NATS_ADMIN_USER,
  type NatsAccess,
  type NatsServerPermissions,
  type NatsUser,
  natsPermissions,
  natsUserPermissions,
} from "./permissions.ts";
export { type OutboxRelay, type OutboxRelayOptions, startOutboxRelay } from "./relay.ts";
export {
  CONSUMED_TABLE,
  consumedMigrationSql,
  type EventsSchemaOptions,
  eventsMigrationSql,
  OUTBOX_TABLE,
  outboxMigrationSql,
} from "./schema.ts";
export {
  DLQ_STREAM,
  DLQ_SUBJECT_PREFIX,
  deadLetterSubject,
  EVENT_SUBJECT_PREFIX,
  EVENTS_STREAM,
  eventFilter,
  eventSubject,
  isDurableName,
  isEventType,
  isUuid,
} from "./subjects.ts";
