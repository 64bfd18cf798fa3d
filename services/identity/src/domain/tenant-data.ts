import type { ConnectRouter } from "@connectrpc/connect";
import { createTenantRouter, type Orm, withPlatformTransaction } from "@tessera/platform/db";
import type { Logger } from "@tessera/platform/log";
import { registerTenantData, type TenantTable } from "@tessera/platform/tenant-data";

/** identity's tenant tables, parents before children: exported and deleted with the tenant. */
export const TENANT_TABLES: readonly TenantTable[] = [
  { table: "memberships", key: "user_id" },
  { table: "invitations", key: "id" },
  { table: "api_keys", key: "id" },
  { table: "mfa_policies", key: "tenant_id" },
  { table: "scim_tokens", key: "id" },
  { table: "scim_settings", key: "tenant_id" },
  { table: "scim_users", key: "user_id" },
  { table: "scim_groups", key: "id" },
  { table: "scim_group_members", key: "id" },
];

/**
 * TenantDataService for identity: its tenant data stays in its own database (users span tenants),
 * so it only exports and deletes; refresh tokens bound to the tenant go with the deletion.
 */
export function registerIdentityTenantData(router: ConnectRouter, orm: Orm, ownerUrl: string, logger: Logger): void {
  const db = { orm, close: async () => {} };
  registerTenantData(router, {
    router: createTenantRouter({
      pool: db,
      poolOwnerUrl: ownerUrl,
      servers: {},
      entities: [],
      placementOf: async () => "pool",
      logger,
    }),
    tables: TENANT_TABLES,
    routed: false,
    logger,
    async deleteExtra(tenantId) {
      const res = await withPlatformTransaction(orm, (em) =>
        em.execute("delete from refresh_tokens where tenant_id = ?", [tenantId], "run"),
      );
      return { refresh_tokens: Number((res as { affectedRows?: number }).affectedRows ?? 0) };
    },
  });
}
