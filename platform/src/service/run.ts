import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { createTokenVerifier, type TokenVerifier } from "../auth/index.ts";
import { loadConfigOrExit, type z } from "../config/index.ts";
import { createDb, type Db, type Entities } from "../db/index.ts";
import { connectNats, ensureStreams, type OutboxRelay, startOutboxRelay } from "../events/index.ts";
import { createLogger, type Logger, setRootLogger } from "../log/index.ts";
import { installSignalHandlers, type RpcServer, type ShutdownHook } from "../rpc-server/index.ts";
import { initTelemetry, type Telemetry, telemetryOptionsFromEnv } from "../telemetry/index.ts";
import type { DatabaseEnv, ServiceEnv } from "./env.ts";
import { bindProcessToTenant, enforcesProcessTenant } from "./tenant-binding.ts";

/** The process resources runService prepared, handed to the service's start function. */
export interface ServiceRuntime<C> {
  config: C;
  logger: Logger;
  telemetry: Telemetry;
  verifier: TokenVerifier;
  /** The service's database as its app role, when the spec names entities. */
  db: Db | undefined;
  /** A NATS connection (reconnecting forever), when the config has NATS_URL. */
  nats: NatsConnection | undefined;
  /**
   * Hooks the server must run after in-flight calls finished: pass them to createServiceServer's
   * `onShutdown` (they stop the relay, drain NATS, close the database, flush telemetry, in order).
   * Hooks the service adds itself (consumers) go in front with `unshift`.
   */
  shutdownHooks: ShutdownHook[];
  /** Readiness checks for the resources above (database reachable, NATS connected). */
  readinessChecks: Array<(signal: AbortSignal) => Promise<boolean>>;
}

/** What a service's main.ts declares. */
export interface ServiceSpec<S extends z.ZodObject> {
  /** Service name: logs, metrics, and the audience its internal tokens must carry. */
  service: string;
  version?: string;
  /** The full environment schema (serviceEnv + databaseEnv/natsEnv + the service's own). */
  schema: S;
  /** Entities of the service's database; omit for a service without one. */
  entities?: Entities;
  /** Run the outbox relay in this process (needs the database and NATS). */
  outboxRelay?: boolean;
  /** Builds the server (not listening) from the runtime. */
  start(runtime: ServiceRuntime<z.infer<S>>): Promise<RpcServer> | RpcServer;
}

/**
 * A service process from start to exit: config (every problem printed, exit 1), JSON logger,
 * telemetry, token verifier, database and NATS when configured, the outbox relay, the server,
 * and SIGTERM/SIGINT handling (drain, then close resources in order, then exit).
 */
export async function runService<S extends z.ZodObject>(spec: ServiceSpec<S>): Promise<RpcServer> {
  const config = loadConfigOrExit(spec.service, spec.schema) as z.infer<S> & ServiceEnv & Partial<DatabaseEnv>;
  const logger = createLogger({ service: spec.service, level: config.LOG_LEVEL });
  setRootLogger(logger);
  bindProcessToTenant(config.SERVICE_TENANT_ID);
  if (config.SERVICE_TENANT_ID)
    logger.info({ bound_tenant: config.SERVICE_TENANT_ID }, "serving one tenant only (SERVICE_TENANT_ID)");
  const telemetry = await initTelemetry({
    ...telemetryOptionsFromEnv(spec.service, config, spec.version),
    logger,
  });
  const verifier = createTokenVerifier({
    jwksUrl: config.AUTH_JWKS_URL,
    issuer: config.AUTH_ISSUER,
    audience: spec.service,
  });
  const hooks: ShutdownHook[] = [];
  const readinessChecks: ServiceRuntime<unknown>["readinessChecks"] = [];

  let db: Db | undefined;
  if (spec.entities) {
    if (!config.DATABASE_URL) throw new Error(`${spec.service}: entities given but DATABASE_URL is not in the schema`);
    db = await createDb({
      url: config.DATABASE_URL,
      entities: spec.entities,
      logger,
      applicationName: spec.service,
      ...(config.DB_POOL_MAX !== undefined && { poolMax: config.DB_POOL_MAX }),
      ...(config.DB_STATEMENT_TIMEOUT_MS !== undefined && { statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS }),
    });
    const orm = db.orm;
    readinessChecks.push(async () => orm.isConnected());
  }

  let nats: NatsConnection | undefined;
  const natsUrl = (config as { NATS_URL?: string }).NATS_URL;
  if (natsUrl) {
    nats = await connectNats(natsUrl, spec.service);
    await ensureStreams(await jetstreamManager(nats, { timeout: 5_000 }));
    const nc = nats;
    readinessChecks.push(async () => !nc.isClosed() && nc.info !== undefined);
  }

  let relay: OutboxRelay | undefined;
  if (spec.outboxRelay) {
    if (!nats || !config.OUTBOX_RELAY_DATABASE_URL) {
      throw new Error(`${spec.service}: the outbox relay needs NATS_URL and OUTBOX_RELAY_DATABASE_URL`);
    }
    relay = startOutboxRelay({ pg: config.OUTBOX_RELAY_DATABASE_URL, nats, logger });
  }

  const relayRef = relay;
  const natsRef = nats;
  const dbRef = db;
  if (relayRef) hooks.push(() => relayRef.stop());
  if (natsRef) hooks.push(() => natsRef.drain());
  if (dbRef) hooks.push(() => dbRef.close());
  hooks.push(() => telemetry.shutdown());

  const server = await spec.start({
    config,
    logger,
    telemetry,
    verifier,
    db,
    nats,
    shutdownHooks: hooks,
    readinessChecks,
  });
  if (!enforcesProcessTenant(server)) {
    // fail closed: a server built some other way would serve every tenant
    throw new Error(`${spec.service}: SERVICE_TENANT_ID is set but the server was not built by createServiceServer`);
  }
  await server.listen();
  installSignalHandlers(server, {
    logger,
    exit: (code) => {
      logger.flush();
      process.exit(code);
    },
  });
  return server;
}
