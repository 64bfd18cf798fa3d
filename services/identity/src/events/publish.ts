import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { TxEntityManager } from "@tessera/platform/db";
import { type EventActor, enqueueEvent } from "@tessera/platform/events";
import {
  ApiKeyEventSchema,
  InvitationEventSchema,
  LoginEventSchema,
  LoginFailureReason,
  MembershipEventSchema,
  RefreshTokenReuseEventSchema,
  SigningKeyEventSchema,
} from "@tessera/proto/tessera/identity/v1/events_pb";
import { toProtoRole } from "../convert.ts";
import type { TenantRole } from "../domain/roles.ts";

/**
 * identity's security events. Each is enqueued in the transaction of the change it reports (so it
 * is published exactly when the change commits), under that transaction's tenant.
 */

/** Who the edge said the end user is, for the audit trail. */
export interface ClientSeen {
  ip: string;
  userAgent: string;
}

const userActor = (userId: string): EventActor => ({ kind: "user", id: userId });

export { LoginFailureReason };

/** `user.login_succeeded`, with the user as actor. */
export function loginSucceeded(em: TxEntityManager, userId: string, client: ClientSeen) {
  return enqueueEvent(em, {
    type: "user.login_succeeded",
    aggregateId: userId,
    actor: userActor(userId),
    outcome: "success",
    origin: { clientIp: client.ip, userAgent: client.userAgent },
    schema: LoginEventSchema,
    payload: create(LoginEventSchema, { userId, clientIp: client.ip, userAgent: client.userAgent }),
  });
}

/** `user.login_failed`; the aggregate is the user when one matched, else the client address. */
export function loginFailed(
  em: TxEntityManager,
  fields: { userId?: string; reason: LoginFailureReason; failedAttempts?: number },
  client: ClientSeen,
) {
  return enqueueEvent(em, {
    type: "user.login_failed",
    aggregateId: fields.userId ?? client.ip,
    outcome: "failure",
    origin: { clientIp: client.ip, userAgent: client.userAgent },
    schema: LoginEventSchema,
    payload: create(LoginEventSchema, {
      userId: fields.userId ?? "",
      clientIp: client.ip,
      userAgent: client.userAgent,
      reason: fields.reason,
      failedAttempts: fields.failedAttempts ?? 0,
    }),
  });
}

/** `user.locked_out`: this failure locked the account. */
export function lockedOut(
  em: TxEntityManager,
  userId: string,
  failedAttempts: number,
  lockedUntil: Date,
  client: ClientSeen,
) {
  return enqueueEvent(em, {
    type: "user.locked_out",
    aggregateId: userId,
    outcome: "denied",
    origin: { clientIp: client.ip, userAgent: client.userAgent },
    schema: LoginEventSchema,
    payload: create(LoginEventSchema, {
      userId,
      clientIp: client.ip,
      userAgent: client.userAgent,
      reason: LoginFailureReason.LOCKED,
      failedAttempts,
      lockedUntil: timestampFromDate(lockedUntil),
    }),
  });
}

/** `refresh_token.reuse_detected`: a spent refresh token came back; its family is revoked. */
export function refreshReuseDetected(em: TxEntityManager, userId: string, familyId: string, client: ClientSeen) {
  return enqueueEvent(em, {
    type: "refresh_token.reuse_detected",
    aggregateId: familyId,
    outcome: "denied",
    origin: { clientIp: client.ip, userAgent: client.userAgent },
    schema: RefreshTokenReuseEventSchema,
    payload: create(RefreshTokenReuseEventSchema, {
      userId,
      familyId,
      clientIp: client.ip,
      userAgent: client.userAgent,
    }),
  });
}

/** `membership.created`, `membership.role_changed` or `membership.removed`. */
export function membershipChanged(
  em: TxEntityManager,
  verb: "created" | "role_changed" | "removed",
  userId: string,
  role: TenantRole | undefined,
  previousRole: TenantRole | undefined,
  actor?: EventActor,
) {
  return enqueueEvent(em, {
    type: `membership.${verb}`,
    aggregateId: userId,
    ...(actor && { actor }),
    schema: MembershipEventSchema,
    payload: create(MembershipEventSchema, {
      userId,
      role: toProtoRole(role),
      previousRole: toProtoRole(previousRole),
    }),
  });
}

/** `invitation.created`, `invitation.accepted` or `invitation.revoked`. */
export function invitationChanged(
  em: TxEntityManager,
  verb: "created" | "accepted" | "revoked",
  invitationId: string,
  role: TenantRole,
  userId = "",
) {
  return enqueueEvent(em, {
    type: `invitation.${verb}`,
    aggregateId: invitationId,
    ...(verb === "accepted" && userId && { actor: userActor(userId) }),
    schema: InvitationEventSchema,
    payload: create(InvitationEventSchema, { invitationId, role: toProtoRole(role), userId }),
  });
}

/** `api_key.created` or `api_key.revoked`. */
export function apiKeyChanged(
  em: TxEntityManager,
  verb: "created" | "revoked",
  key: { id: string; prefix: string; displayName: string; role: TenantRole; scopes: readonly string[] },
) {
  return enqueueEvent(em, {
    type: `api_key.${verb}`,
    aggregateId: key.id,
    schema: ApiKeyEventSchema,
    payload: create(ApiKeyEventSchema, {
      apiKeyId: key.id,
      prefix: key.prefix,
      displayName: key.displayName,
      role: toProtoRole(key.role),
      scopes: [...key.scopes],
    }),
  });
}

/** `signing_key.rotated` (platform tenant). */
export function signingKeyRotated(em: TxEntityManager, kid: string, previousKid: string) {
  return enqueueEvent(em, {
    type: "signing_key.rotated",
    aggregateId: kid,
    schema: SigningKeyEventSchema,
    payload: create(SigningKeyEventSchema, { kid, previousKid }),
  });
}
