/**
 * One trace from an incoming gRPC call through a gRPC hop, the outbox relay, NATS and the
 * consuming service: caller → edge (Echo) → tenancy (CreateTenant, which enqueues tenant.created)
 * → outbox relay (publish) → JetStream → audit's consumer (process), all spans exported in memory.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { type ConnectRouter, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { type RunningNats, startNats } from "@tessera/dev/infra";
import { createTokenVerifier } from "@tessera/platform/auth";
import { startTestIssuer, type TestIssuer } from "@tessera/platform/auth/testing";
import { createDb, type Db } from "@tessera/platform/db";
import { connectNats, ensureStreams, type OutboxRelay, startOutboxRelay } from "@tessera/platform/events";
import { createLogger } from "@tessera/platform/log";
import { createServiceClient } from "@tessera/platform/rpc-client";
import { initTelemetry, type Telemetry, telemetryClientInterceptor } from "@tessera/platform/telemetry";
import { AuditService } from "@tessera/proto/tessera/audit/v1/audit_pb";
import { TenantService, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { captureLogs, migrateServiceDatabase, type ServiceDatabase, serviceDatabase } from "@tessera/test/harness";
import { afterAll, beforeAll, expect, inject, it, vi } from "vitest";
import { migrations as auditMigrations } from "../../services/audit/migrations/index.ts";
import { configSchema as auditConfig } from "../../services/audit/src/config.ts";
import { type Audit, build as buildAudit } from "../../services/audit/src/server.ts";
import { migrations as tenancyMigrations } from "../../services/tenancy/migrations/index.ts";
import { configSchema as tenancyConfig } from "../../services/tenancy/src/config.ts";
import { entities as tenancyEntities } from "../../services/tenancy/src/domain/entities.ts";
import { build as buildTenancy, type Tenancy } from "../../services/tenancy/src/server.ts";
import { startEdge, type TestEdge } from "./support/edge.ts";

const spans = new InMemorySpanExporter();
const logs = captureLogs("e2e-tracing");
const logger = createLogger({ service: "e2e-tracing", destination: logs.stream });

let telemetry: Telemetry;
let issuer: TestIssuer;
let nats: RunningNats;
let nc: NatsConnection;
let tenancyDb: ServiceDatabase;
let auditDb: ServiceDatabase;
const dbs: Db[] = [];
let relay: OutboxRelay;
let tenancy: Tenancy;
let audit: Audit;
let edge: TestEdge;
let tenancyUrl = "";
let auditUrl = "";

beforeAll(async () => {
  telemetry = await initTelemetry({ service: "e2e-tracing", traceExporter: spans, logger });
  issuer = await startTestIssuer();
  nats = await startNats({ storeDir: join(inject("runDir"), `nats-tracing-${randomBytes(4).toString("hex")}`) });
  nc = await connectNats(nats.url, "e2e-tracing");
  await ensureStreams(await jetstreamManager(nc, { timeout: 5_000 }));
  [tenancyDb, auditDb] = await Promise.all([serviceDatabase("trace_tenancy"), serviceDatabase("trace_audit")]);
  await migrateServiceDatabase(tenancyDb, tenancyEntities, tenancyMigrations);
  await migrateServiceDatabase(auditDb, [], auditMigrations);
  const common = { PORT: "0", AUTH_JWKS_URL: issuer.jwksUrl, AUTH_ISSUER: issuer.issuer, NATS_URL: nats.url };

  const tDb = await createDb({ url: tenancyDb.appUrl, entities: tenancyEntities, logger, poolMax: 3 });
  dbs.push(tDb);
  relay = startOutboxRelay({ pg: tenancyDb.ownerUrl, nats: nc, logger, pollIntervalMs: 50 });
  tenancy = buildTenancy({
    orm: tDb.orm,
    verifier: createTokenVerifier({ jwksUrl: issuer.jwksUrl, issuer: issuer.issuer, audience: "tenancy" }),
    logger,
    config: tenancyConfig.parse({
      ...common,
      DATABASE_URL: tenancyDb.appUrl,
      OUTBOX_RELAY_DATABASE_URL: tenancyDb.ownerUrl,
    }),
  });
  tenancyUrl = (await tenancy.server.listen()).url;

  const aDb = await createDb({ url: auditDb.appUrl, entities: [], logger, poolMax: 3 });
  dbs.push(aDb);
  audit = await buildAudit({
    orm: aDb.orm,
    verifier: createTokenVerifier({ jwksUrl: issuer.jwksUrl, issuer: issuer.issuer, audience: "audit" }),
    logger,
    nats: nc,
    config: auditConfig.parse({
      ...common,
      DATABASE_URL: auditDb.appUrl,
      OUTBOX_RELAY_DATABASE_URL: auditDb.ownerUrl,
      AUDIT_RETENTION_ENABLED: "false",
    }),
  });
  auditUrl = (await audit.server.listen()).url;
  audit.start();

  // the edge: an Echo call whose handler makes the hop to tenancy as a platform operator
  const tenancyClient = createServiceClient(TenantService, {
    baseUrl: tenancyUrl,
    interceptors: [telemetryClientInterceptor()],
  });
  const operator = await issuer.mint({ aud: "tenancy", sub: "operator", kind: "user", roles: ["platform-admin"] });
  edge = await startEdge((router: ConnectRouter) =>
    router.service(EchoService, {
      async echo(req) {
        const res = await tenancyClient.createTenant(
          {
            requestId: crypto.randomUUID(),
            slug: req.message,
            displayName: "Traced",
            tier: Tier.POOL,
            plan: "team",
            region: "eu-west-1",
          },
          { headers: { authorization: `Bearer ${operator}` }, timeoutMs: 10_000 },
        );
        return { message: res.tenant?.id ?? "", tenantId: res.tenant?.id ?? "" };
      },
    }),
  );
}, 60_000);

afterAll(async () => {
  await edge?.stop();
  await audit?.server.shutdown("test over");
  await tenancy?.server.shutdown("test over");
  await relay?.stop();
  await nc?.drain();
  for (const db of dbs) await db.close();
  await nats?.stop();
  await issuer?.stop();
  await telemetry?.shutdown();
  await Promise.all([tenancyDb?.drop(), auditDb?.drop()]);
});

const id = (s: ReadableSpan | undefined) => s?.spanContext().spanId;
const parentOf = (s: ReadableSpan | undefined) => s?.parentSpanContext?.spanId;

it("keeps one trace from the incoming call through gRPC, the outbox relay and NATS into audit", async () => {
  spans.reset();
  const client = createClient(
    EchoService,
    createGrpcTransport({ baseUrl: edge.url, interceptors: [telemetryClientInterceptor()], defaultTimeoutMs: 10_000 }),
  );
  const slug = `traced-${randomBytes(4).toString("hex")}`;
  const tenantId = (await client.echo({ message: slug })).tenantId;
  expect(tenantId).toMatch(/^[0-9a-f-]{36}$/);

  const find = (name: string, kind: SpanKind, parent?: ReadableSpan) =>
    spans
      .getFinishedSpans()
      .find((s) => s.name === name && s.kind === kind && (parent === undefined || parentOf(s) === id(parent)));
  const consumed = await vi.waitFor(
    () => {
      const span = find("process tenant.created", SpanKind.CONSUMER);
      if (!span) throw new Error("audit has not processed tenant.created yet");
      return span;
    },
    { timeout: 15_000, interval: 100 },
  );

  const root = find("tessera.testing.v1.EchoService/Echo", SpanKind.CLIENT);
  const edgeServer = find("tessera.testing.v1.EchoService/Echo", SpanKind.SERVER, root);
  const hop = find("tessera.tenancy.v1.TenantService/CreateTenant", SpanKind.CLIENT, edgeServer);
  const tenancyServer = find("tessera.tenancy.v1.TenantService/CreateTenant", SpanKind.SERVER, hop);
  const publish = find("publish tenant.created", SpanKind.PRODUCER, tenancyServer);
  const chain = { root, edgeServer, hop, tenancyServer, publish };
  for (const [name, span] of Object.entries(chain)) expect(span, name).toBeDefined();
  expect(root?.parentSpanContext).toBeUndefined();
  expect(parentOf(consumed)).toBe(id(publish));
  expect(consumed.parentSpanContext?.isRemote).toBe(true);
  expect(publish?.attributes["messaging.destination.name"]).toBe(`tessera.evt.${tenantId}.tenant.created`);

  const traceIds = new Set([...Object.values(chain), consumed].map((s) => s?.spanContext().traceId));
  expect(traceIds.size).toBe(1);

  // and the consumer did its work in that trace: the record is there, and audit's log line carries the trace id
  const auditClient = createClient(AuditService, createGrpcTransport({ baseUrl: auditUrl }));
  const operator = await issuer.mint({ aud: "audit", sub: "operator", kind: "user", roles: ["platform-admin"] });
  const listed = await auditClient.listAuditEvents(
    { tenantId, filter: { action: "tenant.created" } },
    { headers: { authorization: `Bearer ${operator}` }, timeoutMs: 5_000 },
  );
  expect(listed.events.map((e) => [e.action, e.target?.id])).toEqual([["tenant.created", tenantId]]);
});
