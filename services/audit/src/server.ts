import type { Registry } from "@bufbuild/protobuf";
import type { NatsConnection } from "@nats-io/nats-core";
import type { TokenVerifier } from "@tessera/platform/auth";
import type { Orm } from "@tessera/platform/db";
import type { RunningConsumer } from "@tessera/platform/events";
import type { Logger } from "@tessera/platform/log";
import type { ReadinessCheck, RpcServer, ShutdownHook } from "@tessera/platform/rpc-server";
import { createServiceServer } from "@tessera/platform/service";
import pg from "pg";
import type { AuditConfig } from "./config.ts";
import { loadPayloadRegistry } from "./domain/payload-registry.ts";
import { type RetentionJob, startRetentionJob } from "./domain/retention.ts";
import { auditKeys } from "./domain/signing.ts";
import { startAuditConsumer } from "./events/consume-events.ts";
import { type HeadPublisher, startHeadPublisher } from "./events/head-publisher.ts";
import { type HeadStore, openHeadStore } from "./events/publish-heads.ts";
import { routes } from "./routes.ts";

/** The service's name: logs, metrics, and the audience its internal tokens must carry. */
export const SERVICE = "audit";

/** What build() assembles audit from. */
export interface AuditDeps {
  readonly orm: Orm;
  readonly verifier: TokenVerifier;
  readonly logger: Logger;
  readonly config: Pick<
    AuditConfig,
    | "HOST"
    | "PORT"
    | "SHUTDOWN_GRACE_MS"
    | "AUDIT_CONSUMER_NAME"
    | "AUDIT_RETENTION_ENABLED"
    | "AUDIT_RETENTION_INTERVAL_MS"
    | "AUDIT_PLATFORM_RETENTION_DAYS"
    | "AUDIT_EXPORT_BATCH_SIZE"
    | "AUDIT_HEADS_BUCKET"
    | "AUDIT_HEAD_PUBLISH_INTERVAL_MS"
    | "AUDIT_HEAD_SWEEP_INTERVAL_MS"
  > &
    Partial<Pick<AuditConfig, "AUDIT_SIGNING_KEY" | "AUDIT_VERIFY_KEYS">>;
  /** Without it nothing is consumed (the log is served read-only). */
  readonly nats?: NatsConnection | undefined;
  /** The owner role's URL, for retention; retention is off without it. */
  readonly retentionDatabaseUrl?: string | undefined;
  /** Every generated message type; loaded from `@tessera/proto` when not given. */
  readonly registry?: Registry;
  /** Run after the consumer and retention stopped and in-flight calls finished (the runtime's hooks). */
  readonly shutdownHooks?: readonly ShutdownHook[];
  readonly readinessChecks?: readonly ReadinessCheck[];
}

/** audit, assembled and not started: `start()` begins consuming and retention, `server.listen()` serves. */
export interface Audit {
  readonly server: RpcServer;
  start(): void;
  /** The retention job, once started (and when enabled). */
  retention(): RetentionJob | undefined;
  /** The consumer, once started (and when NATS was given). */
  consumer(): RunningConsumer | undefined;
  /** The head publisher, once started (with NATS and a signing key). */
  heads(): HeadPublisher | undefined;
}

/** Builds audit's server, consumer and retention job from its dependencies. */
export async function build(deps: AuditDeps): Promise<Audit> {
  const { config, logger } = deps;
  const registry = deps.registry ?? (await loadPayloadRegistry());
  const keys = auditKeys(config.AUDIT_SIGNING_KEY, config.AUDIT_VERIFY_KEYS);
  const store: HeadStore | undefined = deps.nats
    ? await openHeadStore(deps.nats, config.AUDIT_HEADS_BUCKET)
    : undefined;
  if (!keys.signer) logger.warn({}, "AUDIT_SIGNING_KEY is not set: chain heads and checkpoints are not signed");
  let consumer: RunningConsumer | undefined;
  let retention: RetentionJob | undefined;
  let heads: HeadPublisher | undefined;
  let ownerPool: pg.Pool | undefined;

  const stopWorkers: ShutdownHook = async () => {
    await consumer?.stop();
    await retention?.stop();
    await heads?.flush();
    await heads?.stop();
    await ownerPool?.end();
  };
  const server = createServiceServer({
    service: SERVICE,
    verifier: deps.verifier,
    logger,
    host: config.HOST,
    port: config.PORT,
    shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
    onShutdown: [stopWorkers, ...(deps.shutdownHooks ?? [])],
    ...(deps.readinessChecks && { readinessChecks: deps.readinessChecks }),
    register: (router) =>
      routes(router, { orm: deps.orm, exportBatchSize: config.AUDIT_EXPORT_BATCH_SIZE, keys, store }),
  });
  const owner = (): pg.Pool | undefined => {
    if (!deps.retentionDatabaseUrl) return undefined;
    if (!ownerPool) {
      ownerPool = new pg.Pool({
        connectionString: deps.retentionDatabaseUrl,
        max: 2,
        connectionTimeoutMillis: 10_000,
        statement_timeout: 60_000,
        query_timeout: 65_000,
        idle_in_transaction_session_timeout: 120_000,
        application_name: "tessera-audit-retention",
      });
      ownerPool.on("error", (err) => logger.warn({ err_message: err.message }, "idle retention connection failed"));
    }
    return ownerPool;
  };

  return {
    server,
    retention: () => retention,
    consumer: () => consumer,
    heads: () => heads,
    start() {
      const pool = owner();
      if (store && keys.signer && !heads) {
        heads = startHeadPublisher({
          orm: deps.orm,
          store,
          signer: keys.signer,
          keys,
          logger,
          intervalMs: config.AUDIT_HEAD_PUBLISH_INTERVAL_MS,
          sweepIntervalMs: config.AUDIT_HEAD_SWEEP_INTERVAL_MS,
          ...(pool && {
            listTenants: async () =>
              (await pool.query<{ tenant_id: string }>("select tenant_id from audit_heads")).rows.map(
                (r) => r.tenant_id,
              ),
          }),
        });
      }
      if (deps.nats && !consumer) {
        const publisher = heads;
        consumer = startAuditConsumer({
          nats: deps.nats,
          orm: deps.orm,
          registry,
          logger,
          durable: config.AUDIT_CONSUMER_NAME,
          ...(publisher && { onCommitted: (tenantId: string) => publisher.touched(tenantId) }),
        });
      }
      if (config.AUDIT_RETENTION_ENABLED && pool && !retention) {
        retention = startRetentionJob({
          pool,
          platformRetentionDays: config.AUDIT_PLATFORM_RETENTION_DAYS,
          intervalMs: config.AUDIT_RETENTION_INTERVAL_MS,
          logger,
          signer: keys.signer,
          keys,
          store,
          onUnpublished: (tenantId) => heads?.touched(tenantId),
        });
      }
    },
  };
}
