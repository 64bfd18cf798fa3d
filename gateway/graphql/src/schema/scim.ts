import { rotateScimTokenById, type ScimTokenState, scimGroupProblems, scimTokenState } from "@tessera/platform/edge";
import type { ScimGroupRoleMapping, ScimSettings, ScimToken } from "@tessera/proto/tessera/identity/v1/scim_pb";
import { builder } from "../builder.ts";
import { InputError } from "../errors/gateway-errors.ts";
import { fromServiceError } from "../errors/mapping.ts";
import { encodeGlobalId, requireGlobalId } from "../global-id.ts";
import { DateTime, definedEnum, resultTypes, toDate } from "./common.ts";
import { UserRef } from "./user.ts";
import { ROLES, RoleEnum } from "./viewer.ts";

const STATES: Record<Uppercase<ScimTokenState>, Uppercase<ScimTokenState>> = {
  ACTIVE: "ACTIVE",
  ROTATED: "ROTATED",
  EXPIRED: "EXPIRED",
  REVOKED: "REVOKED",
};

const ScimTokenStateEnum = builder.enumType("ScimTokenState", {
  values: {
    ACTIVE: { value: STATES.ACTIVE, description: "The tenant's current token." },
    ROTATED: {
      value: STATES.ROTATED,
      description: "Replaced by rotation: valid until its successor is first used or `expiresAt`, whichever is first.",
    },
    EXPIRED: { value: STATES.EXPIRED, description: "Its overlap ended: refused." },
    REVOKED: { value: STATES.REVOKED, description: "Revoked, or ended by its successor's first use: refused." },
  },
});

const ScimTokenRef = builder.objectRef<ScimToken>("ScimToken").implement({
  description:
    "A bearer token the tenant's directory (Okta, Entra ID, …) provisions users and groups with at identity's SCIM 2.0 endpoint. The secret is never shown again.",
  fields: (t) => ({
    id: t.id({ resolve: (s) => encodeGlobalId("ScimToken", s.id) }),
    prefix: t.exposeString("prefix", { description: "The visible part of the token (`tss_scim_<prefix>_…`)." }),
    state: t.field({
      type: ScimTokenStateEnum,
      resolve: (s) => scimTokenState(s).toUpperCase() as Uppercase<ScimTokenState>,
    }),
    createdAt: t.field({ type: DateTime, resolve: (s) => toDate(s.createTime) }),
    createdBy: t.field({
      type: UserRef,
      nullable: true,
      description: "Who created it, while they are a member; null otherwise.",
      resolve: (s) => s.createdBy || null,
    }),
    expiresAt: t.field({
      type: DateTime,
      nullable: true,
      description: "Set once rotated: the end of its overlap.",
      resolve: (s) => (s.expireTime ? toDate(s.expireTime) : null),
    }),
    revokedAt: t.field({
      type: DateTime,
      nullable: true,
      resolve: (s) => (s.revokeTime ? toDate(s.revokeTime) : null),
    }),
    lastUsedAt: t.field({
      type: DateTime,
      nullable: true,
      description: "Null: never used. Updated at most once a minute.",
      resolve: (s) => (s.lastUsedTime ? toDate(s.lastUsedTime) : null),
    }),
    replacesTokenId: t.id({
      nullable: true,
      description: "For a token issued by rotation: the `ScimToken` it replaced.",
      resolve: (s) => (s.replacesTokenId ? encodeGlobalId("ScimToken", s.replacesTokenId) : null),
    }),
  }),
});

/** What `createScimToken` and `rotateScimToken` answer: the token and its secret, shown only here. */
interface NewScimToken {
  scimToken: ScimToken;
  secret: string;
  previous: ScimToken | null;
}

const NewScimTokenRef = builder.objectRef<NewScimToken>("NewScimToken").implement({
  description:
    "A new SCIM token and its secret: give the secret to the directory now, it is shown only here. The directory calls identity's SCIM endpoint (`<identity's public HTTP address>/scim/v2`), not this gateway.",
  fields: (t) => ({
    scimToken: t.field({ type: ScimTokenRef, resolve: (n) => n.scimToken }),
    secret: t.exposeString("secret", { description: "The full bearer token, `tss_scim_<prefix>_<secret>`." }),
    previous: t.field({
      type: ScimTokenRef,
      nullable: true,
      description: "After a rotation: the token it replaces, with the end of its overlap as `expiresAt`.",
      resolve: (n) => n.previous,
    }),
  }),
});

const ScimGroupRoleRef = builder.objectRef<ScimGroupRoleMapping>("ScimGroupRole").implement({
  description: "Members of a provisioned group get a role.",
  fields: (t) => ({
    group: t.exposeString("group", { description: "The group's displayName (case-insensitive) or externalId." }),
    role: t.field({ type: RoleEnum, resolve: (m) => definedEnum(m.role, ROLES) }),
  }),
});

const ScimGroupMappingRef = builder.objectRef<ScimSettings>("ScimGroupMapping").implement({
  description:
    "How the tenant's provisioned groups map to roles. A member gets the highest role of their mapped groups; leaving every mapped group puts a member whose role came from groups back to MEMBER.",
  fields: (t) => ({
    groupRoles: t.field({ type: [ScimGroupRoleRef], resolve: (s) => s.groupRoles }),
    updatedAt: t.field({
      type: DateTime,
      nullable: true,
      description: "Null: never set (groups give no roles).",
      resolve: (s) => (s.updateTime ? toDate(s.updateTime) : null),
    }),
  }),
});

builder.queryFields((t) => ({
  scimTokens: t.field({
    type: [ScimTokenRef],
    description: "The tenant's SCIM tokens, at most the 50 newest, newest first (owners and admins). Never a secret.",
    resolve: async (_root, _args, ctx) => (await ctx.rpc.scim.listScimTokens({})).tokens,
  }),
  scimGroupMapping: t.field({
    type: ScimGroupMappingRef,
    description: "How the tenant's provisioned groups map to roles (owners and admins).",
    resolve: async (_root, _args, ctx) => {
      const { settings } = await ctx.rpc.scim.getScimSettings({});
      if (!settings) throw new Error("identity answered without SCIM settings");
      return settings;
    },
  }),
}));

const RotateScimTokenInput = builder.inputType("RotateScimTokenInput", {
  fields: (t) => ({
    id: t.id({ required: true, description: "The current (`ACTIVE`) `ScimToken`." }),
    overlapSeconds: t.int({
      required: false,
      description: "How long the old token stays valid at most, 0–86400 (0 or absent: the default, an hour).",
    }),
  }),
});

const RevokeScimTokenInput = builder.inputType("RevokeScimTokenInput", {
  fields: (t) => ({ id: t.id({ required: true, description: "The `ScimToken` id." }) }),
});

const ScimGroupRoleInput = builder.inputType("ScimGroupRoleInput", {
  fields: (t) => ({
    group: t.string({ required: true, description: "1–256 characters, no control characters; each group once." }),
    role: t.field({ type: RoleEnum, required: true, description: "OWNER only by owners." }),
  }),
});

const SetScimGroupMappingInput = builder.inputType("SetScimGroupMappingInput", {
  fields: (t) => ({
    groupRoles: t.field({
      type: [ScimGroupRoleInput],
      required: true,
      description: "The whole mapping, replacing the current one (at most 100; empty: groups give no roles).",
    }),
  }),
});

const newToken = (token: ScimToken | undefined, secret: string, previous?: ScimToken): NewScimToken => {
  if (!token) throw new Error("identity answered without a SCIM token");
  return { scimToken: token, secret, previous: previous ?? null };
};

builder.mutationFields((t) => ({
  createScimToken: t.field({
    type: NewScimTokenRef,
    description:
      "Creates the tenant's SCIM token (owners and admins); the secret is in the answer, once. A tenant has one current token: while it has one this is a ConflictError (rotate it instead).",
    errors: resultTypes("CreateScimToken", "newScimToken"),
    resolve: async (_root, _args, ctx) => {
      const res = await ctx.rpc.scim.createScimToken({});
      return newToken(res.token, res.secret);
    },
  }),
  rotateScimToken: t.field({
    type: NewScimTokenRef,
    description:
      "Issues a new SCIM token for the current one (owners and admins); the secret is in the answer, once. The old token stays valid until the new one is first used or the overlap ends. A token that is not the current one is a ConflictError.",
    args: { input: t.arg({ type: RotateScimTokenInput, required: true }) },
    errors: resultTypes("RotateScimToken", "newScimToken"),
    resolve: async (_root, { input }, ctx) => {
      const overlap = input.overlapSeconds ?? 0;
      if (!Number.isInteger(overlap) || overlap < 0 || overlap > 86_400) {
        throw new InputError("overlapSeconds must be between 0 and 86400.", [
          { field: "overlapSeconds", message: "between 0 and 86400" },
        ]);
      }
      const id = requireGlobalId(String(input.id), "ScimToken");
      const res = await rotateScimTokenById(ctx.rpc.scim, id, overlap).catch((err: unknown) => {
        throw fromServiceError(err);
      });
      return newToken(res.token, res.secret, res.previous);
    },
  }),
  revokeScimToken: t.field({
    type: ScimTokenRef,
    description:
      "Revokes a SCIM token (owners and admins): the directory's next request with it is refused. Revoking again changes nothing.",
    args: { input: t.arg({ type: RevokeScimTokenInput, required: true }) },
    errors: resultTypes("RevokeScimToken", "scimToken"),
    resolve: async (_root, { input }, ctx) => {
      const res = await ctx.rpc.scim.revokeScimToken({ tokenId: requireGlobalId(String(input.id), "ScimToken") });
      if (!res.token) throw new Error("identity answered without a SCIM token");
      return res.token;
    },
  }),
  setScimGroupMapping: t.field({
    type: ScimGroupMappingRef,
    description:
      "Replaces how provisioned groups map to roles (owners and admins; only owners map a group to OWNER) and derives the roles of their members again at once.",
    args: { input: t.arg({ type: SetScimGroupMappingInput, required: true }) },
    errors: resultTypes("SetScimGroupMapping", "scimGroupMapping"),
    resolve: async (_root, { input }, ctx) => {
      const problems = scimGroupProblems(input.groupRoles.map((m) => m.group));
      if (problems.length > 0) {
        throw new InputError(
          "The group mapping was refused: see fieldErrors.",
          problems.map((p) => ({
            field: p.index === undefined ? "groupRoles" : `groupRoles[${p.index}].group`,
            message: p.message,
          })),
        );
      }
      const groupRoles = input.groupRoles.map((m) => ({ group: m.group, role: m.role }));
      const { settings } = await ctx.rpc.scim.updateScimSettings({ groupRoles });
      if (!settings) throw new Error("identity answered without SCIM settings");
      return settings;
    },
  }),
}));
