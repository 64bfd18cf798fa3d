import type { Session } from "@tessera/proto/tessera/identity/v1/sessions_pb";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { requiresScope } from "../../openapi.ts";
import {
  apiRoute,
  isoTime,
  listOf,
  nextCursor,
  pageQuery,
  pageRequest,
  problemResponses,
  timestamp,
  uuid,
} from "./common.ts";
import { type IdentityClients, identityClients, identityDeleteRoute } from "./identity-common.ts";

/** A sign-in session as the REST API shows it: never a token. */
export const SessionSchema = z
  .object({
    id: z.string(),
    user_id: z.string(),
    created_at: timestamp().describe("When the user signed in"),
    refreshed_at: timestamp().describe("When the session was last refreshed"),
    expires_at: timestamp().describe("When it ends unless refreshed before"),
    authentication_methods: z.array(z.string()).describe('RFC 8176 methods: "pwd", "otp", …'),
  })
  .meta({ id: "Session" });

function sessionView(s: Session): z.infer<typeof SessionSchema> {
  return {
    id: s.id,
    user_id: s.userId,
    created_at: isoTime(s.createTime),
    refreshed_at: isoTime(s.refreshTime),
    expires_at: isoTime(s.expireTime),
    authentication_methods: [...s.authenticationMethods],
  };
}

/**
 * /v1/sessions over identity's SessionService (audience `identity`): owners and admins list and end
 * their tenant's members' sessions; a user's token with `mine=true` lists its own. Ending a session
 * makes its refresh token fail at once.
 */
export function sessionRoutes(app: FastifyInstance, identity: IdentityClients | undefined): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const client = () => identityClients(identity).sessions;
  const tags = ["sessions"];
  const security = requiresScope("identity.members.manage");

  r.get(
    "/v1/sessions",
    {
      config: apiRoute,
      schema: {
        operationId: "listSessions",
        security,
        summary: "List live sign-in sessions (most recently refreshed first)",
        description:
          "Owners and admins: the tenant's members' sessions (`user_id` narrows to one member). `mine=true`: the calling user's own (any role; user tokens only).",
        tags,
        querystring: z.object({
          ...pageQuery,
          user_id: uuid().optional().describe("Only this member's sessions"),
          mine: z.enum(["true", "false"]).optional().describe("Only the caller's own sessions (default false)"),
        }),
        response: { 200: listOf(SessionSchema, "SessionList"), ...problemResponses(400, 403) },
      },
    },
    async (req) => {
      const res = await client().listSessions({
        page: pageRequest(req.query),
        own: req.query.mine === "true",
        userId: req.query.user_id ?? "",
      });
      return { data: res.sessions.map(sessionView), next_cursor: nextCursor(res.page) };
    },
  );

  identityDeleteRoute(
    app,
    "/v1/sessions/:sessionId",
    {
      operationId: "revokeSession",
      security,
      summary: "End a sign-in session",
      description:
        "Its refresh token stops working at once (access tokens already issued end within minutes). A user may end their own; owners and admins any member's; only owners an owner's.",
      tags,
      param: "sessionId",
      params: z.object({ sessionId: z.string().describe("Session id (UUID)") }),
      done: "Ended",
      problems: [403, 404],
    },
    (sessionId) => client().revokeSession({ sessionId }),
  );
}
