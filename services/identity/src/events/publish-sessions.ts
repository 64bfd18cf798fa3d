import { create } from "@bufbuild/protobuf";
import type { TxEntityManager } from "@tessera/platform/db";
import { enqueueEvent } from "@tessera/platform/events";
import { SessionEventSchema } from "@tessera/proto/tessera/identity/v1/sessions_pb";

/**
 * `session.revoked`: one sign-in session (a refresh-token family) was ended by an admin or its
 * user. Enqueued in the transaction that revoked it, under the tenant; the actor is the caller.
 */
export function sessionRevoked(em: TxEntityManager, session: { id: string; userId: string }, allSessions: boolean) {
  return enqueueEvent(em, {
    type: "session.revoked",
    aggregateId: session.id,
    outcome: "success",
    schema: SessionEventSchema,
    payload: create(SessionEventSchema, { sessionId: session.id, userId: session.userId, allSessions }),
  });
}
