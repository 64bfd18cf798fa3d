import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { TestIssuer } from "@tessera/platform/auth/testing";
import { Health, HealthCheckResponse_ServingStatus } from "@tessera/proto/grpc/health/v1/health_pb";
import { EventEnvelopeSchema } from "@tessera/proto/tessera/common/v1/event_pb";
import { EchoRequestSchema, EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";
import {
  type RunningService,
  type ServiceDatabase,
  type ServiceTestEnv,
  startMain,
  stopMain,
} from "@tessera/test/harness";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { KIT_SERVICE, kitServiceEnv } from "./kit-service.ts";

const TENANT_A = "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c";
const TENANT_B = "0c1b2a3f-4e5d-4c6b-9a7f-8e9d0c1b2a3f";

describe("runService: a service process built only from the kit", () => {
  let env: ServiceTestEnv;
  let db: ServiceDatabase;
  let issuer: TestIssuer;
  let service: RunningService;
  let nc: NatsConnection;

  beforeAll(async () => {
    env = await kitServiceEnv("kitsvc", "kit-service");
    ({ db, issuer } = env);
    nc = await connect({ servers: inject("natsUrl"), timeout: 5_000 });
    service = await startMain(`${KIT_SERVICE}main.ts`, env.vars());
  }, 60_000);

  afterAll(async () => {
    if (service) await stopMain(service);
    await nc?.close();
    await env?.close();
  });

  const transport = () => createGrpcTransport({ baseUrl: service.url });

  it("answers health without a token, and refuses calls without a valid one", async () => {
    const health = createClient(Health, transport());
    const res = await health.check({ service: "" }, { timeoutMs: 2_000 });
    expect(res.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const echo = createClient(EchoService, transport());
    const err = await echo.echo({ message: "hi" }, { timeoutMs: 2_000 }).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.Unauthenticated);
  });

  it("runs the call as the token's tenant: row stored under RLS, event published through the outbox", async () => {
    const sub = nc.subscribe(`tessera.evt.${TENANT_A}.greeting.created`, { max: 1, timeout: 10_000 });
    const token = await issuer.mint({ aud: "kit-service", tid: TENANT_A, sub: "user-1", kind: "user" });
    const echo = createClient(EchoService, transport());
    const res = await echo.echo(
      { message: "hello from A" },
      { headers: { authorization: `Bearer ${token}` }, timeoutMs: 5_000 },
    );
    expect(res.tenantId).toBe(TENANT_A);

    let received: Uint8Array | undefined;
    for await (const msg of sub) received = msg.data;
    expect(received).toBeDefined();
    const envelope = fromBinary(EventEnvelopeSchema, received as Uint8Array);
    expect(envelope.tenantId).toBe(TENANT_A);
    expect(envelope.type).toBe("greeting.created");
    expect(envelope.actor?.id).toBe("user-1");
    const payload = envelope.payload && anyUnpack(envelope.payload, EchoRequestSchema);
    expect(payload?.message).toBe("hello from A");

    // the app role, as tenant B, sees none of it; as tenant A, exactly it
    const client = new pg.Client({ connectionString: db.appUrl });
    await client.connect();
    try {
      const count = async (tenant: string) => {
        await client.query("begin");
        await client.query("select set_config('app.tenant_id', $1, true)", [tenant]);
        const r = await client.query<{ n: string }>("select count(*) as n from greetings");
        await client.query("commit");
        return Number(r.rows[0]?.n);
      };
      expect(await count(TENANT_B)).toBe(0);
      expect(await count(TENANT_A)).toBe(1);
    } finally {
      await client.end();
    }
  });

  it("drains and exits 0 on SIGTERM", async () => {
    expect(await stopMain(service)).toBe(0);
  });
});
