import { env, z } from "@tessera/platform/config";
import { databaseEnv, natsEnv, serviceEnv, tenantDatabasesEnv } from "@tessera/platform/service";

/**
 * projects' environment: the kit's service, database, NATS and tenant-database (placement routing)
 * variables; PORT defaults to 50064.
 */
export const configSchema = z.object({
  ...serviceEnv,
  ...databaseEnv,
  ...natsEnv,
  ...tenantDatabasesEnv,
  PORT: env.port(50064),
});

/** Parsed projects configuration. */
export type ProjectsConfig = z.infer<typeof configSchema>;
