import { runService } from "@tessera/platform/service";
import { configSchema } from "./config.ts";
import { entities } from "./domain/entities.ts";
import { build, SERVICE } from "./server.ts";

await runService({
  service: SERVICE,
  schema: configSchema,
  entities,
  outboxRelay: true,
  start: (rt) => {
    const orm = rt.db?.orm;
    if (!orm) throw new Error("projects needs its database (DATABASE_URL)");
    return build({
      orm,
      verifier: rt.verifier,
      logger: rt.logger,
      config: rt.config,
      shutdownHooks: rt.shutdownHooks,
      readinessChecks: rt.readinessChecks,
    });
  },
});
