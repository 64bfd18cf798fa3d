import { createServiceTokenSource } from "@tessera/platform/auth";
import type { Orm } from "@tessera/platform/db";
import type { Logger } from "@tessera/platform/log";
import { runService } from "@tessera/platform/service";
import { configSchema } from "./config.ts";
import { helmComputeDriver } from "./domain/compute/helm.ts";
import { type LocalComputeDriver, localComputeDriver } from "./domain/compute/local.ts";
import { siloTenantsToResume } from "./domain/compute/local-resume.ts";
import { createDataPlane, localDatabaseDriver } from "./domain/data-plane.ts";
import { entities } from "./domain/entities.ts";
import { exportSigner } from "./domain/exports.ts";
import { build, SERVICE } from "./server.ts";

/** What start() built that needs the listening server: the local driver resumes silo tenants then. */
let afterListen: { local: LocalComputeDriver; orm: Orm; logger: Logger; stopped: AbortSignal } | undefined;

const server = await runService({
  service: SERVICE,
  schema: configSchema,
  entities,
  outboxRelay: true,
  start: (rt) => {
    const orm = rt.db?.orm;
    if (!orm) throw new Error("tenancy needs its database (DATABASE_URL)");
    const crashAfter = rt.config.TENANCY_FAULT_CRASH_AFTER_STEP;
    let crashed = false;
    if (crashAfter)
      rt.logger.warn({ step: crashAfter }, "FAULT INJECTION enabled: the process kills itself after this step");
    const cfg = rt.config;
    const tokens =
      cfg.IDENTITY_URL && cfg.SERVICE_CLIENT_SECRET
        ? createServiceTokenSource({
            identityUrl: cfg.IDENTITY_URL,
            clientId: cfg.SERVICE_CLIENT_ID,
            clientSecret: cfg.SERVICE_CLIENT_SECRET,
            logger: rt.logger,
          })
        : undefined;
    if (cfg.TENANCY_DATA_SERVICES.length > 0 && !tokens)
      throw new Error("TENANCY_DATA_SERVICES needs IDENTITY_URL and SERVICE_CLIENT_SECRET");
    const dataPlane = tokens ? createDataPlane(cfg.TENANCY_DATA_SERVICES, tokens) : undefined;
    const database =
      dataPlane && Object.keys(cfg.TENANCY_DATABASE_SERVERS).length > 0
        ? localDatabaseDriver({
            servers: cfg.TENANCY_DATABASE_SERVERS,
            defaultServer: cfg.TENANCY_DEFAULT_DATABASE_SERVER,
            plane: dataPlane,
          })
        : undefined;
    const local =
      cfg.TENANCY_COMPUTE_DRIVER === "local" && cfg.TENANCY_LOCAL_COMPUTE_FILE
        ? localComputeDriver({ specFile: cfg.TENANCY_LOCAL_COMPUTE_FILE, logger: rt.logger })
        : undefined;
    const compute =
      local ??
      (cfg.TENANCY_COMPUTE_DRIVER === "helm" && cfg.TENANCY_TENANT_CHART
        ? helmComputeDriver({
            helmBin: cfg.TENANCY_HELM_BIN,
            chart: cfg.TENANCY_TENANT_CHART,
            releaseNamespace: cfg.TENANCY_HELM_NAMESPACE,
            kubeconfig: cfg.KUBECONFIG,
            extraValues: cfg.TENANCY_TENANT_CHART_VALUES,
            timeoutMs: cfg.PROVISIONING_STEP_TIMEOUT_MS,
            logger: rt.logger,
          })
        : undefined);
    if (tokens) rt.shutdownHooks.push(async () => tokens.close());
    const stopped = new AbortController();
    // after the saga and operation runners stopped (build puts them first), before the database closes
    if (local) {
      rt.shutdownHooks.unshift(async () => {
        stopped.abort(new Error("tenancy is shutting down"));
        await local.close();
      });
      afterListen = { local, orm, logger: rt.logger, stopped: stopped.signal };
    }
    const { server, runner, operations } = build({
      ...(dataPlane && { dataPlane }),
      ...((database || compute) && { drivers: { database, compute } }),
      ...(cfg.TENANCY_EXPORT_SIGNING_KEY && { exportSigner: exportSigner(cfg.TENANCY_EXPORT_SIGNING_KEY) }),
      orm,
      verifier: rt.verifier,
      logger: rt.logger,
      config: rt.config,
      shutdownHooks: rt.shutdownHooks,
      readinessChecks: rt.readinessChecks,
      ...(crashAfter && {
        afterStepDone: (_tenantId: string, step: string) => {
          if (step !== crashAfter || crashed) return;
          crashed = true;
          rt.logger.warn({ step }, "FAULT INJECTION: killing the process");
          // the saga must not go on while the (asynchronous) log line is written out
          return new Promise<void>(() => setTimeout(() => process.kill(process.pid, "SIGKILL"), 100));
        },
      }),
    });
    runner.start();
    operations.start();
    return server;
  },
});

if (afterListen) {
  const { local, orm, logger, stopped } = afterListen;
  // in the background: a tenant slow to start must not hold up tenancy's own start-up
  void siloTenantsToResume(orm)
    .then((tenants) => {
      logger.info({ tenants: tenants.length }, "resuming silo tenants' local processes");
      return local.resume(tenants, stopped);
    })
    .catch((err: unknown) => {
      if (!server.isShuttingDown()) logger.error({ err }, "resuming silo tenants' local processes failed");
    });
}
