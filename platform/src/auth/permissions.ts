import { currentContext, type Principal } from "../context/index.ts";
import { PermissionDenied, Unauthenticated } from "../errors/index.ts";

/** A service's role → permission table: role names to the permissions each role grants. */
export type RoleTable = Readonly<Record<string, readonly string[]>>;

/** The union of every permission a role table mentions. */
export type PermissionOf<T extends RoleTable> = T[keyof T][number];

/**
 * Authorization checks over one service's role table.
 *
 * - A user or service principal holds the union of the permissions of its roles; roles the table
 *   does not know grant nothing.
 * - An API-key principal is additionally limited to its scopes: it holds a permission only when
 *   one of its roles grants it AND the permission is among its scopes.
 * - A `system` principal (set in-process by `runAsTenant`; the verifier never accepts it from a
 *   token) holds every permission.
 */
export interface Permissions<P extends string> {
  /** Every role name the table defines. */
  readonly roles: readonly string[];
  /** The permissions the principal holds (for `system`: every permission in the table). */
  permissionsOf(principal: Principal): ReadonlySet<P>;
  /** Whether the principal holds the permission. */
  can(principal: Principal | undefined, permission: P): boolean;
  /** Throws `PermissionDenied` unless the current caller holds the permission (`Unauthenticated` with no caller). */
  requirePermission(permission: P): Principal;
}

function currentPrincipal(): Principal {
  const principal = currentContext()?.principal;
  if (!principal) throw new Unauthenticated("no authenticated caller");
  return principal;
}

/** Whether the principal's scopes allow the scope; only API keys are scope-limited. */
export function hasScope(principal: Principal | undefined, scope: string): boolean {
  if (!principal) return false;
  if (principal.kind !== "api_key") return true;
  return principal.scopes.includes(scope);
}

/**
 * Throws `PermissionDenied` when the current caller is an API key without the scope (`Unauthenticated`
 * with no caller). Users, services and system principals are not scope-limited.
 */
export function requireScope(scope: string): Principal {
  const principal = currentPrincipal();
  if (!hasScope(principal, scope)) throw new PermissionDenied(`API key lacks scope "${scope}"`);
  return principal;
}

/**
 * Declares a service's role → permission table, e.g.
 * `definePermissions({ viewer: ["project.read"], member: ["project.read", "project.write"] })`.
 * Permission names are checked at compile time against the table.
 */
export function definePermissions<const T extends RoleTable>(table: T): Permissions<PermissionOf<T>> {
  type P = PermissionOf<T>;
  const byRole = new Map<string, ReadonlySet<P>>();
  for (const [role, permissions] of Object.entries(table)) {
    if (role.length === 0) throw new TypeError("role names must be non-empty");
    for (const p of permissions) {
      if (typeof p !== "string" || p.length === 0) throw new TypeError(`role "${role}" has an empty permission`);
    }
    byRole.set(role, new Set(permissions as readonly P[]));
  }
  const all: ReadonlySet<P> = new Set([...byRole.values()].flatMap((s) => [...s]));

  const permissionsOf = (principal: Principal): ReadonlySet<P> => {
    if (principal.kind === "system") return all;
    const granted = new Set<P>();
    for (const role of principal.roles) {
      for (const p of byRole.get(role) ?? []) {
        if (hasScope(principal, p)) granted.add(p);
      }
    }
    return granted;
  };

  const can = (principal: Principal | undefined, permission: P): boolean =>
    principal !== undefined && permissionsOf(principal).has(permission);

  return {
    roles: [...byRole.keys()],
    permissionsOf,
    can,
    requirePermission(permission: P): Principal {
      const principal = currentPrincipal();
      if (!can(principal, permission)) throw new PermissionDenied(`missing permission "${permission}"`);
      return principal;
    },
  };
}
