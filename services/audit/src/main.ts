import { runService } from "@tessera/platform/service";
import { configSchema } from "./config.ts";
import { build, SERVICE } from "./server.ts";

await runService({
  service: SERVICE,
  schema: configSchema,
  entities: [],
  async start(rt) {
    const orm = rt.db?.orm;
    if (!orm) throw new Error("audit needs its database (DATABASE_URL)");
    const audit = await build({
      orm,
      verifier: rt.verifier,
      logger: rt.logger,
      config: rt.config,
      nats: rt.nats,
      retentionDatabaseUrl: rt.config.AUDIT_RETENTION_DATABASE_URL ?? rt.config.OUTBOX_RELAY_DATABASE_URL,
      shutdownHooks: rt.shutdownHooks,
      readinessChecks: rt.readinessChecks,
    });
    audit.start();
    return audit.server;
  },
});
