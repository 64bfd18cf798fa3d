import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { AuditEvent, AuditFilterSchema, VerifyChainResponse } from "@tessera/proto/tessera/audit/v1/audit_pb";
import { ActorKind, Outcome } from "@tessera/proto/tessera/common/v1/event_pb";
import { builder } from "../builder.ts";
import { encodeGlobalId } from "../global-id.ts";
import { fetchConnection } from "../pagination.ts";
import { connectionComplexity, DateTime, definedEnum, pageArgs, toDate } from "./common.ts";
import { UserRef } from "./user.ts";

const ACTOR_KINDS = {
  USER: ActorKind.USER,
  API_KEY: ActorKind.API_KEY,
  SERVICE: ActorKind.SERVICE,
  SYSTEM: ActorKind.SYSTEM,
};
const OUTCOMES = { SUCCESS: Outcome.SUCCESS, FAILURE: Outcome.FAILURE, DENIED: Outcome.DENIED };

const AuditActorKindEnum = builder.enumType("AuditActorKind", {
  description: "What kind of principal acted.",
  values: {
    USER: { value: ACTOR_KINDS.USER, description: "A person, signed in." },
    API_KEY: { value: ACTOR_KINDS.API_KEY, description: "An integration calling with an API key." },
    SERVICE: { value: ACTOR_KINDS.SERVICE, description: "A Tessera service acting on its own behalf." },
    SYSTEM: { value: ACTOR_KINDS.SYSTEM, description: "The platform itself (jobs, retention)." },
  },
});

const AuditOutcomeEnum = builder.enumType("AuditOutcome", {
  description: "How the recorded action ended.",
  values: {
    SUCCESS: { value: OUTCOMES.SUCCESS },
    FAILURE: { value: OUTCOMES.FAILURE, description: "The attempt failed (a wrong password, an error)." },
    DENIED: { value: OUTCOMES.DENIED, description: "A policy refused the attempt (permission, lockout)." },
  },
});

/** An audit record's actor: the record's `actor` message plus the kind, never absent. */
interface Actor {
  readonly kind: number;
  readonly id: string;
}

const AuditActorRef = builder.objectRef<Actor>("AuditActor").implement({
  description: "Who acted.",
  fields: (t) => ({
    kind: t.field({ type: AuditActorKindEnum, resolve: (actor) => definedEnum(actor.kind, ACTOR_KINDS) }),
    id: t.exposeString("id", { description: "User id, API key id or service name, as recorded." }),
    user: t.field({
      type: UserRef,
      nullable: true,
      description: "The user, for a USER actor still visible to the caller; null otherwise.",
      resolve: (actor) => (actor.kind === ActorKind.USER ? actor.id : null),
    }),
  }),
});

const AuditTargetRef = builder.objectRef<{ type: string; id: string }>("AuditTarget").implement({
  description: "What the action was done to.",
  fields: (t) => ({
    type: t.exposeString("type", { description: 'The kind of object, e.g. "project" or "user".' }),
    id: t.exposeString("id", { description: "Its id, as recorded (a UUID for Tessera's own objects)." }),
  }),
});

const AuditEventRef = builder.objectRef<AuditEvent>("AuditEvent").implement({
  description: "One record of the tenant's append-only, hash-chained audit log.",
  fields: (t) => ({
    id: t.id({ resolve: (event) => encodeGlobalId("AuditEvent", event.eventId) }),
    sequence: t.float({
      description: "Position in the tenant's chain: 1, 2, 3, … without gaps (an integer below 2^53).",
      resolve: (event) => Number(event.sequence),
    }),
    action: t.exposeString("action", { description: 'What happened, e.g. "project.created".' }),
    occurredAt: t.field({ type: DateTime, resolve: (event) => toDate(event.occurTime) }),
    recordedAt: t.field({ type: DateTime, resolve: (event) => toDate(event.recordTime) }),
    actor: t.field({
      type: AuditActorRef,
      resolve: (event) => ({ kind: event.actor?.kind ?? ActorKind.UNSPECIFIED, id: event.actor?.id ?? "" }),
    }),
    target: t.field({
      type: AuditTargetRef,
      resolve: (event) => ({ type: event.target?.type ?? "", id: event.target?.id ?? "" }),
    }),
    outcome: t.field({ type: AuditOutcomeEnum, resolve: (event) => definedEnum(event.outcome, OUTCOMES) }),
    sourceIp: t.string({
      nullable: true,
      description: "The client's address, when known.",
      resolve: (event) => event.sourceIp || null,
    }),
    userAgent: t.string({
      nullable: true,
      description: "The client's User-Agent, when known.",
      resolve: (event) => event.userAgent || null,
    }),
    hash: t.exposeString("hash", { description: "Hex SHA-256 of the previous hash and this record." }),
    previousHash: t.exposeString("previousHash", { description: "Hex SHA-256 of the previous record." }),
  }),
});

/** `AuditEventConnection` / `AuditEventEdge`. */
const AuditEventConnection = builder.connectionObject(
  { type: AuditEventRef, name: "AuditEventConnection", edgesNullable: false, nodeNullable: false },
  { name: "AuditEventEdge" },
);

const AuditEventFilter = builder.inputType("AuditEventFilter", {
  description: "Narrows the audit log; fields left out match everything.",
  fields: (t) => ({
    since: t.field({ type: DateTime, required: false, description: "Occurred at or after this instant." }),
    until: t.field({ type: DateTime, required: false, description: "Occurred before this instant (after `since`)." }),
    actorId: t.string({ required: false, description: "`AuditActor.id`: a user id, API key id or service name." }),
    action: t.string({ required: false, description: 'An action, e.g. "project.created".' }),
    targetId: t.string({ required: false, description: "`AuditTarget.id`." }),
  }),
});

const AuditChainVerificationRef = builder.objectRef<VerifyChainResponse>("AuditChainVerification").implement({
  description: "The result of recomputing the audit log's hash chain.",
  fields: (t) => ({
    ok: t.exposeBoolean("ok", {
      description: "Every record links to its predecessor and hashes to its stored hash, without gaps.",
    }),
    firstBrokenSequence: t.float({
      nullable: true,
      description: "The first sequence at which a record was changed, removed or reordered; null when ok.",
      resolve: (v) => (v.ok ? null : Number(v.firstBrokenSequence)),
    }),
    reason: t.string({
      nullable: true,
      description: 'Why the chain breaks there, e.g. "hash mismatch"; null when ok.',
      resolve: (v) => (v.ok ? null : v.reason || null),
    }),
    fromSequence: t.float({
      description: "First sequence verified (0: empty log).",
      resolve: (v) => Number(v.fromSequence),
    }),
    toSequence: t.float({
      description: "Last sequence verified (0: empty log).",
      resolve: (v) => Number(v.toSequence),
    }),
    verifiedCount: t.float({ description: "Records checked.", resolve: (v) => Number(v.verifiedCount) }),
  }),
});

type FilterInput = {
  since?: Date | null | undefined;
  until?: Date | null | undefined;
  actorId?: string | null | undefined;
  action?: string | null | undefined;
  targetId?: string | null | undefined;
};

function auditFilter(filter: FilterInput | null | undefined): MessageInitShape<typeof AuditFilterSchema> {
  return {
    ...(filter?.since && { startTime: timestampFromDate(filter.since) }),
    ...(filter?.until && { endTime: timestampFromDate(filter.until) }),
    actorId: filter?.actorId ?? "",
    action: filter?.action ?? "",
    targetId: filter?.targetId ?? "",
  };
}

builder.queryFields((t) => ({
  auditEvents: t.field({
    type: AuditEventConnection,
    description:
      "The audit log of the session's tenant, newest first (owners and admins; API keys also need the `audit.read` scope).",
    args: { ...pageArgs, filter: t.arg({ type: AuditEventFilter, required: false }) },
    complexity: connectionComplexity,
    resolve: (_root, args, ctx) =>
      fetchConnection(args, ctx.pages, async (pageToken, pageSize) => {
        const res = await ctx.rpc.audit.listAuditEvents({
          filter: auditFilter(args.filter),
          page: { pageToken, pageSize },
        });
        return { items: res.events, nextPageToken: res.page?.nextPageToken ?? "" };
      }),
  }),
  verifyAuditChain: t.field({
    type: AuditChainVerificationRef,
    description:
      "Recomputes the hash chain of the session's tenant's audit log (owners and admins): ok, or where it breaks.",
    resolve: (_root, _args, ctx) => ctx.rpc.audit.verifyChain({}),
  }),
}));
