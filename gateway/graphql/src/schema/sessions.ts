import type { Session } from "@tessera/proto/tessera/identity/v1/sessions_pb";
import { builder } from "../builder.ts";
import { encodeGlobalId, parseGlobalId, requireGlobalId } from "../global-id.ts";
import { fetchConnection } from "../pagination.ts";
import { connectionComplexity, DateTime, pageArgs, resultTypes, toDate } from "./common.ts";
import { UserRef } from "./user.ts";

/** Stands in for a malformed user id in a list filter: a valid id that matches nobody. */
const NOBODY = "00000000-0000-0000-0000-000000000000";

const SessionRef = builder.objectRef<Session>("Session").implement({
  description: "One sign-in of a member into the tenant (refreshed as it is used). Never carries a token.",
  fields: (t) => ({
    id: t.id({ resolve: (s) => encodeGlobalId("Session", s.id) }),
    user: t.field({ type: UserRef, resolve: (s) => s.userId }),
    createdAt: t.field({
      type: DateTime,
      description: "When the user signed in.",
      resolve: (s) => toDate(s.createTime),
    }),
    refreshedAt: t.field({
      type: DateTime,
      description: "When the session was last refreshed.",
      resolve: (s) => toDate(s.refreshTime),
    }),
    expiresAt: t.field({
      type: DateTime,
      description: "When it ends unless refreshed before.",
      resolve: (s) => toDate(s.expireTime),
    }),
    authenticationMethods: t.exposeStringList("authenticationMethods", {
      description: 'How the user signed in (RFC 8176: "pwd", "otp", …).',
    }),
    revokedAt: t.field({
      type: DateTime,
      nullable: true,
      description: "Set once ended (lists hold live sessions only).",
      resolve: (s) => (s.revokeTime ? toDate(s.revokeTime) : null),
    }),
  }),
});

const SessionConnection = builder.connectionObject(
  { type: SessionRef, name: "SessionConnection", edgesNullable: false, nodeNullable: false },
  { name: "SessionEdge" },
);

builder.queryFields((t) => ({
  sessions: t.field({
    type: SessionConnection,
    description:
      "Live sessions of the tenant's members, most recently refreshed first (owners and admins); `userId` narrows to one member.",
    args: { ...pageArgs, userId: t.arg.id({ required: false, description: "A member's `User` id." }) },
    complexity: connectionComplexity,
    resolve: (_root, args, ctx) => {
      const userId = args.userId == null ? "" : (parseGlobalId(String(args.userId), "User") ?? NOBODY);
      return fetchConnection(args, ctx.pages, async (pageToken, pageSize) => {
        const res = await ctx.rpc.sessions.listSessions({ page: { pageToken, pageSize }, userId });
        return { items: res.sessions, nextPageToken: res.page?.nextPageToken ?? "" };
      });
    },
  }),
  mySessions: t.field({
    type: SessionConnection,
    description: "The signed-in user's own live sessions in this tenant, most recently refreshed first.",
    args: { ...pageArgs },
    complexity: connectionComplexity,
    resolve: (_root, args, ctx) =>
      fetchConnection(args, ctx.pages, async (pageToken, pageSize) => {
        const res = await ctx.rpc.sessions.listSessions({ page: { pageToken, pageSize }, own: true });
        return { items: res.sessions, nextPageToken: res.page?.nextPageToken ?? "" };
      }),
  }),
}));

const RevokeSessionInput = builder.inputType("RevokeSessionInput", {
  fields: (t) => ({ id: t.id({ required: true, description: "The `Session` id." }) }),
});

const RevokeAllSessionsInput = builder.inputType("RevokeAllSessionsInput", {
  fields: (t) => ({
    userId: t.id({ required: true, description: "The member's `User` id (your own: sign out everywhere)." }),
  }),
});

builder.mutationFields((t) => ({
  revokeSession: t.field({
    type: SessionRef,
    description:
      "Ends a session: your own, or (owners and admins) a member's; only owners end an owner's. Its refresh token stops working at once; access tokens already issued run out within minutes.",
    args: { input: t.arg({ type: RevokeSessionInput, required: true }) },
    errors: resultTypes("RevokeSession", "session"),
    resolve: async (_root, { input }, ctx) => {
      const res = await ctx.rpc.sessions.revokeSession({ sessionId: requireGlobalId(String(input.id), "Session") });
      if (!res.session) throw new Error("identity answered without a session");
      return res.session;
    },
  }),
  revokeAllSessions: t.field({
    type: "Int",
    description:
      "Ends every session of a member into the tenant (yours, or as owner/admin a member's). Answers how many.",
    args: { input: t.arg({ type: RevokeAllSessionsInput, required: true }) },
    errors: resultTypes("RevokeAllSessions", "revokedCount"),
    resolve: async (_root, { input }, ctx) =>
      (await ctx.rpc.sessions.revokeAllSessions({ userId: requireGlobalId(String(input.userId), "User") }))
        .revokedCount,
  }),
}));
