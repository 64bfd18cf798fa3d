import { definePermissions } from "@tessera/platform/auth";
import { currentContext, type Principal } from "@tessera/platform/context";
import { canonicalTenantId } from "@tessera/platform/db";
import { NotFound, PermissionDenied, Unauthenticated } from "@tessera/platform/errors";

/** Role of platform operators; honoured only on tokens without a tenant (`tid`). */
export const PLATFORM_ADMIN_ROLE = "platform-admin";
/** Role of platform services (edges, identity) that resolve tenants per request. */
export const SERVICE_ROLE = "service";

const TENANT_READER = ["tenant.read"] as const;
const TENANT_ADMIN = ["tenant.read", "tenant.update", "tenant.provisioning.read"] as const;

/** Who may do what in tenancy. Tenant roles (`owner` … `viewer`) act on their own tenant only. */
export const permissions = definePermissions({
  [PLATFORM_ADMIN_ROLE]: [
    "tenant.create",
    "tenant.read",
    "tenant.list",
    "tenant.update",
    "tenant.manage",
    "tenant.plan.change",
    "tenant.suspend",
    "tenant.resume",
    "tenant.offboard",
    "tenant.move",
    "tenant.upgrade",
    "tenant.delete",
    "tenant.export",
    "tenant.provisioning.read",
    "tenant.resolve",
  ],
  [SERVICE_ROLE]: ["tenant.read", "tenant.resolve"],
  owner: TENANT_ADMIN,
  admin: TENANT_ADMIN,
  member: TENANT_READER,
  viewer: TENANT_READER,
});

/** A permission of the tenancy role table. */
export type Permission = Parameters<typeof permissions.can>[1];

/** The verified caller of the current request. */
export interface Caller {
  readonly principal: Principal;
  /** The caller's own tenant (`tid`); undefined for platform operators and platform services. */
  readonly tenantId: string | undefined;
}

/** Message of every "no such tenant, or not yours" answer: the two must be indistinguishable. */
export const TENANT_NOT_FOUND = "tenant not found";

/** The current caller; Unauthenticated outside an authenticated request. */
export function currentCaller(): Caller {
  const ctx = currentContext();
  if (!ctx?.principal) throw new Unauthenticated("no authenticated caller");
  return {
    principal: ctx.principal,
    tenantId: ctx.tenantId === undefined ? undefined : canonicalTenantId(ctx.tenantId),
  };
}

/** A tenant's user never holds the platform role, whatever its token lists. */
function effective(caller: Caller): Principal {
  if (caller.tenantId === undefined) return caller.principal;
  return { ...caller.principal, roles: caller.principal.roles.filter((r) => r !== PLATFORM_ADMIN_ROLE) };
}

/** Whether the caller holds the permission. */
export function callerCan(caller: Caller, permission: Permission): boolean {
  return permissions.can(effective(caller), permission);
}

/** Throws PermissionDenied unless the caller holds the permission. */
export function requirePermission(caller: Caller, permission: Permission): void {
  if (!callerCan(caller, permission)) throw new PermissionDenied(`missing permission "${permission}"`);
}

/**
 * Authorises an action on one tenant: a caller bound to a tenant gets NotFound for any other
 * tenant (exactly what a nonexistent id gets, so ids of other tenants cannot be probed), then the
 * permission is checked.
 */
export function requireTenantAccess(caller: Caller, tenantId: string, permission: Permission): void {
  if (caller.tenantId !== undefined && caller.tenantId !== canonicalTenantId(tenantId)) {
    throw new NotFound(TENANT_NOT_FOUND);
  }
  requirePermission(caller, permission);
}
