import type { PolicyDef } from "@mikro-orm/core";
import {
  type Orm,
  TENANT_SETTING,
  type TxEntityManager,
  withPlatformTransaction,
  withTenantTransaction,
} from "@tessera/platform/db";

/** Transaction-local setting that opens the whole registry to platform work. */
const REGISTRY_SETTING = "app.platform_scope";
const POLICY = "tenancy_scope";

/**
 * Row-level security of the registry's tables. A transaction set to a tenant (withTenantTransaction:
 * every request of a tenant's user, every change to one tenant, which also enqueues its event) sees
 * and writes only that tenant's rows; a registry transaction (platform work: listing all tenants,
 * resolving by slug or domain, the saga sweep) sees every row. Both run as the same app role, so
 * this guards against mistakes in the service's own code (a tenant request that forgot a check
 * still cannot read another tenant's row), not against a compromised service.
 */
export function registryPolicyExpression(column: string): string {
  return `("${column}" = nullif(current_setting('${TENANT_SETTING}', true), '')::uuid or current_setting('${REGISTRY_SETTING}', true) = 'on')`;
}

/** The policy as entity metadata (what migrations generated from the entities would write). */
export function registryPolicy(column: string): PolicyDef {
  const expression = registryPolicyExpression(column);
  return { name: POLICY, command: "all", using: expression, check: expression };
}

/** Migration SQL: forced row-level security on `table` with the registry policy. */
export function enableRegistryRls(table: string, column: string): string[] {
  const expression = registryPolicyExpression(column);
  return [
    `alter table "${table}" enable row level security;`,
    `alter table "${table}" force row level security;`,
    `create policy ${POLICY} on "${table}" as permissive for all to public using (${expression}) with check (${expression});`,
  ];
}

/** The reverse of enableRegistryRls. */
export function disableRegistryRls(table: string): string[] {
  return [
    `drop policy if exists ${POLICY} on "${table}";`,
    `alter table "${table}" no force row level security;`,
    `alter table "${table}" disable row level security;`,
  ];
}

/** A transaction over the whole registry (platform work). No tenant is set: no event can be enqueued here. */
export function withRegistryTransaction<T>(orm: Orm, fn: (em: TxEntityManager) => Promise<T>): Promise<T> {
  return withPlatformTransaction(orm, async (em) => {
    await em.execute(`select set_config('${REGISTRY_SETTING}', 'on', true)`, [], "run");
    return fn(em);
  });
}

/**
 * A transaction that sees and changes one tenant's rows only, and may enqueue that tenant's events
 * (the outbox accepts only rows of the transaction's tenant).
 */
export function withTenantScope<T>(orm: Orm, tenantId: string, fn: (em: TxEntityManager) => Promise<T>): Promise<T> {
  return withTenantTransaction(orm, fn, { tenantId });
}
