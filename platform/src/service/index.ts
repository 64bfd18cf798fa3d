export { type DatabaseEnv, databaseEnv, natsEnv, type ServiceEnv, serviceEnv, tlsFilesPaired } from "./env.ts";
export { runMigrationsMain } from "./migrate.ts";
export { runService, type ServiceRuntime, type ServiceSpec } from "./run.ts";
export { createServiceServer, type ServiceServerOptions } from "./server.ts";
export {
  FOREIGN_TENANT_MESSAGE,
  processTenantId,
  tenantBindingInterceptor,
} from "./tenant-binding.ts";
export {
  openTenantDatabases,
  type TenantDatabases,
  type TenantDatabasesEnv,
  tenancyLink,
  tenantDatabasesEnv,
} from "./tenant-databases.ts";
