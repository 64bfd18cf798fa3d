import type { TokenVerifier } from "@tessera/platform/auth";
import type { Orm } from "@tessera/platform/db";
import type { Logger } from "@tessera/platform/log";
import type { ReadinessCheck, RpcServer, ShutdownHook } from "@tessera/platform/rpc-server";
import { createServiceServer } from "@tessera/platform/service";
import type { TenancyConfig } from "./config.ts";
import type { DataPlane } from "./domain/data-plane.ts";
import { createExporter, type ExportSigner } from "./domain/exports.ts";
import { createOperationRunner, type OperationRunner } from "./domain/operations/runner.ts";
import type { Drivers } from "./domain/saga/drivers.ts";
import { createSagaRunner, type SagaRunner } from "./domain/saga/runner.ts";
import { routes } from "./routes.ts";

/** The service's name: logs, metrics, and the audience its internal tokens must carry. */
export const SERVICE = "tenancy";

/** What build() assembles tenancy from. */
export interface TenancyDeps {
  readonly orm: Orm;
  readonly verifier: TokenVerifier;
  readonly logger: Logger;
  readonly config: Pick<
    TenancyConfig,
    | "HOST"
    | "PORT"
    | "SHUTDOWN_GRACE_MS"
    | "TENANCY_RESOLVE_CACHE_TTL_SECONDS"
    | "PROVISIONING_SWEEP_INTERVAL_MS"
    | "PROVISIONING_LEASE_MS"
    | "PROVISIONING_RETRY_INITIAL_MS"
    | "PROVISIONING_RETRY_MAX_MS"
    | "PROVISIONING_STEP_TIMEOUT_MS"
    | "TENANCY_EXPORT_DIR"
    | "TENANCY_MOVE_DRAIN_MS"
    | "TENANCY_MOVE_GRACE_MS"
    | "TENANCY_MOVE_BATCH_ROWS"
    | "TENANCY_MOVE_MAX_ATTEMPTS"
  >;
  /** The services holding tenant data (moves, exports, deletion); none without it. */
  readonly dataPlane?: DataPlane;
  /** Signs export bundles; exports are refused without it. */
  readonly exportSigner?: ExportSigner;
  /** Provisioners of bridge and silo tenants; without them only pool tenants can be created. */
  readonly drivers?: Drivers;
  /** Run after the saga runner stopped and in-flight calls finished (the runtime's hooks). */
  readonly shutdownHooks?: readonly ShutdownHook[];
  readonly readinessChecks?: readonly ReadinessCheck[];
  /** Fault injection for tests (see SagaRunnerOptions.afterStepDone). */
  readonly afterStepDone?: (tenantId: string, step: string) => void | Promise<void>;
}

/** tenancy, assembled and not started: `server.listen()` serves, `runner.start()` resumes sagas. */
export interface Tenancy {
  readonly server: RpcServer;
  readonly runner: SagaRunner;
  readonly operations: OperationRunner;
}

/** Builds tenancy's server and saga runner from its dependencies. */
export function build(deps: TenancyDeps): Tenancy {
  const { config } = deps;
  const drivers = deps.drivers ?? {};
  const runner = createSagaRunner({
    orm: deps.orm,
    drivers,
    logger: deps.logger,
    leaseMs: config.PROVISIONING_LEASE_MS,
    sweepIntervalMs: config.PROVISIONING_SWEEP_INTERVAL_MS,
    retryInitialMs: config.PROVISIONING_RETRY_INITIAL_MS,
    retryMaxMs: config.PROVISIONING_RETRY_MAX_MS,
    stepTimeoutMs: config.PROVISIONING_STEP_TIMEOUT_MS,
    ...(deps.afterStepDone && { afterStepDone: deps.afterStepDone }),
  });
  const plane = deps.dataPlane ?? { services: [], routed: [] };
  const exporter = createExporter({
    orm: deps.orm,
    plane,
    dir: config.TENANCY_EXPORT_DIR,
    signer: deps.exportSigner,
  });
  const operations = createOperationRunner({
    orm: deps.orm,
    plane,
    driver: drivers.database,
    compute: drivers.compute,
    logger: deps.logger,
    settings: {
      drainMs: config.TENANCY_MOVE_DRAIN_MS,
      graceMs: config.TENANCY_MOVE_GRACE_MS,
      batchRows: config.TENANCY_MOVE_BATCH_ROWS,
      maxAttempts: config.TENANCY_MOVE_MAX_ATTEMPTS,
    },
    exportTenant: async (tenantId, signal) => (await exporter.create(tenantId, signal)).exportId,
    leaseMs: config.PROVISIONING_LEASE_MS,
    sweepIntervalMs: config.PROVISIONING_SWEEP_INTERVAL_MS,
    retryInitialMs: config.PROVISIONING_RETRY_INITIAL_MS,
    retryMaxMs: config.PROVISIONING_RETRY_MAX_MS,
    phaseTimeoutMs: config.PROVISIONING_STEP_TIMEOUT_MS,
    ...(deps.afterStepDone && { afterPhaseDone: deps.afterStepDone }),
  });
  const server = createServiceServer({
    service: SERVICE,
    verifier: deps.verifier,
    logger: deps.logger,
    host: config.HOST,
    port: config.PORT,
    shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
    onShutdown: [() => runner.stop(), () => operations.stop(), ...(deps.shutdownHooks ?? [])],
    ...(deps.readinessChecks && { readinessChecks: deps.readinessChecks }),
    register: (router) =>
      routes(router, {
        orm: deps.orm,
        runner,
        drivers,
        operations,
        exporter,
        resolveCacheTtlSeconds: config.TENANCY_RESOLVE_CACHE_TTL_SECONDS,
      }),
  });
  return { server, runner, operations };
}
