import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Tokens, TokensSchema } from "@tessera/proto/tessera/identity/v1/auth_pb";
import {
  type ApiKey,
  ApiKeySchema,
  type Invitation,
  InvitationSchema,
  InvitationState,
  type Membership,
  MembershipSchema,
  type User,
  UserSchema,
} from "@tessera/proto/tessera/identity/v1/resources_pb";
import { toProtoRole } from "../convert.ts";
import type { ApiKeyRecord } from "../domain/api-keys.ts";
import type { InvitationRecord } from "../domain/invitations.ts";
import type { Session } from "../domain/sessions.ts";
import type { MembershipRecord, UserRecord } from "../domain/users.ts";

const ts = (d: Date | undefined) => (d ? timestampFromDate(d) : undefined);

/** Domain records → proto messages. */
export function userToProto(u: UserRecord): User {
  return create(UserSchema, { id: u.id, email: u.email, displayName: u.displayName, createTime: ts(u.createdAt) });
}

export function membershipToProto(m: MembershipRecord, user?: UserRecord): Membership {
  return create(MembershipSchema, {
    tenantId: m.tenantId,
    userId: m.userId,
    role: toProtoRole(m.role),
    user: user && userToProto(user),
    createTime: ts(m.createdAt),
    updateTime: ts(m.updatedAt),
    userDisabled: user?.disabled ?? false,
  });
}

const STATES = {
  pending: InvitationState.PENDING,
  accepted: InvitationState.ACCEPTED,
  revoked: InvitationState.REVOKED,
  expired: InvitationState.EXPIRED,
} as const;

export function invitationToProto(i: InvitationRecord): Invitation {
  return create(InvitationSchema, {
    id: i.id,
    tenantId: i.tenantId,
    email: i.email,
    role: toProtoRole(i.role),
    state: STATES[i.state],
    createTime: ts(i.createdAt),
    expireTime: ts(i.expiresAt),
    invitedBy: i.invitedBy,
  });
}

export function apiKeyToProto(k: ApiKeyRecord): ApiKey {
  return create(ApiKeySchema, {
    id: k.id,
    tenantId: k.tenantId,
    displayName: k.displayName,
    prefix: k.prefix,
    role: toProtoRole(k.role),
    scopes: k.scopes,
    createTime: ts(k.createdAt),
    expireTime: ts(k.expiresAt),
    lastUsedTime: ts(k.lastUsedAt),
    revokeTime: ts(k.revokedAt),
    createdBy: k.createdBy,
  });
}

export function sessionToProto(s: Session): Tokens {
  return create(TokensSchema, {
    accessToken: s.accessToken,
    accessTokenExpireTime: ts(s.accessTokenExpiresAt),
    refreshToken: s.refreshToken,
    refreshTokenExpireTime: ts(s.refreshTokenExpiresAt),
    userId: s.userId,
    tenantId: s.tenantId ?? "",
  });
}
