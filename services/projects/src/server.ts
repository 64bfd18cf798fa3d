import type { TokenVerifier } from "@tessera/platform/auth";
import type { Orm } from "@tessera/platform/db";
import type { Logger } from "@tessera/platform/log";
import type { ReadinessCheck, RpcServer, ShutdownHook } from "@tessera/platform/rpc-server";
import { createServiceServer } from "@tessera/platform/service";
import type { ProjectsConfig } from "./config.ts";
import { routes } from "./routes.ts";

/** The service's name: logs, metrics, and the audience its internal tokens must carry. */
export const SERVICE = "projects";

/** What build() assembles projects from. */
export interface ProjectsBuildDeps {
  readonly orm: Orm;
  readonly verifier: TokenVerifier;
  readonly logger: Logger;
  readonly config: Pick<ProjectsConfig, "HOST" | "PORT" | "SHUTDOWN_GRACE_MS">;
  /** Run after in-flight calls finished (the runtime's hooks: relay, NATS, database, telemetry). */
  readonly shutdownHooks?: readonly ShutdownHook[];
  readonly readinessChecks?: readonly ReadinessCheck[];
}

/** Builds projects' gRPC server (not listening) from its dependencies. */
export function build(deps: ProjectsBuildDeps): RpcServer {
  const { config } = deps;
  return createServiceServer({
    service: SERVICE,
    verifier: deps.verifier,
    logger: deps.logger,
    host: config.HOST,
    port: config.PORT,
    shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
    ...(deps.shutdownHooks && { onShutdown: deps.shutdownHooks }),
    ...(deps.readinessChecks && { readinessChecks: deps.readinessChecks }),
    register: (router) => routes(router, { orm: deps.orm, logger: deps.logger }),
  });
}
