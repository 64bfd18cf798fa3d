import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { join } from "node:path";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Client, Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { type RunningNats, startNats } from "@tessera/dev/infra";
import { createTokenVerifier } from "@tessera/platform/auth";
import type { TestIssuer } from "@tessera/platform/auth/testing";
import { runWithContext } from "@tessera/platform/context";
import { createDb, type Db } from "@tessera/platform/db";
import {
  buildEnvelope,
  connectNats,
  type EventActor,
  type EventOrigin,
  type EventOutcome,
  encodeEnvelope,
  ensureStreams,
  eventSubject,
} from "@tessera/platform/events";
import { createLogger, type Logger } from "@tessera/platform/log";
import { AuditService } from "@tessera/proto/tessera/audit/v1/audit_pb";
import type { EventEnvelope } from "@tessera/proto/tessera/common/v1/event_pb";
import {
  as,
  captureLogs,
  eventually,
  fieldsOf,
  registerSecret,
  rejection,
  type ServiceTestEnv,
  serviceTestEnv,
} from "@tessera/test/harness";
import { inject } from "vitest";
import { migrations } from "../migrations/index.ts";
import { configSchema } from "../src/config.ts";
import { type Audit, build, SERVICE } from "../src/server.ts";

/** A migrated audit database, a dedicated nats-server and a token issuer. */
export interface AuditEnv extends Omit<ServiceTestEnv, "query"> {
  nats: RunningNats;
  /** Runs SQL as the given role's URL, in a transaction set to `tenantId` when given. */
  as: ServiceTestEnv["query"];
  /** The platform's audit signing key (PKCS#8 PEM) and its public key (SPKI PEM). */
  signingKey: string;
  publicKey: string;
}

/** A fresh audit database (migrated in this process) with its own NATS and issuer. */
export async function auditEnv(prefix = "audit"): Promise<AuditEnv> {
  const env = await serviceTestEnv({ prefix, entities: [], migrations });
  const nats = await startNats({
    storeDir: join(inject("runDir"), `nats-${prefix}-${randomBytes(4).toString("hex")}`),
  });
  const pair = generateKeyPairSync("ed25519");
  const signingKey = registerSecret(pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString());
  return {
    ...env,
    nats,
    signingKey,
    publicKey: pair.publicKey.export({ type: "spki", format: "pem" }).toString(),
    as: env.query,
    vars: (extra = {}) => env.vars({ NATS_URL: nats.url, ...extra }),
    async close() {
      await nats.stop();
      await env.close();
    },
  };
}

/** audit running in this process against the env, with its consumer and (not scheduled) retention. */
export interface InProcess {
  audit: Audit;
  url: string;
  nats: NatsConnection;
  client: Client<typeof AuditService>;
  logger: Logger;
  /** Publishes an event on the env's NATS as a relay would (Nats-Msg-Id = event id). */
  publish<Desc extends DescMessage>(event: TestEvent<Desc>): Promise<EventEnvelope>;
  /** Publishes an existing envelope again under another message id (bypassing NATS de-duplication). */
  republish(envelope: EventEnvelope): Promise<void>;
  stop(): Promise<void>;
}

/** An event a test publishes. */
export interface TestEvent<Desc extends DescMessage> {
  tenantId: string;
  type: string;
  aggregateId: string;
  schema: Desc;
  payload: MessageShape<Desc>;
  actor?: EventActor;
  outcome?: EventOutcome;
  origin?: EventOrigin;
  /** Overrides the envelope's occurred_at (default now). */
  occurredAt?: Date;
}

/** Starts audit in-process on the env. */
export async function startInProcess(
  env: AuditEnv,
  options: { exportBatchSize?: number; logName?: string; signing?: boolean } = {},
): Promise<InProcess> {
  const config = configSchema.parse({
    PORT: "0",
    AUTH_JWKS_URL: env.issuer.jwksUrl,
    AUTH_ISSUER: env.issuer.issuer,
    DATABASE_URL: env.db.appUrl,
    OUTBOX_RELAY_DATABASE_URL: env.db.ownerUrl,
    NATS_URL: env.nats.url,
    AUDIT_RETENTION_ENABLED: "false",
    AUDIT_EXPORT_BATCH_SIZE: String(options.exportBatchSize ?? 500),
    AUDIT_HEAD_PUBLISH_INTERVAL_MS: "100",
    ...(options.signing !== false && { AUDIT_SIGNING_KEY: env.signingKey }),
  });
  const logger = createLogger({ service: SERVICE, destination: captureLogs(options.logName ?? "audit").stream });
  const db: Db = await createDb({ url: env.db.appUrl, entities: [], logger, poolMax: 4 });
  const nats = await connectNats(env.nats.url, "audit-test");
  await ensureStreams(await jetstreamManager(nats, { timeout: 5_000 }));
  const audit = await build({
    orm: db.orm,
    verifier: createTokenVerifier({ jwksUrl: env.issuer.jwksUrl, issuer: env.issuer.issuer, audience: SERVICE }),
    logger,
    config,
    nats,
    shutdownHooks: [() => db.close()],
  });
  const { url } = await audit.server.listen();
  audit.start();
  const js = jetstream(nats, { timeout: 5_000 });
  const send = async (envelope: EventEnvelope, msgID: string) => {
    await js.publish(eventSubject(envelope.tenantId, envelope.type), encodeEnvelope(envelope), { msgID });
  };
  return {
    audit,
    url,
    nats,
    logger,
    client: createClient(AuditService, createGrpcTransport({ baseUrl: url })),
    async publish(event) {
      const envelope = runWithContext({ tenantId: undefined, principal: undefined }, () =>
        buildEnvelope({
          type: event.type,
          tenantId: event.tenantId,
          aggregateId: event.aggregateId,
          schema: event.schema,
          payload: event.payload,
          actor: event.actor ?? { kind: "system", id: "test" },
          ...(event.outcome && { outcome: event.outcome }),
          ...(event.origin && { origin: event.origin }),
        }),
      );
      if (event.occurredAt) envelope.occurredAt = timestampFromDate(event.occurredAt);
      await send(envelope, envelope.id);
      return envelope;
    },
    republish: (envelope) => send(envelope, randomUUID()),
    async stop() {
      await audit.server.shutdown("test over");
      await nats.drain();
    },
  };
}

/** Tokens for the callers audit knows. */
export function tokens(issuer: TestIssuer) {
  return {
    platformAdmin: () => issuer.mint({ aud: SERVICE, sub: "operator-1", kind: "user", roles: ["platform-admin"] }),
    tenantUser: (tid: string, roles: string[] = ["admin"], sub = `user-${randomUUID()}`) =>
      issuer.mint({ aud: SERVICE, sub, kind: "user", tid, roles }),
    apiKey: (tid: string, scopes: string[], roles: string[] = ["admin"]) =>
      issuer.mint({ aud: SERVICE, sub: `key-${randomUUID()}`, kind: "api_key", tid, roles, scopes }),
  };
}

/** Waits until a tenant's log holds `count` records (superuser count). */
export function recordsOf(env: AuditEnv, tenantId: string, count: number): Promise<number> {
  return eventually(async () => {
    const [row] = await env.admin<{ n: string }>("select count(*) as n from audit_records where tenant_id = $1", [
      tenantId,
    ]);
    const n = Number(row?.n ?? 0);
    return n >= count ? n : undefined;
  }, `${count} audit records of ${tenantId}`);
}

export { as, Code, eventually, fieldsOf, rejection };
