import { type Invitation, InvitationState } from "@tessera/proto/tessera/identity/v1/resources_pb";
import { builder } from "../builder.ts";
import { QuotaExceededError } from "../errors/gateway-errors.ts";
import { encodeGlobalId, requireGlobalId } from "../global-id.ts";
import { fetchConnection } from "../pagination.ts";
import { connectionComplexity, DateTime, definedEnum, pageArgs, resultTypes, toDate, WRITE_ERRORS } from "./common.ts";
import { UserRef } from "./user.ts";
import { ROLES, RoleEnum } from "./viewer.ts";

const STATES = {
  PENDING: InvitationState.PENDING,
  ACCEPTED: InvitationState.ACCEPTED,
  REVOKED: InvitationState.REVOKED,
  EXPIRED: InvitationState.EXPIRED,
};

const InvitationStateEnum = builder.enumType("InvitationState", {
  values: {
    PENDING: { value: STATES.PENDING, description: "Waiting to be accepted." },
    ACCEPTED: { value: STATES.ACCEPTED, description: "Used; cannot be used again." },
    REVOKED: { value: STATES.REVOKED, description: "Withdrawn, or replaced by a newer invitation to the address." },
    EXPIRED: { value: STATES.EXPIRED, description: "Not accepted in time." },
  },
});

const InvitationRef = builder.objectRef<Invitation>("Invitation").implement({
  description: "An invitation of an email address into the caller's tenant (never its token).",
  fields: (t) => ({
    id: t.id({ resolve: (i) => encodeGlobalId("Invitation", i.id) }),
    email: t.exposeString("email"),
    role: t.field({ type: RoleEnum, resolve: (i) => definedEnum(i.role, ROLES) }),
    state: t.field({ type: InvitationStateEnum, resolve: (i) => definedEnum(i.state, STATES) }),
    createdAt: t.field({ type: DateTime, resolve: (i) => toDate(i.createTime) }),
    expiresAt: t.field({ type: DateTime, resolve: (i) => toDate(i.expireTime) }),
    invitedBy: t.field({
      type: UserRef,
      nullable: true,
      description: "Who invited, while they are a member; null otherwise.",
      resolve: (i) => i.invitedBy || null,
    }),
  }),
});

const InvitationConnection = builder.connectionObject(
  { type: InvitationRef, name: "InvitationConnection", edgesNullable: false, nodeNullable: false },
  { name: "InvitationEdge" },
);

/** What `inviteMember` answers: the invitation and its single-use token, shown only here. */
interface NewInvitation {
  invitation: Invitation;
  token: string;
}

const NewInvitationRef = builder.objectRef<NewInvitation>("NewInvitation").implement({
  description: "A created invitation and its token: give the token to the invitee, it is shown only here.",
  fields: (t) => ({
    invitation: t.field({ type: InvitationRef, resolve: (n) => n.invitation }),
    token: t.exposeString("token", { description: "Single-use `tsi_…` token, for `acceptInvitation`." }),
  }),
});

builder.queryField("invitations", (t) =>
  t.field({
    type: InvitationConnection,
    description: "The invitations of the session's tenant, newest first (owners and admins).",
    args: { ...pageArgs },
    complexity: connectionComplexity,
    resolve: (_root, args, ctx) =>
      fetchConnection(args, ctx.pages, async (pageToken, pageSize) => {
        const res = await ctx.rpc.memberships.listInvitations({ page: { pageToken, pageSize } });
        return { items: res.invitations, nextPageToken: res.page?.nextPageToken ?? "" };
      }),
  }),
);

const InviteMemberInput = builder.inputType("InviteMemberInput", {
  fields: (t) => ({
    email: t.string({ required: true, description: "The invitee's address (at most 254 characters)." }),
    role: t.field({ type: RoleEnum, required: true, description: "Only owners invite owners." }),
  }),
});

const RevokeInvitationInput = builder.inputType("RevokeInvitationInput", {
  fields: (t) => ({ id: t.id({ required: true, description: "The `Invitation` id." }) }),
});

builder.mutationFields((t) => ({
  inviteMember: t.field({
    type: NewInvitationRef,
    description:
      "Invites an address into the tenant (owners and admins); a pending invitation to the same address is replaced. Needs a free seat of the plan.",
    args: { input: t.arg({ type: InviteMemberInput, required: true }) },
    errors: resultTypes("InviteMember", "newInvitation", [...WRITE_ERRORS, QuotaExceededError]),
    resolve: async (_root, { input }, ctx) => {
      const res = await ctx.rpc.memberships.createInvitation({ email: input.email, role: input.role });
      if (!res.invitation) throw new Error("identity answered without an invitation");
      return { invitation: res.invitation, token: res.token };
    },
  }),
  revokeInvitation: t.field({
    type: InvitationRef,
    description: "Withdraws a pending invitation (owners and admins); others are answered as they are.",
    args: { input: t.arg({ type: RevokeInvitationInput, required: true }) },
    errors: resultTypes("RevokeInvitation", "invitation"),
    resolve: async (_root, { input }, ctx) => {
      const res = await ctx.rpc.memberships.revokeInvitation({
        invitationId: requireGlobalId(String(input.id), "Invitation"),
      });
      if (!res.invitation) throw new Error("identity answered without an invitation");
      return res.invitation;
    },
  }),
}));
