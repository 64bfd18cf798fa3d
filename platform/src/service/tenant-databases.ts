import type { NatsConnection } from "@nats-io/nats-core";
import { createServiceTokenSource } from "../auth/index.ts";
import { env, z } from "../config/index.ts";
import {
  createTenantRouter,
  type Db,
  type Entities,
  type MigrationList,
  POOL_DATABASE,
  type ServerUrls,
  type TenantRouter,
} from "../db/index.ts";
import { type OutboxRelay, startOutboxRelay } from "../events/index.ts";
import type { Logger } from "../log/index.ts";
import { createTenantResolver, type TenantResolver } from "../tenancy-client/index.ts";
import { drainOutbox, sweepDedicatedOutboxes } from "./outbox-sweep.ts";

const SERVER_NAME = /^[a-z][a-z0-9-]{0,30}$/;
const serverUrls = z.object({ app: env.postgresUrl(), owner: env.postgresUrl() }).strict();

/**
 * The variables of a service whose tenant data follows the tenant's placement (pool, or a dedicated
 * database on a configured server). Spread into the service's schema beside databaseEnv.
 */
export const tenantDatabasesEnv = {
  /** The name of the server DATABASE_URL is on, as the directory names it (`<server>/t_<hex>`). */
  DATABASE_SERVER_NAME: z.string().regex(SERVER_NAME, "must be a lower-case server name").default("main"),
  /**
   * Other servers dedicated databases may live on: JSON `{"<name>": {"app": url, "owner": url}}`, each
   * URL naming the service's pool database name (dedicated databases are `<that name>_t_<hex>`).
   */
  DATABASE_SERVERS: z
    .string()
    .default("{}")
    .transform((v, ctx) => {
      try {
        return z.record(z.string().regex(SERVER_NAME), serverUrls).parse(JSON.parse(v));
      } catch {
        ctx.addIssue({ code: "custom", message: 'must be JSON {"<server>": {"app": url, "owner": url}}' });
        return z.NEVER;
      }
    }),
  /** tenancy's URL: placements come from ResolveTenant (cached, evicted by tenant events). */
  TENANCY_URL: env.url().optional(),
  IDENTITY_URL: env.url().optional(),
  SERVICE_CLIENT_ID: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/, "must be a client id")
    .optional(),
  SERVICE_CLIENT_SECRET: z.string().min(16, "must be at least 16 characters").optional(),
  /**
   * Without tenancy (the four settings above unset): the plan whose quotas apply to every tenant
   * this process serves from DATABASE_URL alone (default: the catalogue's default plan).
   */
  TENANT_PLAN: z
    .string()
    .regex(/^[a-z][a-z0-9_-]{1,31}$/)
    .optional(),
  /** Dedicated databases open at once (least recently used idle ones close first). */
  TENANT_DB_MAX_OPEN: z.coerce.number().int().min(1).max(10_000).default(50),
  /** App-role connections per open dedicated database. */
  TENANT_DB_POOL_MAX: z.coerce.number().int().min(1).max(50).default(2),
  /** A dedicated database unused this long is closed. */
  TENANT_DB_IDLE_MS: env.durationMs(300_000),
  /** How often dedicated databases are checked for events left unpublished (and at start-up). */
  TENANT_DB_OUTBOX_SWEEP_MS: env.durationMs(60_000),
};

const schema = z.object(tenantDatabasesEnv);
/** Parsed values of {@link tenantDatabasesEnv}. */
export type TenantDatabasesEnv = z.infer<typeof schema>;

/** What {@link openTenantDatabases} builds. */
export interface TenantDatabases {
  readonly router: TenantRouter;
  /** The tenant resolver the router reads placements from (plans and status too). */
  readonly resolver: TenantResolver;
  close(): Promise<void>;
}

const LINKED = ["TENANCY_URL", "IDENTITY_URL", "SERVICE_CLIENT_ID", "SERVICE_CLIENT_SECRET"] as const;

/**
 * Whether the service is linked to tenancy (all four settings given): undefined when none is given
 * (it serves every tenant from DATABASE_URL); throws naming the missing ones when only some are.
 */
export function tenancyLink(config: Partial<Record<(typeof LINKED)[number], string | undefined>>): boolean {
  const missing = LINKED.filter((k) => !config[k]);
  if (missing.length === 0) return true;
  if (missing.length === LINKED.length) return false;
  throw new Error(`placement routing needs ${LINKED.join(", ")} together; missing ${missing.join(", ")}`);
}

/**
 * A service's tenant router: the pool database plus dedicated databases on the pool's server and on
 * DATABASE_SERVERS, placements from tenancy, and an outbox relay for every open dedicated database.
 * Undefined when the service is not linked to tenancy (see {@link tenancyLink}).
 */
export function openTenantDatabases(options: {
  readonly config: TenantDatabasesEnv & { DATABASE_URL: string; OUTBOX_RELAY_DATABASE_URL: string };
  readonly pool: Db;
  readonly entities: Entities;
  readonly migrations?: MigrationList;
  readonly nats?: NatsConnection | undefined;
  readonly logger: Logger;
  readonly applicationName: string;
}): TenantDatabases | undefined {
  const { config, logger } = options;
  if (!tenancyLink(config)) return undefined;
  const tokens = createServiceTokenSource({
    identityUrl: config.IDENTITY_URL as string,
    clientId: config.SERVICE_CLIENT_ID as string,
    clientSecret: config.SERVICE_CLIENT_SECRET as string,
    logger,
  });
  const resolver = createTenantResolver({
    baseUrl: config.TENANCY_URL as string,
    token: () => tokens.getToken("tenancy"),
    logger,
    ...(options.nats && { nats: options.nats }),
  });
  const servers: Record<string, ServerUrls> = {
    ...config.DATABASE_SERVERS,
    [config.DATABASE_SERVER_NAME]: { app: config.DATABASE_URL, owner: config.OUTBOX_RELAY_DATABASE_URL },
  };
  const relays = new Map<string, OutboxRelay>();
  const nats = options.nats;
  const router = createTenantRouter({
    pool: { ...options.pool, appRole: decodeURIComponent(new URL(config.DATABASE_URL).username) },
    poolOwnerUrl: config.OUTBOX_RELAY_DATABASE_URL,
    servers,
    entities: options.entities,
    ...(options.migrations && { migrations: options.migrations }),
    maxDatabases: config.TENANT_DB_MAX_OPEN,
    poolMaxPerDatabase: config.TENANT_DB_POOL_MAX,
    idleMs: config.TENANT_DB_IDLE_MS,
    logger,
    applicationName: options.applicationName,
    async placementOf(tenantId) {
      const tenant = await resolver.byId(tenantId);
      return tenant?.placement?.database || POOL_DATABASE;
    },
    ...(nats && {
      lifecycle: {
        opened(handle) {
          relays.set(handle.ref, startOutboxRelay({ pg: handle.owner(), nats, logger }));
        },
        async closing(handle) {
          // publish what is left before the relay stops; the sweep picks up anything still there
          await drainOutbox(handle.owner(), 5_000).catch(() => false);
          await relays.get(handle.ref)?.stop();
          relays.delete(handle.ref);
        },
      },
    }),
  });
  let sweepTimer: NodeJS.Timeout | undefined;
  let closed = false;
  const sweep = () => {
    sweepDedicatedOutboxes(router, servers, logger)
      .catch((err: unknown) => logger.warn({ err }, "outbox sweep failed"))
      .finally(() => {
        if (closed) return;
        sweepTimer = setTimeout(sweep, config.TENANT_DB_OUTBOX_SWEEP_MS);
        sweepTimer.unref();
      });
  };
  if (nats) {
    sweepTimer = setTimeout(sweep, 0);
    sweepTimer.unref();
  }
  return {
    router,
    resolver,
    async close() {
      closed = true;
      clearTimeout(sweepTimer);
      await router.close();
      await resolver.close();
      tokens.close();
    },
  };
}
