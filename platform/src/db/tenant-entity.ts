import { type EntityManager, type PolicyDef, p } from "@mikro-orm/core";
import { requireTenantId } from "../context/index.ts";
import { canonicalTenantId } from "./identifiers.ts";
import { TENANT_POLICY, tenantPolicyExpression } from "./rls.ts";

/** Name of the ORM filter that limits tenant entities to the current tenant. */
export const TENANT_FILTER = "tenant";

/** Parameters of the `tenant` filter, set by withTenantTransaction on its fork. */
export interface TenantFilterParams {
  tenantId: string;
}

/**
 * The tenant a given EntityManager works for: its `tenant` filter params when set (inside
 * withTenantTransaction), else the request context. Throws outside any tenant scope.
 */
export function tenantOf(em: EntityManager | undefined): string {
  const params = em?.getFilterParams<Partial<TenantFilterParams>>(TENANT_FILTER);
  return canonicalTenantId(params?.tenantId ?? requireTenantId());
}

/**
 * The properties every tenant-owned entity carries: `tenantId` (uuid, column `tenant_id`, filled
 * on create from the current tenant), `createdAt` and `updatedAt` (timestamptz, kept by the ORM).
 * Returns fresh property builders on every call, so entities never share metadata objects:
 *
 * ```ts
 * export const Note = defineEntity({
 *   name: "Note",
 *   tableName: "notes",
 *   ...tenantScoped(),
 *   properties: { id: p.uuid().primary(), ...tenantOwnedProperties(), body: p.text() },
 * });
 * ```
 */
export function tenantOwnedProperties() {
  return {
    tenantId: p.uuid().onCreate((_entity: unknown, em: EntityManager) => tenantOf(em)),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  };
}

/**
 * Entity options for a tenant-owned entity, to spread into `defineEntity({...})`:
 * - the `tenant` filter, on by default, adding `tenantId = <current tenant>` to every read,
 *   update and delete the ORM builds (the first wall; row-level security is the second);
 * - the same RLS declaration enableTenantRls() writes in migrations (FORCE, `tenant_isolation`),
 *   so migrations the ORM generates from entities keep the policy instead of dropping it.
 */
export function tenantScoped(column = "tenant_id") {
  const expression = tenantPolicyExpression(column);
  const policy: PolicyDef = { name: TENANT_POLICY, command: "all", using: expression, check: expression };
  return {
    filters: {
      [TENANT_FILTER]: {
        name: TENANT_FILTER,
        default: true,
        args: false,
        cond: (args: Partial<TenantFilterParams> | undefined) => ({
          tenantId: canonicalTenantId(args?.tenantId ?? requireTenantId()),
        }),
      },
    },
    rowLevelSecurity: "force" as const,
    policies: [policy],
  };
}
