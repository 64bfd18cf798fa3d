import type { ActorClaim } from "@tessera/platform/auth";
import { withTenantTransaction } from "@tessera/platform/db";
import { DomainError, PermissionDenied, Unauthenticated } from "@tessera/platform/errors";
import { touchApiKey, verifyApiKey } from "./api-keys.ts";
import type { IdentityDeps } from "./deps.ts";
import { PLATFORM_TENANT_ID, requireEdge } from "./roles.ts";
import { tenantIsActive } from "./tenants.ts";
import type { IssuedToken, TokenSubject } from "./tokens.ts";
import { membershipOf, userById } from "./users.ts";

/** ExchangeToken input (shape-validated). */
export interface ExchangeInput {
  subjectToken: string;
  subjectType: "access_token" | "api_key";
  audience: string;
}

const INVALID_SUBJECT = "invalid subject token";

/**
 * RFC 8693 token exchange for the edges: a user access token or an API key becomes an internal
 * token for one target service, with the same tenant, the subject's current role (read now, so a
 * removed member or a revoked key stops at once) and `act` = the calling edge. The audience must
 * be one the edge's credential allows.
 */
export async function exchangeToken(
  deps: IdentityDeps,
  input: ExchangeInput,
  allowedAudiences: (clientId: string) => Promise<readonly string[]>,
): Promise<IssuedToken> {
  const edge = requireEdge("identity.tokens.exchange");
  if (!(await allowedAudiences(edge.subject)).includes(input.audience)) {
    throw new PermissionDenied("this edge may not get tokens for that audience", [
      { field: "audience", message: "not among the edge credential's allowed audiences" },
    ]);
  }
  const act: ActorClaim = { sub: edge.subject };
  const { subject, notAfter } =
    input.subjectType === "api_key"
      ? await apiKeySubject(deps, input.subjectToken)
      : await userSubject(deps, input.subjectToken);
  return deps.signer.sign({ ...subject, act }, input.audience, deps.settings.internalTokenTtlMs, notAfter);
}

async function userSubject(deps: IdentityDeps, token: string): Promise<{ subject: TokenSubject; notAfter: Date }> {
  let verified: Awaited<ReturnType<IdentityDeps["userTokenVerifier"]["verify"]>>;
  try {
    verified = await deps.userTokenVerifier.verify(token);
  } catch (err) {
    if (err instanceof DomainError && err.kind === "Unavailable") throw err;
    throw new Unauthenticated(INVALID_SUBJECT);
  }
  if (verified.principal.kind !== "user") throw new Unauthenticated(INVALID_SUBJECT);
  const userId = verified.principal.subject;
  const auth = verified.principal.authentication;
  const tenantId = verified.tenantId?.toLowerCase();
  const found = await withTenantTransaction(
    deps.orm,
    async (em) => {
      const user = await userById(em, userId);
      if (!user || user.disabled) return { kind: "gone" } as const;
      if (tenantId === undefined) return { kind: "ok", roles: user.platformRoles } as const;
      if (!(await tenantIsActive(em, tenantId))) return { kind: "inactive" } as const;
      const membership = await membershipOf(em, tenantId, userId);
      return membership ? ({ kind: "ok", roles: [membership.role] } as const) : ({ kind: "gone" } as const);
    },
    { tenantId: tenantId ?? PLATFORM_TENANT_ID },
  );
  if (found.kind === "inactive") throw new PermissionDenied("the tenant is not active");
  if (found.kind === "gone") throw new Unauthenticated(INVALID_SUBJECT);
  return {
    // how the user signed in travels on: services decide step-up from the internal token alone
    subject: {
      sub: userId,
      kind: "user",
      tid: tenantId,
      roles: found.roles,
      scopes: [],
      amr: auth?.amr,
      authTime: auth?.authTime,
    },
    notAfter: verified.expiresAt,
  };
}

async function apiKeySubject(deps: IdentityDeps, presented: string) {
  const key = await verifyApiKey(deps, presented);
  if (!key) throw new Unauthenticated("invalid API key");
  const active = await withTenantTransaction(
    deps.orm,
    async (em) => {
      if (!(await tenantIsActive(em, key.tenantId))) return false;
      await touchApiKey(em, key);
      return true;
    },
    { tenantId: key.tenantId },
  );
  if (!active) throw new PermissionDenied("the tenant is not active");
  const subject: TokenSubject = {
    sub: key.id,
    kind: "api_key",
    tid: key.tenantId,
    roles: [key.role],
    scopes: key.scopes,
  };
  const notAfter = key.expiresAt ?? new Date(Date.now() + deps.settings.internalTokenTtlMs);
  return { subject, notAfter };
}
