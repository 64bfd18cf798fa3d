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
    if (!orm) throw new Error("tenancy needs its database (DATABASE_URL)");
    const crashAfter = rt.config.TENANCY_FAULT_CRASH_AFTER_STEP;
    if (crashAfter)
      rt.logger.warn({ step: crashAfter }, "FAULT INJECTION enabled: the process kills itself after this step");
    const { server, runner } = build({
      orm,
      verifier: rt.verifier,
      logger: rt.logger,
      config: rt.config,
      shutdownHooks: rt.shutdownHooks,
      readinessChecks: rt.readinessChecks,
      ...(crashAfter && {
        afterStepDone: (_tenantId: string, step: string) => {
          if (step !== crashAfter) return;
          rt.logger.warn({ step }, "FAULT INJECTION: killing the process");
          // the saga must not go on while the (asynchronous) log line is written out
          return new Promise<void>(() => setTimeout(() => process.kill(process.pid, "SIGKILL"), 100));
        },
      }),
    });
    runner.start();
    return server;
  },
});
