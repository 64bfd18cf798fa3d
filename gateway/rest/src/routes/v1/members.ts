import { type Invitation, InvitationState, type Membership } from "@tessera/proto/tessera/identity/v1/resources_pb";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { requiresScope } from "../../openapi.ts";
import { apiRoute, createHeaders, createRoute, isoTime, pathId, problemResponses, timestamp } from "./common.ts";
import {
  type IdentityClients,
  identityClients,
  identityDeleteRoute,
  identityListRoute,
  ROLE_NAMES,
  roleField,
  roleName,
  roleOf,
} from "./identity-common.ts";

/** A member of the caller's tenant as the REST API shows it. */
export const MemberSchema = z
  .object({
    user_id: z.string(),
    email: z.string(),
    display_name: z.string(),
    role: z.enum(ROLE_NAMES),
    status: z.enum(["active", "disabled"]).describe("disabled: the account cannot sign in"),
    joined_at: timestamp(),
    updated_at: timestamp(),
  })
  .meta({ id: "Member" });

/** An invitation (never its token, except once in the creation's answer). */
export const InvitationSchema = z
  .object({
    id: z.string(),
    email: z.string(),
    role: z.enum(ROLE_NAMES),
    state: z.enum(["pending", "accepted", "revoked", "expired"]),
    invited_by: z.string().describe("User id of who invited"),
    created_at: timestamp(),
    expires_at: timestamp(),
  })
  .meta({ id: "Invitation" });

const CreatedInvitationSchema = InvitationSchema.extend({
  token: z.string().describe("The single-use `tsi_…` token for the invitee: shown only in this answer"),
}).meta({ id: "CreatedInvitation" });

const STATES: Record<number, z.infer<typeof InvitationSchema>["state"]> = {
  [InvitationState.PENDING]: "pending",
  [InvitationState.ACCEPTED]: "accepted",
  [InvitationState.REVOKED]: "revoked",
  [InvitationState.EXPIRED]: "expired",
};

function memberView(m: Membership | undefined): z.infer<typeof MemberSchema> {
  if (!m) throw new Error("identity answered without a membership");
  return {
    user_id: m.userId,
    email: m.user?.email ?? "",
    display_name: m.user?.displayName ?? "",
    role: roleName(m.role),
    status: m.userDisabled ? "disabled" : "active",
    joined_at: isoTime(m.createTime),
    updated_at: isoTime(m.updateTime),
  };
}

function invitationView(i: Invitation | undefined): z.infer<typeof InvitationSchema> {
  if (!i) throw new Error("identity answered without an invitation");
  const state = STATES[i.state];
  if (!state) throw new Error(`identity sent invitation state ${i.state}`);
  return {
    id: i.id,
    email: i.email,
    role: roleName(i.role),
    state,
    invited_by: i.invitedBy,
    created_at: isoTime(i.createTime),
    expires_at: isoTime(i.expireTime),
  };
}

const memberParams = z.object({ userId: z.string().describe("The member's user id (UUID)") });
const invitationParams = z.object({ invitationId: z.string().describe("Invitation id (UUID)") });

/**
 * /v1/members and /v1/invitations over identity's MembershipService (audience `identity`): the
 * caller's tenant only; identity enforces roles (owners and admins manage, only owners touch owners)
 * and, for API keys, scopes. Members and invitations have no version in the contract: no ETags.
 */
export function memberRoutes(app: FastifyInstance, identity: IdentityClients | undefined): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const client = () => identityClients(identity).memberships;

  identityListRoute(
    app,
    "/v1/members",
    {
      operationId: "listMembers",
      security: requiresScope("identity.members.read"),
      summary: "List the tenant's members (oldest first)",
      tags: ["members"],
      item: MemberSchema,
      listId: "MemberList",
    },
    async (page) => {
      const res = await client().listMembers({ page });
      return { items: res.members, page: res.page };
    },
    memberView,
  );

  r.patch(
    "/v1/members/:userId",
    {
      config: apiRoute,
      schema: {
        operationId: "updateMember",
        security: requiresScope("identity.members.manage"),
        summary: "Change a member's role",
        description:
          "Owners and admins; only owners grant or take away `owner`, and the last owner stays one. Takes effect on the member's next request.",
        tags: ["members"],
        params: memberParams,
        body: z.strictObject({ role: roleField() }),
        response: { 200: MemberSchema, ...problemResponses(400, 403, 404, 409, 413, 415) },
      },
    },
    async (req) => {
      const userId = pathId(req.params.userId);
      const res = await client().changeMemberRole({ userId, role: roleOf(req.body.role) });
      // the answer carries no user: read it (a member of the caller's tenant, so visible)
      const { user } = await identityClients(identity).users.getUser({ userId });
      return memberView(res.membership && { ...res.membership, user });
    },
  );

  identityDeleteRoute(
    app,
    "/v1/members/:userId",
    {
      operationId: "removeMember",
      security: requiresScope("identity.members.manage"),
      summary: "Remove a member from the tenant",
      description: "The user stays; their sessions into this tenant end. Only owners remove owners.",
      tags: ["members"],
      param: "userId",
      params: memberParams,
      done: "Removed",
      problems: [403, 404, 409],
    },
    (userId) => client().removeMember({ userId }),
  );

  identityListRoute(
    app,
    "/v1/invitations",
    {
      operationId: "listInvitations",
      security: requiresScope("identity.invitations.manage"),
      summary: "List the tenant's invitations (newest first)",
      tags: ["invitations"],
      item: InvitationSchema,
      listId: "InvitationList",
    },
    async (page) => {
      const res = await client().listInvitations({ page });
      return { items: res.invitations, page: res.page };
    },
    invitationView,
  );

  r.post(
    "/v1/invitations",
    {
      config: { tessera: { ...createRoute.tessera, notStored: ["token"] } },
      schema: {
        operationId: "createInvitation",
        security: requiresScope("identity.invitations.manage"),
        summary: "Invite an email address into the tenant",
        description:
          "A pending invitation to the same address is replaced. Needs a free seat of the plan (403 `quota-exceeded`). The token is shown only in this answer.",
        tags: ["invitations"],
        headers: createHeaders,
        body: z.strictObject({ email: z.email().max(254), role: roleField() }),
        response: { 201: CreatedInvitationSchema, ...problemResponses(400, 403, 409, 413, 415, 422) },
      },
    },
    async (req, reply) => {
      const res = await client().createInvitation({ email: req.body.email, role: roleOf(req.body.role) });
      reply.code(201);
      return { ...invitationView(res.invitation), token: res.token };
    },
  );

  identityDeleteRoute(
    app,
    "/v1/invitations/:invitationId",
    {
      operationId: "revokeInvitation",
      security: requiresScope("identity.invitations.manage"),
      summary: "Withdraw a pending invitation",
      description: "Accepted, expired and withdrawn invitations are left as they are.",
      tags: ["invitations"],
      param: "invitationId",
      params: invitationParams,
      done: "Withdrawn",
      problems: [403, 404],
    },
    (invitationId) => client().revokeInvitation({ invitationId }),
  );
}
