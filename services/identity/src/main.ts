import { runService } from "@tessera/platform/service";
import { identityEnv, settingsFrom } from "./config.ts";
import { build, SERVICE } from "./server.ts";

await runService({
  service: SERVICE,
  schema: identityEnv,
  entities: [],
  outboxRelay: true,
  async start(rt) {
    if (!rt.db) throw new Error("identity needs its database");
    const { server } = await build({
      settings: settingsFrom(rt.config),
      orm: rt.db.orm,
      nats: rt.nats,
      consumeTenantEvents: rt.config.IDENTITY_CONSUME_TENANT_EVENTS,
      tenantConsumerName: rt.config.IDENTITY_TENANT_CONSUMER_NAME,
      logger: rt.logger,
      host: rt.config.HOST,
      port: rt.config.PORT,
      httpPort: rt.config.HTTP_PORT,
      shutdownGraceMs: rt.config.SHUTDOWN_GRACE_MS,
      onShutdown: rt.shutdownHooks,
      readinessChecks: rt.readinessChecks,
      ...(rt.config.OUTBOX_RELAY_DATABASE_URL && { tenantDataOwnerUrl: rt.config.OUTBOX_RELAY_DATABASE_URL }),
    });
    return server;
  },
});
