import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { type Session, SessionSchema, type SessionService } from "@tessera/proto/tessera/identity/v1/sessions_pb";
import type { IdentityDeps } from "../domain/deps.ts";
import { listSessions, revokeAllSessions, revokeSession, type SessionRecord } from "../domain/session-admin.ts";

function sessionToProto(s: SessionRecord): Session {
  return create(SessionSchema, {
    id: s.id,
    tenantId: s.tenantId,
    userId: s.userId,
    createTime: timestampFromDate(s.createdAt),
    refreshTime: timestampFromDate(s.refreshedAt),
    expireTime: timestampFromDate(s.expiresAt),
    authenticationMethods: s.amr,
    revokeTime: s.revokedAt && timestampFromDate(s.revokedAt),
  });
}

/** tessera.identity.v1.SessionService: sign-in sessions of the caller's tenant. */
export function sessionHandlers(deps: IdentityDeps): ServiceImpl<typeof SessionService> {
  return {
    async listSessions(req) {
      const { sessions, nextPageToken } = await listSessions(deps, {
        page: req.page,
        own: req.own,
        userId: req.userId,
      });
      return { sessions: sessions.map(sessionToProto), page: { nextPageToken } };
    },
    async revokeSession(req) {
      return { session: sessionToProto(await revokeSession(deps, req.sessionId)) };
    },
    async revokeAllSessions(req) {
      return { revokedCount: await revokeAllSessions(deps, req.userId) };
    },
  };
}
