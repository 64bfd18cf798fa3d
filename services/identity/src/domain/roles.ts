import { definePermissions } from "@tessera/platform/auth";
import { currentContext, type Principal } from "@tessera/platform/context";
import { PermissionDenied, Unauthenticated } from "@tessera/platform/errors";

/** A user's or API key's role in a tenant. */
export type TenantRole = "owner" | "admin" | "member" | "viewer";

/** Every tenant role, most powerful first. */
export const TENANT_ROLES: readonly TenantRole[] = ["owner", "admin", "member", "viewer"];

/** A platform-wide role of users: may bootstrap tenants (invite their first owner) and rotate keys. */
export const PLATFORM_ADMIN = "platform-admin";

/** The role of gateways' service credentials: they call the session RPCs for anonymous end users. */
export const EDGE_ROLE = "edge";

/** The platform tenant id: events that belong to no tenant are published under it. */
export const PLATFORM_TENANT_ID = "00000000-0000-0000-0000-000000000000";

const RANK: Record<TenantRole, number> = { owner: 4, admin: 3, member: 2, viewer: 1 };

/** True when `role` is at least `other` (owner ≥ admin ≥ member ≥ viewer). */
export function atLeast(role: TenantRole, other: TenantRole): boolean {
  return RANK[role] >= RANK[other];
}

/** The highest tenant role among a principal's roles, if any. */
export function highestRole(roles: readonly string[]): TenantRole | undefined {
  return TENANT_ROLES.find((r) => roles.includes(r));
}

/**
 * identity's role → permission table. Tenant roles act on the token's tenant only; `platform-admin`
 * and `edge` are platform-level roles (their tokens carry no tenant).
 */
export const permissions = definePermissions({
  owner: [
    "identity.users.read",
    "identity.members.read",
    "identity.members.manage",
    "identity.owners.manage",
    "identity.invitations.manage",
    "identity.api_keys.manage",
    "identity.scim.manage",
    "identity.mfa_policy.manage",
    "identity.sso.manage",
  ],
  admin: [
    "identity.users.read",
    "identity.members.read",
    "identity.members.manage",
    "identity.invitations.manage",
    "identity.api_keys.manage",
    "identity.scim.manage",
    "identity.mfa_policy.manage",
    "identity.sso.manage",
  ],
  member: ["identity.users.read", "identity.members.read"],
  viewer: ["identity.users.read", "identity.members.read"],
  [PLATFORM_ADMIN]: [
    "identity.users.read",
    "identity.invitations.bootstrap",
    "identity.keys.rotate",
    "identity.scim.manage",
    "identity.mfa_policy.manage_any",
    "identity.sso.manage",
  ],
  [EDGE_ROLE]: ["identity.sessions.issue", "identity.tokens.exchange", "identity.invitations.accept"],
});

/** The authenticated caller and its tenant (undefined for platform-level callers). */
export function caller(): { principal: Principal; tenantId: string | undefined } {
  const ctx = currentContext();
  if (!ctx?.principal) throw new Unauthenticated("no authenticated caller");
  return { principal: ctx.principal, tenantId: ctx.tenantId };
}

/** The caller's tenant; a platform-level token on a tenant call is refused. */
export function callerTenant(): string {
  const { tenantId } = caller();
  if (tenantId === undefined) throw new PermissionDenied("this call needs a token for a tenant");
  return tenantId.toLowerCase();
}

/** Checks an edge-only permission: the caller must be a service credential holding it. */
export function requireEdge(
  permission: "identity.sessions.issue" | "identity.tokens.exchange" | "identity.invitations.accept",
): Principal {
  const principal = permissions.requirePermission(permission);
  if (principal.kind !== "service") throw new PermissionDenied("only edge credentials may call this");
  return principal;
}
