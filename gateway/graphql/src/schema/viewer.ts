import { type Membership, Role } from "@tessera/proto/tessera/identity/v1/resources_pb";
import type { GetViewerResponse } from "@tessera/proto/tessera/identity/v1/users_pb";
import { builder } from "../builder.ts";
import { encodeGlobalId } from "../global-id.ts";
import { DateTime, definedEnum, toDate } from "./common.ts";
import { sessionTenant, TenantRef } from "./tenant.ts";
import { UserRef } from "./user.ts";

export const ROLES = { OWNER: Role.OWNER, ADMIN: Role.ADMIN, MEMBER: Role.MEMBER, VIEWER: Role.VIEWER };

export const RoleEnum = builder.enumType("Role", {
  description: "A role in a tenant: owner > admin > member > viewer.",
  values: {
    OWNER: { value: ROLES.OWNER },
    ADMIN: { value: ROLES.ADMIN },
    MEMBER: { value: ROLES.MEMBER },
    VIEWER: { value: ROLES.VIEWER },
  },
});

const MembershipRef = builder.objectRef<Membership>("Membership").implement({
  description: "The viewer's membership in one tenant.",
  fields: (t) => ({
    tenantId: t.id({ resolve: (m) => encodeGlobalId("Tenant", m.tenantId) }),
    role: t.field({ type: RoleEnum, resolve: (m) => definedEnum(m.role, ROLES) }),
    createdAt: t.field({ type: DateTime, resolve: (m) => toDate(m.createTime) }),
    tenant: t.field({
      type: TenantRef,
      nullable: true,
      description: "Details of the tenant; only for the tenant of the current session (null for the others).",
      resolve: async (m, _args, ctx) => {
        const tenant = await sessionTenant(ctx);
        return tenant && tenant.id === m.tenantId.toLowerCase() ? tenant : null;
      },
    }),
  }),
});

export const ViewerRef = builder.objectRef<GetViewerResponse>("Viewer").implement({
  description: "The signed-in user, their memberships and the tenant of this session.",
  fields: (t) => ({
    user: t.field({
      type: UserRef,
      resolve: (viewer, _args, ctx) => {
        const user = viewer.user;
        if (!user) throw new Error("GetViewer answered without a user");
        UserRef.getDataloader(ctx).prime(user.id, user);
        return user;
      },
    }),
    memberships: t.field({ type: [MembershipRef], resolve: (viewer) => viewer.memberships }),
    platformRoles: t.exposeStringList("platformRoles"),
    tenant: t.field({
      type: TenantRef,
      nullable: true,
      description: "The tenant this session acts in.",
      resolve: (_viewer, _args, ctx) => sessionTenant(ctx),
    }),
  }),
});

builder.queryField("viewer", (t) =>
  t.field({
    type: ViewerRef,
    description: "The caller (a signed-in user).",
    resolve: (_root, _args, ctx) => ctx.rpc.users.getViewer({}),
  }),
);
