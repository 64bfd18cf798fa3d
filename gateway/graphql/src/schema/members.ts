import type { Membership } from "@tessera/proto/tessera/identity/v1/resources_pb";
import { builder } from "../builder.ts";
import { encodeGlobalId, requireGlobalId } from "../global-id.ts";
import { fetchConnection } from "../pagination.ts";
import { connectionComplexity, DateTime, definedEnum, pageArgs, resultTypes, toDate } from "./common.ts";
import { UserRef } from "./user.ts";
import { ROLES, RoleEnum } from "./viewer.ts";

const MemberStatusEnum = builder.enumType("MemberStatus", {
  description: "Whether a member can sign in.",
  values: {
    ACTIVE: { value: "ACTIVE" as const },
    DISABLED: { value: "DISABLED" as const, description: "The account is disabled: the member cannot sign in." },
  },
});

/** A member of the caller's tenant: identity's Membership (with its user in list answers). */
export const MemberRef = builder.objectRef<Membership>("Member").implement({
  description: "A person's membership in the caller's tenant.",
  fields: (t) => ({
    id: t.id({ resolve: (m) => encodeGlobalId("Member", m.userId) }),
    user: t.field({
      type: UserRef,
      description: "The person (`user.id` is what `updateMemberRole` and `removeMember` take).",
      resolve: (m, _args, ctx) => {
        if (m.user) UserRef.getDataloader(ctx).prime(m.userId, m.user);
        return m.userId;
      },
    }),
    role: t.field({ type: RoleEnum, resolve: (m) => definedEnum(m.role, ROLES) }),
    status: t.field({ type: MemberStatusEnum, resolve: (m) => (m.userDisabled ? "DISABLED" : "ACTIVE") }),
    joinedAt: t.field({ type: DateTime, resolve: (m) => toDate(m.createTime) }),
    updatedAt: t.field({ type: DateTime, resolve: (m) => toDate(m.updateTime) }),
  }),
});

const MemberConnection = builder.connectionObject(
  { type: MemberRef, name: "MemberConnection", edgesNullable: false, nodeNullable: false },
  { name: "MemberEdge" },
);

builder.queryField("members", (t) =>
  t.field({
    type: MemberConnection,
    description: "The members of the session's tenant, oldest first (every member may list them).",
    args: { ...pageArgs },
    complexity: connectionComplexity,
    resolve: (_root, args, ctx) =>
      fetchConnection(args, ctx.pages, async (pageToken, pageSize) => {
        const res = await ctx.rpc.memberships.listMembers({ page: { pageToken, pageSize } });
        return { items: res.members, nextPageToken: res.page?.nextPageToken ?? "" };
      }),
  }),
);

const UpdateMemberRoleInput = builder.inputType("UpdateMemberRoleInput", {
  fields: (t) => ({
    userId: t.id({ required: true, description: "The member's `User` id." }),
    role: t.field({ type: RoleEnum, required: true }),
  }),
});

const RemoveMemberInput = builder.inputType("RemoveMemberInput", {
  fields: (t) => ({ userId: t.id({ required: true, description: "The member's `User` id." }) }),
});

builder.mutationFields((t) => ({
  updateMemberRole: t.field({
    type: MemberRef,
    description:
      "Changes a member's role (owners and admins; only owners grant or take away OWNER; the last owner stays). Takes effect on the member's next call.",
    args: { input: t.arg({ type: UpdateMemberRoleInput, required: true }) },
    errors: resultTypes("UpdateMemberRole", "member"),
    resolve: async (_root, { input }, ctx) => {
      const res = await ctx.rpc.memberships.changeMemberRole({
        userId: requireGlobalId(String(input.userId), "User"),
        role: input.role,
      });
      if (!res.membership) throw new Error("identity answered without a membership");
      return res.membership;
    },
  }),
  removeMember: t.field({
    type: "ID",
    description:
      "Removes a member from the tenant (owners and admins; only owners remove owners); their sessions into the tenant end. Answers the removed `User` id.",
    args: { input: t.arg({ type: RemoveMemberInput, required: true }) },
    errors: resultTypes("RemoveMember", "removedUserId"),
    resolve: async (_root, { input }, ctx) => {
      const userId = requireGlobalId(String(input.userId), "User");
      await ctx.rpc.memberships.removeMember({ userId });
      return encodeGlobalId("User", userId);
    },
  }),
}));
