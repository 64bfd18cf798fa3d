import { CATALOGUE, fixedQuotaSource, resolvedQuotaSource } from "@tessera/platform/plans";
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
    if (tenantDatabases) {
      // closed before the relay, NATS and the pool database (the runtime's hooks)
      rt.shutdownHooks.unshift(() => tenantDatabases.close());
    } else {
      rt.logger.warn(
        { plan: rt.config.TENANT_PLAN ?? CATALOGUE.defaultPlan.id },
        "not linked to tenancy: every tenant is served from DATABASE_URL under one plan's quotas",
      );
    }
    return build({
      // plan quotas (projects, storage): each tenant's plan, from the same tenancy resolver
      quotaOf: tenantDatabases
        ? resolvedQuotaSource(tenantDatabases.resolver, { logger: rt.logger })
        : fixedQuotaSource(rt.config.TENANT_PLAN),
      orm: tenantDatabases?.router ?? rt.db.orm,
      ...(tenantDatabases && { tenantRouter: tenantDatabases.router }),
      verifier: rt.verifier,
      logger: rt.logger,
      config: rt.config,
      shutdownHooks: rt.shutdownHooks,
      readinessChecks: rt.readinessChecks,
    });
  },
});
