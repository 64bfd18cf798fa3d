import type { Registry } from "@bufbuild/protobuf";
import { isMessage } from "@bufbuild/protobuf";
import { type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import { anyUnpack, timestampDate } from "@bufbuild/protobuf/wkt";
import { ActorKind, type EventEnvelope, Outcome } from "@tessera/proto/tessera/common/v1/event_pb";
import { type ActorKindName, type OutcomeName, type RecordFields, storableText } from "./record.ts";

/** What a record takes from an event (the rest: sequence, recorded time, hashes, at append time). */
export type DerivedFields = Omit<RecordFields, "seq" | "recordedAt">;

const ACTOR_KINDS: Record<number, ActorKindName> = {
  [ActorKind.USER]: "user",
  [ActorKind.API_KEY]: "api_key",
  [ActorKind.SERVICE]: "service",
  [ActorKind.SYSTEM]: "system",
};

const OUTCOMES: Record<number, OutcomeName> = {
  [Outcome.SUCCESS]: "success",
  [Outcome.FAILURE]: "failure",
  [Outcome.DENIED]: "denied",
};

/** Payload fields read, at any depth up to this, when the envelope has no origin. */
const ORIGIN_FIELDS = { client_ip: "clientIp", user_agent: "userAgent" } as const;
const MAX_DEPTH = 3;
const MAX_IP = 64;
const MAX_USER_AGENT = 512;
const MAX_ID = 256;

/**
 * The outcome of an event: the envelope's, or, when the producer left it unspecified, what the
 * event type's verb says by convention — `…_failed` is a failure, `…_denied`/`…_rejected` a
 * refusal — and success otherwise.
 */
export function outcomeOf(envelope: Pick<EventEnvelope, "outcome" | "type">): OutcomeName {
  const explicit = OUTCOMES[envelope.outcome];
  if (explicit) return explicit;
  const verb = envelope.type.slice(envelope.type.indexOf(".") + 1);
  if (verb.endsWith("_failed")) return "failure";
  if (verb.endsWith("_denied") || verb.endsWith("_rejected")) return "denied";
  return "success";
}

function findOrigin(message: ReflectMessage, found: { clientIp?: string; userAgent?: string }, depth: number): void {
  for (const field of message.fields) {
    if (field.fieldKind === "scalar" && field.name in ORIGIN_FIELDS) {
      const key = ORIGIN_FIELDS[field.name as keyof typeof ORIGIN_FIELDS];
      const value = message.get(field);
      if (found[key] === undefined && typeof value === "string" && value !== "") found[key] = value;
    } else if (field.fieldKind === "message" && depth < MAX_DEPTH && message.isSet(field)) {
      const nested = message.get(field);
      if (nested && typeof nested === "object" && "fields" in nested)
        findOrigin(nested as ReflectMessage, found, depth + 1);
    }
  }
}

/**
 * Client address and user agent of an event: the envelope's origin, else payload fields named
 * `client_ip` / `user_agent` (found by reflection, in any message type the registry knows).
 */
export function originOf(envelope: EventEnvelope, registry: Registry): { sourceIp: string; userAgent: string } {
  const found: { clientIp?: string; userAgent?: string } = {};
  if (envelope.origin?.clientIp) found.clientIp = envelope.origin.clientIp;
  if (envelope.origin?.userAgent) found.userAgent = envelope.origin.userAgent;
  if ((found.clientIp === undefined || found.userAgent === undefined) && envelope.payload) {
    let payload: ReturnType<typeof anyUnpack>;
    try {
      payload = anyUnpack(envelope.payload, registry);
    } catch {
      payload = undefined; // undecodable payload: the envelope still says who did what
    }
    const desc = payload && registry.getMessage(payload.$typeName);
    if (payload && desc && isMessage(payload, desc)) findOrigin(reflect(desc, payload), found, 1);
  }
  return {
    sourceIp: storableText(found.clientIp ?? "", MAX_IP),
    userAgent: storableText(found.userAgent ?? "", MAX_USER_AGENT),
  };
}

function occurredAt(envelope: EventEnvelope, fallback: Date): Date {
  if (!envelope.occurredAt) return fallback;
  const at = timestampDate(envelope.occurredAt);
  const year = at.getUTCFullYear();
  // PostgreSQL and ISO 8601 both hold these; anything else is a producer's bug, not a time
  return Number.isNaN(at.getTime()) || year < 1 || year > 9999 ? fallback : at;
}

/**
 * The audit fields of an event: actor = the envelope's actor, action = the event type, target =
 * the aggregate (type from the event type, id = aggregate id), outcome and origin as above.
 */
export function deriveFields(envelope: EventEnvelope, registry: Registry, now: Date): DerivedFields {
  const dot = envelope.type.indexOf(".");
  return {
    tenantId: envelope.tenantId.toLowerCase(),
    eventId: envelope.id.toLowerCase(),
    occurredAt: occurredAt(envelope, now),
    actorKind: ACTOR_KINDS[envelope.actor?.kind ?? ActorKind.UNSPECIFIED] ?? "unspecified",
    actorId: storableText(envelope.actor?.id ?? "", MAX_ID),
    action: envelope.type,
    targetType: dot > 0 ? envelope.type.slice(0, dot) : envelope.type,
    targetId: storableText(envelope.aggregateId, MAX_ID),
    outcome: outcomeOf(envelope),
    ...originOf(envelope, registry),
  };
}
