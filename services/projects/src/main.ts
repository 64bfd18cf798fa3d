import { resolvedQuotaSource } from "@tessera/platform/plans";
import { openTenantDatabases, runService } from "@tessera/platform/service";
import { migrations } from "../migrations/index.ts";
import { configSchema } from "./config.ts";
import { entities } from "./domain/entities.ts";
import { build, SERVICE } from "./server.ts";

await runService({
  service: SERVICE,
  schema: configSchema,
  entities,
  outboxRelay: true,
  start: (rt) => {
    if (!rt.db) throw new Error("projects needs its database (DATABASE_URL)");
    const tenantDatabases = openTenantDatabases({
      config: rt.config,
      pool: rt.db,
      entities,
      migrations,
      nats: rt.nats,
      logger: rt.logger,
      applicationName: SERVICE,
    });
    // closed before the relay, NATS and the pool database (the runtime's hooks)
    rt.shutdownHooks.unshift(() => tenantDatabases.close());
    return build({
      // plan quotas (projects, storage): each tenant's plan, from the same tenancy resolver
      quotaOf: resolvedQuotaSource(tenantDatabases.resolver, { logger: rt.logger }),
      orm: tenantDatabases.router,
      tenantRouter: tenantDatabases.router,
      verifier: rt.verifier,
      logger: rt.logger,
      config: rt.config,
      shutdownHooks: rt.shutdownHooks,
      readinessChecks: rt.readinessChecks,
    });
  },
});
