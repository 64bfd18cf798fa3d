import type { SsoConnection, SsoRoleMapping } from "@tessera/proto/tessera/identity/v1/sso_pb";
import { builder } from "../builder.ts";
import {
  InputError,
  NotFoundError,
  RateLimitedError,
  StepUpRequiredError,
  UnauthenticatedError,
} from "../errors/gateway-errors.ts";
import { encodeGlobalId, parseGlobalId } from "../global-id.ts";
import { AuthTokensRef, tokensOf } from "./auth.ts";
import { DateTime, definedEnum, type ErrorClass, resultTypes, toDate, WRITE_ERRORS } from "./common.ts";
import { MfaRequired } from "./mfa-challenge.ts";
import { TenantRef } from "./tenant.ts";
import { ROLES, RoleEnum } from "./viewer.ts";

const SsoRoleMappingRef = builder.objectRef<SsoRoleMapping>("SsoRoleMapping").implement({
  description: "Users whose groups claim holds `value` get `role`.",
  fields: (t) => ({
    value: t.exposeString("value"),
    role: t.field({ type: RoleEnum, resolve: (m) => definedEnum(m.role, ROLES) }),
  }),
});

const SsoConnectionRef = builder.objectRef<SsoConnection>("SsoConnection").implement({
  description:
    "The tenant's OpenID Connect identity provider. The client secret is never shown: only whether one is set and its last four characters.",
  fields: (t) => ({
    issuer: t.exposeString("issuer"),
    clientId: t.exposeString("clientId"),
    clientSecretSet: t.exposeBoolean("clientSecretSet"),
    clientSecretLast4: t.exposeString("clientSecretLast4"),
    scopes: t.exposeStringList("scopes"),
    emailClaim: t.exposeString("emailClaim"),
    nameClaim: t.exposeString("nameClaim"),
    groupsClaim: t.exposeString("groupsClaim"),
    roleMappings: t.field({ type: [SsoRoleMappingRef], resolve: (c) => c.roleMappings }),
    defaultRole: t.field({
      type: RoleEnum,
      description: "The role of members created at their first SSO login when no mapping matches.",
      resolve: (c) => definedEnum(c.defaultRole, ROLES),
    }),
    syncRoles: t.exposeBoolean("syncRoles", {
      description: "Existing members' roles follow their groups at every SSO login (the last owner is never demoted).",
    }),
    trustIdpMfa: t.exposeBoolean("trustIdpMfa", {
      description: "An IdP `amr` naming a second factor satisfies the tenant's MFA policy.",
    }),
    enabled: t.exposeBoolean("enabled"),
    ssoRequired: t.exposeBoolean("ssoRequired", {
      description: "Password login is refused for the tenant's members, except the break-glass owners.",
    }),
    breakGlassUserIds: t.idList({ resolve: (c) => c.breakGlassUserIds.map((id) => encodeGlobalId("User", id)) }),
    redirectUri: t.exposeString("redirectUri", { description: "Register this redirect URI at the IdP." }),
    updatedAt: t.field({ type: DateTime, resolve: (c) => toDate(c.updateTime) }),
  }),
});

builder.objectFields(TenantRef, (t) => ({
  ssoConnection: t.field({
    type: SsoConnectionRef,
    nullable: true,
    description: "The tenant's single sign-on connection (owners and admins); null when it has none.",
    resolve: async (_tenant, _args, ctx) => {
      try {
        return (await ctx.rpc.sso.getSsoConnection({})).connection ?? null;
      } catch (err) {
        if (err instanceof NotFoundError) return null;
        throw err;
      }
    },
  }),
}));

const SsoRoleMappingInput = builder.inputType("SsoRoleMappingInput", {
  fields: (t) => ({
    value: t.string({ required: true, description: "A value of the groups claim (1–256 characters)." }),
    role: t.field({ type: RoleEnum, required: true, description: "OWNER only by owners." }),
  }),
});

const SetSsoConnectionInput = builder.inputType("SetSsoConnectionInput", {
  fields: (t) => ({
    issuer: t.string({ required: true, description: "The IdP's issuer (https); its discovery is checked now." }),
    clientId: t.string({ required: true }),
    clientSecret: t.string({ required: false, description: "Absent or empty: keep the stored secret." }),
    scopes: t.stringList({ required: false, description: "Default openid, email, profile." }),
    emailClaim: t.string({ required: false }),
    nameClaim: t.string({ required: false }),
    groupsClaim: t.string({ required: false }),
    roleMappings: t.field({ type: [SsoRoleMappingInput], required: false }),
    defaultRole: t.field({ type: RoleEnum, required: false, description: "Default MEMBER; never OWNER." }),
    syncRoles: t.boolean({ required: false }),
    trustIdpMfa: t.boolean({ required: false }),
    enabled: t.boolean({ required: true }),
    ssoRequired: t.boolean({ required: false }),
    breakGlassUserIds: t.idList({ required: false, description: "Owners (User ids) who may still use a password." }),
  }),
});

const ADMIN_ERRORS = [...WRITE_ERRORS, StepUpRequiredError] as ErrorClass[];
const REDEEM_ERRORS = [InputError, UnauthenticatedError, RateLimitedError];

builder.mutationFields((t) => ({
  setSsoConnection: t.field({
    type: SsoConnectionRef,
    description:
      "Creates or replaces the tenant's OpenID Connect connection (owners and admins). The IdP's discovery must answer and name the issuer, else an InputError on `issuer`.",
    args: { input: t.arg({ type: SetSsoConnectionInput, required: true }) },
    errors: resultTypes("SetSsoConnection", "ssoConnection", ADMIN_ERRORS),
    resolve: async (_root, { input }, ctx) => {
      const breakGlass = (input.breakGlassUserIds ?? []).map((gid, i) => {
        const id = parseGlobalId(String(gid), "User");
        if (!id)
          throw new InputError("Unknown user.", [{ field: `breakGlassUserIds[${i}]`, message: "not a User id" }]);
        return id;
      });
      const { connection } = await ctx.rpc.sso.setSsoConnection({
        issuer: input.issuer,
        clientId: input.clientId,
        clientSecret: input.clientSecret ?? "",
        scopes: input.scopes ?? [],
        emailClaim: input.emailClaim ?? "",
        nameClaim: input.nameClaim ?? "",
        groupsClaim: input.groupsClaim ?? "",
        roleMappings: (input.roleMappings ?? []).map((m) => ({ value: m.value, role: m.role })),
        ...(input.defaultRole != null && { defaultRole: input.defaultRole }),
        syncRoles: input.syncRoles ?? false,
        trustIdpMfa: input.trustIdpMfa ?? false,
        enabled: input.enabled,
        ssoRequired: input.ssoRequired ?? false,
        breakGlassUserIds: breakGlass,
      });
      if (!connection) throw new Error("identity answered without a connection");
      return connection;
    },
  }),
  deleteSsoConnection: t.field({
    type: "Boolean",
    description: "Removes the tenant's SSO connection (owners and admins); password login works again.",
    errors: resultTypes("DeleteSsoConnection", "ok", ADMIN_ERRORS),
    resolve: async (_root, _args, ctx) => {
      await ctx.rpc.sso.deleteSsoConnection({});
      return true;
    },
  }),
  redeemSsoLogin: t.field({
    type: AuthTokensRef,
    description:
      "Trades the one-time `code` that single sign-on put in the frontend's URL (`/sso/complete?code=tso_…`) for a session; it works once, for a minute. Needs no credential. When a second factor is due the result is `MfaRequired`, as for `login`.",
    skipTypeScopes: true,
    args: { code: t.arg.string({ required: true }) },
    errors: { ...resultTypes("RedeemSsoLogin", "tokens", REDEEM_ERRORS), types: [...REDEEM_ERRORS, MfaRequired] },
    resolve: async (_root, { code }, ctx) => {
      if (!/^tso_[A-Za-z0-9_-]{43}$/.test(code)) {
        throw new InputError("Not an SSO login code.", [{ field: "code", message: "expected tso_…" }]);
      }
      const res = await ctx.rpc.ssoLogin.redeemSsoLogin({ code, client: ctx.clientInfo });
      if (res.mfaChallenge) throw new MfaRequired(res.mfaChallenge);
      return { ...tokensOf(res), mustEnrollBy: res.mustEnrollBy && toDate(res.mustEnrollBy) };
    },
  }),
}));
