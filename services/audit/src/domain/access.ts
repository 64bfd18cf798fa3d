import { definePermissions } from "@tessera/platform/auth";
import { currentContext, type Principal } from "@tessera/platform/context";
import { canonicalTenantId } from "@tessera/platform/db";
import { InvalidArgument, NotFound, PermissionDenied, Unauthenticated } from "@tessera/platform/errors";
import { PLATFORM_TENANT_ID } from "./record.ts";

/** Role of platform operators; honoured only on tokens without a tenant (`tid`). */
export const PLATFORM_ADMIN_ROLE = "platform-admin";

/** Permission to read one's own tenant's audit log (also the API-key scope that allows it). */
export const AUDIT_READ = "audit.read";

/**
 * Who may read audit logs: a tenant's owners and admins their own tenant's (API keys of theirs
 * only with the `audit.read` scope); platform admins any tenant's, the platform's own included.
 */
export const permissions = definePermissions({
  [PLATFORM_ADMIN_ROLE]: ["audit.read", "audit.read_any"],
  owner: ["audit.read"],
  admin: ["audit.read"],
});

/** Message of every "no such log, or not yours" answer: the two must be indistinguishable. */
export const LOG_NOT_FOUND = "audit log not found";

function effective(principal: Principal, tenantBound: boolean): Principal {
  if (!tenantBound) return principal;
  return { ...principal, roles: principal.roles.filter((r) => r !== PLATFORM_ADMIN_ROLE) };
}

/**
 * The tenant whose log the caller may read, given the tenant id the request names (empty: the
 * caller's own). A caller bound to a tenant gets NotFound for any other tenant id — exactly what
 * an id that does not exist gets — and then needs `audit.read`; a platform admin (a token without
 * a tenant) must name the tenant and may read any, the platform tenant included.
 */
export function readableTenant(requested: string): string {
  const ctx = currentContext();
  if (!ctx?.principal) throw new Unauthenticated("no authenticated caller");
  const own = ctx.tenantId === undefined ? undefined : canonicalTenantId(ctx.tenantId);
  if (own !== undefined) {
    const asked = requested === "" ? own : canonicalTenantId(requested);
    if (asked !== own || own === PLATFORM_TENANT_ID) throw new NotFound(LOG_NOT_FOUND);
    if (!permissions.can(effective(ctx.principal, true), "audit.read")) {
      throw new PermissionDenied(`missing permission "${AUDIT_READ}"`);
    }
    return own;
  }
  if (!permissions.can(ctx.principal, "audit.read_any"))
    throw new PermissionDenied(`missing permission "${AUDIT_READ}"`);
  if (requested === "") {
    throw new InvalidArgument("tenant_id is required", [
      { field: "tenant_id", message: "a caller without a tenant must name the tenant whose log to read" },
    ]);
  }
  return canonicalTenantId(requested);
}
