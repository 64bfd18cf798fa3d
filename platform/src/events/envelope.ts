import { randomUUID } from "node:crypto";
import { create, type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { anyPack, timestampNow } from "@bufbuild/protobuf/wkt";
import { createValidator, type Validator } from "@bufbuild/protovalidate";
import {
  type Actor,
  ActorKind,
  ActorSchema,
  type EventEnvelope,
  EventEnvelopeSchema,
  OriginSchema,
  Outcome,
  TraceContextSchema,
} from "@tessera/proto/tessera/common/v1/event_pb";
import { currentContext, type Principal } from "../context/index.ts";
import { type FieldViolation, InvalidArgument } from "../errors/index.ts";
import { injectTraceContext } from "../telemetry/propagation.ts";
import { eventSubject } from "./subjects.ts";

/** Who caused an event, when it is not the context's principal. */
export interface EventActor {
  kind: Principal["kind"];
  /** User id, API key id or service name. */
  id: string;
}

/**
 * How the action an event reports ended: `success` for completed changes (the default), `failure`
 * for a failed attempt (wrong password), `denied` for one a policy refused (lockout, reuse).
 */
export type EventOutcome = "success" | "failure" | "denied";

/** Where the request that caused an event came from, as the edge saw it (audit's source and user agent). */
export interface EventOrigin {
  /** The client's address; at most 64 characters. */
  clientIp?: string;
  /** The client's User-Agent; cut to 512 characters. */
  userAgent?: string;
}

/** What a producer says about a new event; the rest of the envelope comes from the context. */
export interface NewEvent<Desc extends DescMessage = DescMessage> {
  /** `<aggregate>.<verb>`, e.g. `project.created`. */
  type: string;
  /** Id of the aggregate instance the event is about. */
  aggregateId: string;
  /** Schema of the payload message (packed into `google.protobuf.Any`). */
  schema: Desc;
  payload: MessageShape<Desc>;
  /** Defaults to the context's principal, or the platform itself (`system`) without one. */
  actor?: EventActor;
  /** Defaults to the context's tenant. */
  tenantId?: string;
  /** How the reported action ended; left unspecified (read as success) when omitted. */
  outcome?: EventOutcome;
  /** Client address and user agent of the causing request, when the producer knows them. */
  origin?: EventOrigin;
}

/** Envelopes bigger than this are refused at enqueue time: NATS' default max payload is 1 MiB. */
export const MAX_ENVELOPE_BYTES = 512 * 1024;

const ACTOR_KINDS: Record<Principal["kind"], ActorKind> = {
  user: ActorKind.USER,
  api_key: ActorKind.API_KEY,
  service: ActorKind.SERVICE,
  system: ActorKind.SYSTEM,
};

const OUTCOMES: Record<EventOutcome, Outcome> = {
  success: Outcome.SUCCESS,
  failure: Outcome.FAILURE,
  denied: Outcome.DENIED,
};

const MAX_USER_AGENT = 512;

let validator: Validator | undefined;
function envelopeValidator(): Validator {
  validator ??= createValidator();
  return validator;
}

function violationsOf(envelope: EventEnvelope): FieldViolation[] {
  const result = envelopeValidator().validate(EventEnvelopeSchema, envelope);
  if (result.kind === "valid") return [];
  if (result.kind === "invalid") {
    return result.violations.map((v) => ({ field: pathToString(v.field), message: v.message }));
  }
  return [{ field: "", message: `envelope rules could not be evaluated: ${result.error.message}` }];
}

function resolveActor(actor: EventActor | undefined): Actor {
  const chosen = actor ?? currentContext()?.principal ?? { kind: "system" as const, subject: "system" };
  const id = "id" in chosen ? chosen.id : chosen.subject;
  const kind = ACTOR_KINDS[chosen.kind];
  return create(ActorSchema, { kind: kind ?? ActorKind.UNSPECIFIED, id });
}

/**
 * Builds and validates the envelope of a new event: a fresh UUID, the tenant and actor from the
 * request context (unless given), `occurred_at` = now, the W3C trace context of the active span,
 * and the outcome and origin when given. Throws InvalidArgument naming each bad field (type
 * pattern, tenant UUID, actor, outcome, origin sizes).
 */
export function buildEnvelope<Desc extends DescMessage>(event: NewEvent<Desc>): EventEnvelope {
  const tenantId = event.tenantId ?? currentContext()?.tenantId;
  if (tenantId === undefined) {
    throw new InvalidArgument("an event needs a tenant: publish inside a tenant context or pass tenantId");
  }
  const envelope = create(EventEnvelopeSchema, {
    id: randomUUID(),
    type: event.type,
    tenantId: tenantId.toLowerCase(),
    aggregateId: event.aggregateId,
    actor: resolveActor(event.actor),
    occurredAt: timestampNow(),
    traceContext: create(TraceContextSchema, injectTraceContext()),
    payload: anyPack(event.schema, event.payload),
    outcome: event.outcome === undefined ? Outcome.UNSPECIFIED : (OUTCOMES[event.outcome] ?? -1),
    ...(event.origin && {
      origin: create(OriginSchema, {
        clientIp: event.origin.clientIp ?? "",
        userAgent: (event.origin.userAgent ?? "").slice(0, MAX_USER_AGENT),
      }),
    }),
  });
  const violations = violationsOf(envelope);
  if (violations.length > 0) {
    const fields = violations.map((v) => v.field || "envelope").join(", ");
    throw new InvalidArgument(`invalid event (${fields})`, violations);
  }
  return envelope;
}

/** The envelope's wire form, refused with InvalidArgument when larger than MAX_ENVELOPE_BYTES. */
export function encodeEnvelope(envelope: EventEnvelope): Uint8Array {
  const bytes = toBinary(EventEnvelopeSchema, envelope);
  if (bytes.length > MAX_ENVELOPE_BYTES) {
    throw new InvalidArgument(`event is ${bytes.length} bytes; the limit is ${MAX_ENVELOPE_BYTES}`);
  }
  return bytes;
}

/** The outcome of reading a message as an event. */
export type DecodedEnvelope = { ok: true; envelope: EventEnvelope } | { ok: false; reason: string };

/**
 * Reads and validates an event message: the bytes must decode as an EventEnvelope that passes
 * its rules, and the subject must be the one the envelope's tenant and type imply (a message whose
 * subject claims another tenant is refused, never processed for either).
 */
export function decodeEnvelope(data: Uint8Array, subject: string): DecodedEnvelope {
  let envelope: EventEnvelope;
  try {
    envelope = fromBinary(EventEnvelopeSchema, data);
  } catch (err) {
    return { ok: false, reason: `not an EventEnvelope: ${(err as Error).message}` };
  }
  const violations = violationsOf(envelope);
  if (violations.length > 0) {
    return { ok: false, reason: `invalid envelope: ${violations.map((v) => `${v.field}: ${v.message}`).join("; ")}` };
  }
  if (subject !== eventSubject(envelope.tenantId, envelope.type)) {
    return { ok: false, reason: "subject does not match the envelope's tenant and type" };
  }
  return { ok: true, envelope };
}
