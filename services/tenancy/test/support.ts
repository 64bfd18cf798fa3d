import { randomUUID } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { type Client, Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { createTokenVerifier } from "@tessera/platform/auth";
import type { TestIssuer } from "@tessera/platform/auth/testing";
import { createDb, type Db } from "@tessera/platform/db";
import { connectNats, ensureStreams, type OutboxRelay, startOutboxRelay } from "@tessera/platform/events";
import { createLogger } from "@tessera/platform/log";
import { EventEnvelopeSchema } from "@tessera/proto/tessera/common/v1/event_pb";
import {
  type CreateTenantRequest,
  type Tenant,
  type TenantEvent,
  TenantEventSchema,
  TenantService,
  Tier,
} from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import {
  as,
  captureLogs,
  eventually,
  failure,
  fieldsOf,
  rejection,
  type ServiceTestEnv,
  serviceTestEnv,
} from "@tessera/test/harness";
import { inject } from "vitest";
import { migrations } from "../migrations/index.ts";
import { configSchema } from "../src/config.ts";
import { entities } from "../src/domain/entities.ts";
import type { Drivers } from "../src/domain/saga/drivers.ts";
import { build, SERVICE, type Tenancy } from "../src/server.ts";

/** A migrated database and a token issuer (see serviceTestEnv). */
export type TenancyEnv = ServiceTestEnv;

/** A fresh database (migrated in this process unless `migrate` is false) and a test issuer. */
export function tenancyEnv(prefix = "tenancy", { migrate = true } = {}): Promise<TenancyEnv> {
  return serviceTestEnv({ prefix, entities, migrations, migrate });
}

/** The environment the service needs, for configSchema or a child process. */
export function serviceVars(env: TenancyEnv, extra: Record<string, string> = {}): Record<string, string> {
  return env.vars(extra);
}

/** tenancy running in this process (build + listen), with the outbox relay, against real PostgreSQL and NATS. */
export interface InProcess {
  tenancy: Tenancy;
  url: string;
  nats: NatsConnection;
  client: Client<typeof TenantService>;
  stop(): Promise<void>;
}

/** Starts tenancy in-process. */
export async function startInProcess(
  env: TenancyEnv,
  options: { drivers?: Drivers; vars?: Record<string, string>; logName?: string } = {},
): Promise<InProcess> {
  const config = configSchema.parse(serviceVars(env, options.vars));
  const logger = createLogger({
    service: SERVICE,
    level: "info",
    destination: captureLogs(options.logName ?? "tenancy").stream,
  });
  const db: Db = await createDb({ url: env.db.appUrl, entities, logger, poolMax: 4 });
  const nats = await connectNats(inject("natsUrl"), "tenancy-test");
  await ensureStreams(await jetstreamManager(nats, { timeout: 5_000 }));
  const relay: OutboxRelay = startOutboxRelay({ pg: env.db.ownerUrl, nats, logger, pollIntervalMs: 50 });
  const tenancy = build({
    orm: db.orm,
    verifier: createTokenVerifier({ jwksUrl: env.issuer.jwksUrl, issuer: env.issuer.issuer, audience: SERVICE }),
    logger,
    config,
    ...(options.drivers && { drivers: options.drivers }),
    shutdownHooks: [() => relay.stop(), () => db.close()],
  });
  const { url } = await tenancy.server.listen();
  tenancy.runner.start();
  return {
    tenancy,
    url,
    nats,
    client: createClient(TenantService, createGrpcTransport({ baseUrl: url })),
    async stop() {
      await tenancy.server.shutdown("test over");
      await nats.drain();
    },
  };
}

/** Tokens for the callers tenancy knows. */
export function tokens(issuer: TestIssuer) {
  return {
    platformAdmin: () => issuer.mint({ aud: SERVICE, sub: "operator-1", kind: "user", roles: ["platform-admin"] }),
    tenantUser: (tid: string, roles: string[] = ["admin"], sub = `user-${randomUUID()}`) =>
      issuer.mint({ aud: SERVICE, sub, kind: "user", tid, roles }),
    service: (roles: string[] = ["service"], tid?: string) =>
      issuer.mint({ aud: SERVICE, sub: "edge-rest", kind: "service", roles, ...(tid && { tid }) }),
  };
}

let seq = 0;
/** A valid CreateTenant request with unique slug and request id. */
export function newTenant(overrides: Partial<Omit<CreateTenantRequest, "$typeName">> = {}) {
  seq += 1;
  return {
    requestId: randomUUID(),
    slug: `acme-${process.pid}-${seq}-${randomUUID().slice(0, 6)}`,
    displayName: "Acme Corp",
    tier: Tier.POOL,
    plan: "team",
    region: "eu-west-1",
    verifiedDomains: [],
    ...overrides,
  };
}

/** A received tenant event. */
export interface ReceivedEvent {
  type: string;
  tenantId: string;
  actor: string;
  payload: TenantEvent;
}

/** Collects tenant.* events of every tenant from NATS (core subscription). */
export function collectTenantEvents(nats: NatsConnection) {
  const events: ReceivedEvent[] = [];
  const sub = nats.subscribe("tessera.evt.*.tenant.>", {
    callback: (err, msg) => {
      if (err) return;
      const envelope = fromBinary(EventEnvelopeSchema, msg.data);
      const payload = envelope.payload && anyUnpack(envelope.payload, TenantEventSchema);
      if (!payload) return;
      events.push({ type: envelope.type, tenantId: envelope.tenantId, actor: envelope.actor?.id ?? "", payload });
    },
  });
  return {
    events,
    of: (tenantId: string) => events.filter((e) => e.tenantId === tenantId),
    /** Waits until `predicate` holds for the events of a tenant (bounded). */
    async waitFor(
      tenantId: string,
      predicate: (types: string[]) => boolean,
      timeoutMs = 10_000,
    ): Promise<ReceivedEvent[]> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const mine = events.filter((e) => e.tenantId === tenantId);
        if (predicate(mine.map((e) => e.type))) return mine;
        if (Date.now() > deadline) {
          throw new Error(`events of ${tenantId} never matched; got ${mine.map((e) => e.type).join(", ") || "none"}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close: () => sub.unsubscribe(),
  };
}

/** Shorthand for a tenant's id from a response. */
export function idOf(res: { tenant?: Tenant | undefined }): string {
  if (!res.tenant) throw new Error("response has no tenant");
  return res.tenant.id;
}

export { as, Code, eventually, failure, fieldsOf, rejection };
