/**
 * The db kit: MikroORM on PostgreSQL with tenant isolation by row-level security.
 *
 * - provisionDatabase: database, owner role (migrations) and app role (run time, RLS-bound).
 * - tenantOwnedProperties / tenantScoped: the shared base of tenant entities and the `tenant` filter.
 * - enableTenantRls / disableTenantRls: migration SQL for the standard policy; runMigrations.
 * - createDb, withTenantTransaction, withPlatformTransaction: the request scope.
 */
export { Migration } from "@mikro-orm/migrations";
export {
  FENCE_TABLE,
  FENCED_SQLSTATE,
  fenceTableSql,
  fenceTenantWrites,
  isFenced,
  unfencedTables,
  writeFenceMigrationSql,
} from "./fence.ts";
export { canonicalTenantId } from "./identifiers.ts";
export {
  createDb,
  type Db,
  type DbOptions,
  type Entities,
  type MigrationList,
  type Orm,
  runMigrations,
} from "./orm.ts";
export {
  type DatabaseRef,
  dedicatedDatabaseName,
  dedicatedRef,
  POOL_DATABASE,
  parseDatabaseRef,
  refBelongsTo,
  tenantDatabaseKey,
} from "./placement.ts";
export {
  dropDatabase,
  ensureDatabase,
  type ProvisionedDatabase,
  type ProvisionOptions,
  provisionDatabase,
} from "./provision.ts";
export {
  disableTenantRls,
  enableTenantRls,
  TENANT_POLICY,
  TENANT_SETTING,
  type TenantRlsOptions,
  tenantPolicyExpression,
} from "./rls.ts";
export { conventionalRoles, type DatabaseRoles, migrationRoles, setMigrationRoles } from "./roles.ts";
export {
  createTenantRouter,
  type DatabaseHandle,
  type DatabaseLifecycle,
  isTenantRouter,
  type RouterStats,
  type ServerUrls,
  type TenantRouter,
  type TenantRouterOptions,
} from "./router.ts";
export {
  TENANT_FILTER,
  type TenantFilterParams,
  tenantOf,
  tenantOwnedProperties,
  tenantScoped,
} from "./tenant-entity.ts";
export {
  type TenantDataSource,
  type TenantTransactionOptions,
  type TxEntityManager,
  withPlatformTransaction,
  withTenantTransaction,
} from "./transactions.ts";
