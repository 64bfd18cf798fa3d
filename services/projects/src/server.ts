import type { TokenVerifier } from "@tessera/platform/auth";
import type { TenantDataSource, TenantRouter } from "@tessera/platform/db";
import type { Logger } from "@tessera/platform/log";
import type { QuotaSource } from "@tessera/platform/plans";
import type { ReadinessCheck, RpcServer, ShutdownHook } from "@tessera/platform/rpc-server";
import { createServiceServer } from "@tessera/platform/service";
import { registerTenantData } from "@tessera/platform/tenant-data";
import { migrations } from "../migrations/index.ts";
import type { ProjectsConfig } from "./config.ts";
import { entities } from "./domain/entities.ts";
import { TENANT_TABLES } from "./domain/tenant-tables.ts";
import { routes } from "./routes.ts";

/** The service's name: logs, metrics, and the audience its internal tokens must carry. */
export const SERVICE = "projects";

/** What build() assembles projects from. */
export interface ProjectsBuildDeps {
  /** The pool ORM (tests), or the router to each tenant's database (main.ts). */
  readonly orm: TenantDataSource;
  /** With a router, projects also serves TenantDataService (tier moves, exports, deletion). */
  readonly tenantRouter?: TenantRouter;
  readonly verifier: TokenVerifier;
  readonly logger: Logger;
  /** Each tenant's plan, for its quotas (main.ts: from tenancy, through the tenant resolver). */
  readonly quotaOf: QuotaSource;
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
    register: (router) => {
      routes(router, { orm: deps.orm, logger: deps.logger, quotaOf: deps.quotaOf });
      if (deps.tenantRouter) {
        registerTenantData(router, {
          router: deps.tenantRouter,
          tables: TENANT_TABLES,
          derivedTables: ["tenant_usage"],
          routed: true,
          entities,
          migrations,
          logger: deps.logger,
        });
      }
    },
  });
}
