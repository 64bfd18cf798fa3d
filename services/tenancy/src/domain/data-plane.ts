import type { Client } from "@connectrpc/connect";
import type { ServiceTokenSource } from "@tessera/platform/auth";
import {
  conventionalRoles,
  dedicatedDatabaseName,
  dedicatedRef,
  dropDatabase,
  ensureDatabase,
  parseDatabaseRef,
} from "@tessera/platform/db";
import { createServiceClient } from "@tessera/platform/rpc-client";
import { TenantDataService } from "@tessera/proto/tessera/tenantdata/v1/tenant_data_pb";
import type { DatabaseDriver, TenantSpec } from "./saga/drivers.ts";

/** A service holding tenant data, as tenancy's configuration names it. */
export interface DataServiceConfig {
  readonly name: string;
  /** Its gRPC base URL. */
  readonly url: string;
  /** Whether its tenant data follows placement (dedicated databases, moves) or stays shared. */
  readonly routed: boolean;
  /** Its pool database's name (dedicated databases are `<name>_t_<hex>`). */
  readonly database: string;
}

/** One tenant-data service and a client for it. */
export interface DataService extends DataServiceConfig {
  readonly client: Client<typeof TenantDataService>;
}

/** The services tenancy moves, exports and deletes tenant data through. */
export interface DataPlane {
  readonly services: readonly DataService[];
  /** The services whose data follows the tenant's placement. */
  readonly routed: readonly DataService[];
}

/** Clients for the configured tenant-data services, authenticated with tenancy's service token. */
export function createDataPlane(configs: readonly DataServiceConfig[], tokens: ServiceTokenSource): DataPlane {
  const services = configs.map((c) => ({
    ...c,
    client: createServiceClient(TenantDataService, {
      baseUrl: c.url,
      defaultTimeoutMs: 120_000,
      // always tenancy's own token: these calls are never made on a caller's behalf (an operator's
      // token, addressed to tenancy, must not be forwarded to the services)
      interceptors: [
        (next) => async (req) => {
          req.header.set("authorization", `Bearer ${await tokens.getToken(c.name)}`);
          return next(req);
        },
      ],
    }),
  }));
  return { services, routed: services.filter((s) => s.routed) };
}

/**
 * The `local` database driver: a tenant's dedicated databases (one per routed service) on a
 * configured PostgreSQL server, owned by each service's existing owner role, migrated by the
 * service itself (TenantDataService.PrepareDatabase). The directory records `<server>/t_<hex>`,
 * never a password.
 */
export function localDatabaseDriver(options: {
  readonly servers: Readonly<Record<string, string>>;
  readonly defaultServer: string;
  readonly plane: DataPlane;
}): DatabaseDriver {
  const adminUrl = (server: string): string => {
    const url = options.servers[server];
    if (!url) throw new Error(`database server "${server}" is not configured`);
    return url;
  };
  return {
    name: "local",
    hasServer: (server) => server in options.servers,
    async createDatabase(tenant: TenantSpec, signal: AbortSignal, server = options.defaultServer) {
      const ref = parseDatabaseRef(dedicatedRef(server, tenant.tenantId));
      if (ref.kind !== "dedicated") throw new Error("unreachable");
      for (const svc of options.plane.routed) {
        signal.throwIfAborted();
        await ensureDatabase(
          adminUrl(server),
          dedicatedDatabaseName(svc.database, ref.key),
          conventionalRoles(svc.database),
        );
      }
      return { database: ref.ref };
    },
    async migrateDatabase(tenant, database, signal) {
      for (const svc of options.plane.routed) {
        await svc.client.prepareDatabase({ tenantId: tenant.tenantId, database }, { signal });
      }
    },
    async dropDatabase(_tenant, database, signal) {
      const ref = parseDatabaseRef(database);
      if (ref.kind !== "dedicated") return;
      for (const svc of options.plane.routed) {
        signal.throwIfAborted();
        await dropDatabase(adminUrl(ref.server), dedicatedDatabaseName(svc.database, ref.key));
      }
    },
  };
}
