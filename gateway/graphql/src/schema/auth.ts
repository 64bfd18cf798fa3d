import type { Tokens } from "@tessera/proto/tessera/identity/v1/auth_pb";
import { builder } from "../builder.ts";
import { InputError, RateLimitedError, UnauthenticatedError } from "../errors/gateway-errors.ts";
import { encodeGlobalId, parseGlobalId } from "../global-id.ts";
import { DateTime, resultTypes, toDate } from "./common.ts";
import { MfaRequired } from "./mfa-challenge.ts";

/** A session; at login, with the enrolment deadline of an MFA policy's grace period. */
export type SessionTokens = Tokens & { mustEnrollBy?: Date | undefined };

export const AuthTokensRef = builder.objectRef<SessionTokens>("AuthTokens").implement({
  description:
    "A session: a short-lived access token (send as `Authorization: Bearer …`) and a single-use refresh token.",
  fields: (t) => ({
    accessToken: t.exposeString("accessToken"),
    accessTokenExpiresAt: t.field({ type: DateTime, resolve: (s) => toDate(s.accessTokenExpireTime) }),
    refreshToken: t.exposeString("refreshToken"),
    refreshTokenExpiresAt: t.field({ type: DateTime, resolve: (s) => toDate(s.refreshTokenExpireTime) }),
    userId: t.id({ resolve: (s) => encodeGlobalId("User", s.userId) }),
    tenantId: t.id({
      nullable: true,
      description: "Null for a platform-level session.",
      resolve: (s) => (s.tenantId ? encodeGlobalId("Tenant", s.tenantId) : null),
    }),
    mustEnrollBy: t.field({
      type: DateTime,
      nullable: true,
      description:
        "Set by `login` during the grace period of the tenant's MFA policy: enrol a second factor (`enrollTotp`) by then.",
      resolve: (s) => s.mustEnrollBy ?? null,
    }),
  }),
});

const LoginInput = builder.inputType("LoginInput", {
  fields: (t) => ({
    email: t.string({ required: true }),
    password: t.string({ required: true }),
    tenantSlug: t.string({ required: false, description: "The tenant to sign in to (or tenantId)." }),
    tenantId: t.id({ required: false, description: "The tenant to sign in to, as a Tenant id." }),
  }),
});

const RefreshInput = builder.inputType("RefreshInput", {
  fields: (t) => ({ refreshToken: t.string({ required: true }) }),
});

const LogoutInput = builder.inputType("LogoutInput", {
  fields: (t) => ({ refreshToken: t.string({ required: true }) }),
});

const AUTH_ERRORS = [InputError, UnauthenticatedError, RateLimitedError];

/** Identity's answer without tokens is a fault (masked), never an empty session. */
export function tokensOf(res: { tokens?: Tokens | undefined }): Tokens {
  if (!res.tokens) throw new Error("identity answered without tokens");
  return res.tokens;
}

/** The tenant a sign-in names, by Tenant id or slug (or none); an id that is not a Tenant's is an input error. */
export function tenantOf(input: {
  tenantId?: string | number | null | undefined;
  tenantSlug?: string | null | undefined;
}): { case: "tenantId"; value: string } | { case: "tenantSlug"; value: string } | { case: undefined } {
  if (input.tenantId != null) {
    const id = parseGlobalId(String(input.tenantId), "Tenant");
    if (!id) throw new InputError("Unknown tenant.", [{ field: "tenantId", message: "not a Tenant id" }]);
    return { case: "tenantId", value: id };
  }
  if (input.tenantSlug != null) return { case: "tenantSlug", value: input.tenantSlug };
  return { case: undefined };
}

builder.mutationFields((t) => ({
  login: t.field({
    type: AuthTokensRef,
    description:
      "Signs in with email and password. Needs no credential. When a second factor is due the result is `MfaRequired`: answer its challenge with `verifyMfa` (or, for an ENROLL challenge, `startMfaEnrollment` + `completeMfaEnrollment`).",
    skipTypeScopes: true,
    args: { input: t.arg({ type: LoginInput, required: true }) },
    errors: { ...resultTypes("Login", "tokens", AUTH_ERRORS), types: [...AUTH_ERRORS, MfaRequired] },
    resolve: async (_root, { input }, ctx) => {
      const res = await ctx.rpc.auth.login({
        email: input.email,
        password: input.password,
        tenant: tenantOf(input),
        client: ctx.clientInfo,
      });
      if (res.mfaChallenge) throw new MfaRequired(res.mfaChallenge);
      return { ...tokensOf(res), mustEnrollBy: res.mustEnrollBy && toDate(res.mustEnrollBy) };
    },
  }),
  refresh: t.field({
    type: AuthTokensRef,
    description: "Trades a refresh token for a new session; the old refresh token is spent. Needs no credential.",
    skipTypeScopes: true,
    args: { input: t.arg({ type: RefreshInput, required: true }) },
    errors: resultTypes("Refresh", "tokens", AUTH_ERRORS),
    resolve: async (_root, { input }, ctx) =>
      tokensOf(await ctx.rpc.auth.refresh({ refreshToken: input.refreshToken, client: ctx.clientInfo })),
  }),
  logout: t.field({
    type: "Boolean",
    description: "Ends the session of a refresh token (succeeds for unknown ones too). Needs no credential.",
    skipTypeScopes: true,
    args: { input: t.arg({ type: LogoutInput, required: true }) },
    errors: resultTypes("Logout", "ok", [InputError, RateLimitedError]),
    resolve: async (_root, { input }, ctx) => {
      await ctx.rpc.auth.logout({ refreshToken: input.refreshToken });
      return true;
    },
  }),
}));
