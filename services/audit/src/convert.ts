import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { InvalidArgument } from "@tessera/platform/errors";
import {
  type AuditEvent,
  AuditEventSchema,
  type AuditFilter as AuditFilterProto,
  AuditTargetSchema,
  ChainFinding,
  type Checkpoint as CheckpointProto,
  CheckpointSchema,
  type SignedStatement as SignedStatementProto,
  SignedStatementSchema,
} from "@tessera/proto/tessera/audit/v1/audit_pb";
import { ActorKind, ActorSchema, Outcome } from "@tessera/proto/tessera/common/v1/event_pb";
import type { Finding } from "./domain/anchor.ts";
import type { AuditFilter } from "./domain/query.ts";
import type { ActorKindName, AuditRecord, OutcomeName } from "./domain/record.ts";
import type { SignedStatement } from "./domain/signing.ts";
import type { Checkpoint } from "./domain/verify.ts";

/** The domain's findings as the contract's ChainFinding. */
export const FINDINGS: Record<Finding, ChainFinding> = {
  intact: ChainFinding.INTACT,
  record_broken: ChainFinding.RECORD_BROKEN,
  head_mismatch: ChainFinding.HEAD_MISMATCH,
  truncated: ChainFinding.TRUNCATED,
  checkpoint_unsigned: ChainFinding.CHECKPOINT_UNSIGNED,
  checkpoint_unpublished: ChainFinding.CHECKPOINT_UNPUBLISHED,
};

/** A signed statement as the contract's SignedStatement. */
export function statementToProto(s: SignedStatement): SignedStatementProto {
  return create(SignedStatementSchema, { payload: s.payload, signature: s.signature, keyId: s.keyId });
}

const ACTOR_KINDS: Record<ActorKindName, ActorKind> = {
  user: ActorKind.USER,
  api_key: ActorKind.API_KEY,
  service: ActorKind.SERVICE,
  system: ActorKind.SYSTEM,
  unspecified: ActorKind.UNSPECIFIED,
};
const ACTOR_KIND_NAMES = new Map<ActorKind, ActorKindName>(
  Object.entries(ACTOR_KINDS).map(([name, kind]) => [kind, name as ActorKindName]),
);

const OUTCOMES: Record<OutcomeName, Outcome> = {
  success: Outcome.SUCCESS,
  failure: Outcome.FAILURE,
  denied: Outcome.DENIED,
};

/** A stored record as the contract's AuditEvent (hashes in lower-case hex). */
export function recordToProto(r: AuditRecord): AuditEvent {
  return create(AuditEventSchema, {
    tenantId: r.tenantId,
    sequence: BigInt(r.seq),
    eventId: r.eventId,
    occurTime: timestampFromDate(r.occurredAt),
    recordTime: timestampFromDate(r.recordedAt),
    actor: create(ActorSchema, { kind: ACTOR_KINDS[r.actorKind] ?? ActorKind.UNSPECIFIED, id: r.actorId }),
    action: r.action,
    target: create(AuditTargetSchema, { type: r.targetType, id: r.targetId }),
    outcome: OUTCOMES[r.outcome] ?? Outcome.SUCCESS,
    sourceIp: r.sourceIp,
    userAgent: r.userAgent,
    previousHash: r.prevHash.toString("hex"),
    hash: r.hash.toString("hex"),
  });
}

/** A retention checkpoint as the contract's Checkpoint. */
export function checkpointToProto(c: Checkpoint): CheckpointProto {
  return create(CheckpointSchema, {
    sequence: BigInt(c.seq),
    hash: c.hash.toString("hex"),
    createTime: timestampFromDate(c.createdAt),
  });
}

/** The contract's filter as the domain's; InvalidArgument when the time range is empty or backwards. */
export function filterFromProto(f: AuditFilterProto | undefined): AuditFilter {
  if (!f) return {};
  const start = f.startTime ? timestampDate(f.startTime) : undefined;
  const end = f.endTime ? timestampDate(f.endTime) : undefined;
  if (start && end && end.getTime() <= start.getTime()) {
    throw new InvalidArgument("empty time range", [{ field: "filter.end_time", message: "must be after start_time" }]);
  }
  const actorKind = ACTOR_KIND_NAMES.get(f.actorKind);
  return {
    ...(start && { start }),
    ...(end && { end }),
    ...(f.actorId && { actorId: f.actorId }),
    ...(f.actorKind !== ActorKind.UNSPECIFIED && actorKind && { actorKind }),
    ...(f.action && { action: f.action }),
    ...(f.targetType && { targetType: f.targetType }),
    ...(f.targetId && { targetId: f.targetId }),
  };
}
