import { definePermissions } from "@tessera/platform/auth";
import { currentContext, type Principal } from "@tessera/platform/context";
import { canonicalTenantId } from "@tessera/platform/db";
import { PermissionDenied, Unauthenticated } from "@tessera/platform/errors";

const READ = ["projects.read", "tasks.read", "comments.read"] as const;
const WRITE = [...READ, "projects.write", "tasks.write", "comments.write"] as const;
const ADMIN = [...WRITE, "projects.archive"] as const;

/**
 * Who may do what in projects: viewers read, members also write, admins and owners also archive.
 * API keys hold a permission only when their role grants it AND it is among their scopes (the
 * scope names are these permission names). Roles this table does not know grant nothing.
 */
export const permissions = definePermissions({
  owner: ADMIN,
  admin: ADMIN,
  member: WRITE,
  viewer: READ,
});

/** A permission of the projects role table. */
export type Permission = Parameters<typeof permissions.can>[1];

/** The verified caller of the current request and its tenant. */
export interface Caller {
  readonly principal: Principal;
  readonly tenantId: string;
}

/**
 * Authorises the current request: the caller must hold `permission`, and its token must name a
 * tenant (projects has no platform-wide reads). The tenant comes from the token only.
 */
export function authorize(permission: Permission): Caller {
  const ctx = currentContext();
  if (!ctx?.principal) throw new Unauthenticated("no authenticated caller");
  const principal = permissions.requirePermission(permission);
  if (ctx.tenantId === undefined) throw new PermissionDenied("this call needs a token for a tenant");
  return { principal, tenantId: canonicalTenantId(ctx.tenantId) };
}
