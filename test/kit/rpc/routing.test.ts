import { randomUUID } from "node:crypto";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { clone, create, toBinary } from "@bufbuild/protobuf";
import { anyPack, timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { freePort } from "@tessera/dev/infra";
import { runAsTenant } from "@tessera/platform/context";
import { createLogger } from "@tessera/platform/log";
import { closeServiceClient, createServiceClient } from "@tessera/platform/rpc-client";
import { createRpcServer, type RpcServer } from "@tessera/platform/rpc-server";
import { createTenantResolver, placementRoute, type TenantResolver } from "@tessera/platform/tenancy-client";
import { ActorKind, EventEnvelopeSchema } from "@tessera/proto/tessera/common/v1/event_pb";
import {
  type Tenant,
  TenantEventSchema,
  TenantSchema,
  TenantService,
  TenantStatus,
  Tier,
} from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { captureLogs } from "@tessera/test/harness";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { buildEchoServer } from "../../fixtures/echo-service/server.ts";

const logs = captureLogs("rpc-routing");
const logger = createLogger({ service: "rpc-routing-test", destination: logs.stream, level: "debug" });

/** An echo server that remembers every call it served (by method name). */
async function countingServer(name: string) {
  const calls: string[] = [];
  const count: Interceptor = (next) => (req) => {
    calls.push(req.method.name);
    return next(req);
  };
  const server = buildEchoServer({ logger: logger.child({ server: name }), interceptors: [count] });
  const { url, port } = await server.listen();
  return { server, url, port, calls };
}

/** A plain TCP forwarder: another address for the same server, counting the connections it holds. */
async function forwarder(targetPort: number) {
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    open.add(client);
    const upstream = tcpConnect(targetPort, "127.0.0.1");
    client.pipe(upstream).pipe(client);
    const done = () => {
      open.delete(client);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on("close", done);
      s.on("error", done);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    open: () => open.size,
    close: () => {
      for (const s of open) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The directory as a stand-in tenancy serves it (ResolveTenant only). */
const directory = new Map<string, Tenant>();

function tenant(endpoints: Record<string, string> = {}): Tenant {
  const id = randomUUID();
  const silo = Object.keys(endpoints).length > 0;
  const t = create(TenantSchema, {
    id,
    slug: `t-${id.slice(0, 8)}`,
    status: TenantStatus.ACTIVE,
    tier: silo ? Tier.SILO : Tier.POOL,
    placement: { database: "pool", namespace: silo ? `tessera-tenant-${id.slice(0, 8)}` : "pool", endpoints },
  });
  directory.set(id, t);
  return t;
}

let pool: Awaited<ReturnType<typeof countingServer>>;
let siloA: Awaited<ReturnType<typeof countingServer>>;
let tenancy: RpcServer;
let nc: NatsConnection;
let resolver: TenantResolver;
const toClose: object[] = [];
const forwarders: Array<Awaited<ReturnType<typeof forwarder>>> = [];

beforeAll(async () => {
  pool = await countingServer("pool");
  siloA = await countingServer("silo-a");
  tenancy = createRpcServer({
    service: "tenancy-stand-in",
    logger,
    register: (router) =>
      router.service(TenantService, {
        async resolveTenant(req) {
          const found = req.key.case === "tenantId" ? directory.get(req.key.value) : undefined;
          if (!found) throw new ConnectError("tenant not found", Code.NotFound);
          return { tenant: found, cacheTtlSeconds: 300 };
        },
      }),
  });
  const { url } = await tenancy.listen();
  nc = await connect({ servers: inject("natsUrl"), timeout: 5_000 });
  resolver = createTenantResolver({ baseUrl: url, nats: nc, logger });
  await nc.flush();
}, 30_000);

afterEach(async () => {
  for (const c of toClose.splice(0)) closeServiceClient(c);
  await Promise.all(forwarders.splice(0).map((f) => f.close()));
});

afterAll(async () => {
  await resolver?.close();
  await nc?.close();
  await Promise.all([pool, siloA].map((s) => s?.server.shutdown("test over")));
  await tenancy?.shutdown("test over");
});

function routedClient(maxEndpoints?: number, via: TenantResolver = resolver) {
  const client = createServiceClient(EchoService, {
    baseUrl: pool.url,
    defaultTimeoutMs: 5_000,
    route: placementRoute(via, "echo", maxEndpoints !== undefined ? { maxEndpoints } : {}),
    logger,
  });
  toClose.push(client);
  return client;
}

const failure = async (call: Promise<unknown>) =>
  ConnectError.from(
    await call.then(
      () => undefined,
      (e) => e,
    ),
  );

/** Tells the resolver the tenant changed, as tenancy's outbox does, and waits until it has heard. */
async function publishTenantEvent(t: Tenant, verb: string) {
  const before = resolver.stats().evictions;
  const envelope = create(EventEnvelopeSchema, {
    id: randomUUID(),
    type: `tenant.${verb}`,
    tenantId: t.id,
    aggregateId: t.id,
    actor: { kind: ActorKind.SERVICE, id: "tenancy" },
    occurredAt: timestampNow(),
    payload: anyPack(TenantEventSchema, create(TenantEventSchema, { tenant: t })),
  });
  nc.publish(`tessera.evt.${t.id}.tenant.${verb}`, toBinary(EventEnvelopeSchema, envelope));
  await vi.waitFor(() => expect(resolver.stats().evictions).toBeGreaterThan(before), { timeout: 5_000 });
}

describe("routing a service client by the tenant's placement", () => {
  it("sends a silo tenant's calls to its own instance, everyone else's to the shared one", async () => {
    const a = tenant({ echo: siloA.url, other: "http://127.0.0.1:9" });
    const b = tenant();
    const client = routedClient();
    const [poolBefore, siloBefore] = [pool.calls.length, siloA.calls.length];

    const answer = await runAsTenant(a.id, () => client.echo({ message: "for a" }));
    expect(answer.message).toBe("for a");
    expect(siloA.calls.length - siloBefore).toBe(1);
    expect(pool.calls.length - poolBefore).toBe(0);

    await runAsTenant(b.id, () => client.echo({ message: "for b" }));
    await client.echo({ message: "no tenant" });
    expect(pool.calls.length - poolBefore).toBe(2);
    expect(siloA.calls.length - siloBefore).toBe(1);

    // streams are routed too, and a second call reuses what the first found
    const numbers: number[] = [];
    await runAsTenant(a.id, async () => {
      for await (const m of client.countTo({ count: 3 })) numbers.push(m.number);
    });
    expect(numbers).toEqual([1, 2, 3]);
    expect(siloA.calls.slice(siloBefore)).toEqual(["Echo", "CountTo"]);
    expect(pool.calls.length - poolBefore).toBe(2);
  });

  it("follows a changed endpoint on the next call once the tenant's event arrived", async () => {
    const siloA2 = await countingServer("silo-a2");
    try {
      const a = tenant({ echo: siloA.url });
      const client = routedClient();
      await runAsTenant(a.id, () => client.echo({ message: "before" }));
      const before = siloA2.calls.length;

      const moved = clone(TenantSchema, a);
      if (moved.placement) moved.placement.endpoints = { echo: siloA2.url };
      directory.set(a.id, moved);
      await publishTenantEvent(moved, "moved");

      const siloABefore = siloA.calls.length;
      await runAsTenant(a.id, () => client.echo({ message: "after" }));
      expect(siloA2.calls.length - before).toBe(1);
      expect(siloA.calls.length - siloABefore).toBe(0);
    } finally {
      await siloA2.server.shutdown("test over");
    }
  });

  it("refuses an endpoint that is not an http(s) URL: UNAVAILABLE, nothing reaches any instance", async () => {
    const client = routedClient();
    for (const bad of ["projects.tessera-tenant-acme.svc:50064", "ftp://127.0.0.1:21", "", "http://u:p@127.0.0.1:1"]) {
      const c = tenant({ echo: bad });
      const [poolBefore, siloBefore] = [pool.calls.length, siloA.calls.length];
      const err = await failure(runAsTenant(c.id, () => client.echo({ message: "x" })));
      expect(err.code).toBe(Code.Unavailable);
      expect(err.rawMessage).toContain("not an http(s) URL");
      expect(pool.calls.length).toBe(poolBefore);
      expect(siloA.calls.length).toBe(siloBefore);
      const line = logs.lines().find((l) => l.tenant_id === c.id && String(l.msg).includes("not an http(s) URL"));
      expect(line?.level).toBe("error");
    }
    expect(logs.text()).not.toContain("u:p@");
  });

  it("fails UNAVAILABLE when the tenant cannot be resolved, rather than using the shared instance", async () => {
    const unreachable = createTenantResolver({ baseUrl: `http://127.0.0.1:${await freePort()}`, timeoutMs: 500 });
    try {
      const client = routedClient(undefined, unreachable);
      const a = tenant({ echo: siloA.url });
      const [poolBefore, siloBefore] = [pool.calls.length, siloA.calls.length];
      const err = await failure(runAsTenant(a.id, () => client.echo({ message: "x" })));
      expect(err.code).toBe(Code.Unavailable);
      expect(err.rawMessage).toContain("placement is unavailable");
      expect(pool.calls.length).toBe(poolBefore);
      expect(siloA.calls.length).toBe(siloBefore);
      // platform-level calls need no placement
      await client.echo({ message: "no tenant" });
      expect(pool.calls.length).toBe(poolBefore + 1);
    } finally {
      await unreachable.close();
    }
  });

  it("keeps at most maxEndpoints tenant connections, closing evicted ones once their calls ended", async () => {
    const fs = await Promise.all([1, 2, 3, 4].map(() => forwarder(pool.port)));
    forwarders.push(...fs);
    const tenants = fs.map((f) => tenant({ echo: f.url }));
    const client = routedClient(2);
    const [t1, t2, t3, t4] = tenants as [Tenant, Tenant, Tenant, Tenant];

    // a slow call on t1's connection outlives t1's eviction and still succeeds
    const slow = runAsTenant(t1.id, () => client.sleep({ delayMs: 1_500 }));
    await vi.waitFor(() => expect(fs[0]?.open()).toBe(1));
    for (const t of [t2, t3, t4]) await runAsTenant(t.id, () => client.echo({ message: "hi" }));
    expect((await slow).sleptMs).toBeGreaterThanOrEqual(1_400);

    await vi.waitFor(() => expect(fs.map((f) => f.open())).toEqual([0, 0, 1, 1]), { timeout: 5_000 });

    // an evicted tenant is served again, on a new connection, evicting the least recently used
    await runAsTenant(t1.id, () => client.echo({ message: "again" }));
    await vi.waitFor(() => expect(fs.map((f) => f.open())).toEqual([1, 0, 0, 1]), { timeout: 5_000 });

    closeServiceClient(client);
    await vi.waitFor(() => expect(fs.map((f) => f.open())).toEqual([0, 0, 0, 0]), { timeout: 5_000 });
  });
});
