import { randomUUID } from "node:crypto";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { startTestIssuer, type TestIssuer } from "@tessera/platform/auth/testing";
import { DomainError } from "@tessera/platform/errors";
import { createTenantResolver, ExpiringLru, type TenantResolver } from "@tessera/platform/tenancy-client";
import { TenantService, TenantStatus, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import {
  type RunningService,
  runMain,
  type ServiceDatabase,
  serviceDatabase,
  startMain,
  stopMain,
} from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

const tenancy = new URL("../../../services/tenancy/src/", import.meta.url).pathname;

let db: ServiceDatabase;
let issuer: TestIssuer;
let service: RunningService;
let nc: NatsConnection;
let resolver: TenantResolver;
let now = Date.now();
let operatorToken: string;

const operator = () => ({ headers: { authorization: `Bearer ${operatorToken}` }, timeoutMs: 10_000 });
const admin = () => createClient(TenantService, createGrpcTransport({ baseUrl: service.url }));

/**
 * Creates an active pool tenant and waits until its events (created, activated) have reached the
 * resolver's NATS connection, so they cannot evict answers the test caches afterwards.
 */
async function createTenant(domains: string[] = []) {
  const slug = `resolver-${randomUUID().slice(0, 12)}`;
  const activated = nc.subscribe("tessera.evt.*.tenant.activated");
  await nc.flush();
  const res = await admin().createTenant(
    {
      requestId: randomUUID(),
      slug,
      displayName: "Resolver Test",
      tier: Tier.POOL,
      plan: "team",
      region: "eu-west-1",
      verifiedDomains: domains,
    },
    operator(),
  );
  const id = res.tenant?.id ?? "";
  const timer = setTimeout(() => activated.unsubscribe(), 10_000);
  for await (const msg of activated) if (msg.subject === `tessera.evt.${id}.tenant.activated`) break;
  clearTimeout(timer);
  activated.unsubscribe();
  return { id, slug };
}

/**
 * Polls (bounded) until `check` holds. The fake clock stands still meanwhile, so no cached answer
 * expires: a changed answer can only come from an event having evicted the old one.
 */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} never happened`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function refusal(call: Promise<unknown>): Promise<DomainError> {
  try {
    await call;
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
  throw new Error("expected a refusal");
}

beforeAll(async () => {
  db = await serviceDatabase("resolver");
  const migrate = runMain(
    `${tenancy}migrate.ts`,
    { MIGRATION_DATABASE_URL: db.ownerUrl, DATABASE_APP_ROLE: db.roles.app },
    "tenancy-migrate",
  );
  const { code } = await migrate.exited;
  expect(code, migrate.stderr()).toBe(0);
  issuer = await startTestIssuer();
  service = await startMain(
    `${tenancy}main.ts`,
    {
      PORT: "0",
      METRICS_PORT: "0",
      AUTH_JWKS_URL: issuer.jwksUrl,
      AUTH_ISSUER: issuer.issuer,
      DATABASE_URL: db.appUrl,
      OUTBOX_RELAY_DATABASE_URL: db.ownerUrl,
      NATS_URL: inject("natsUrl"),
    },
    { logName: "tenancy-for-resolver" },
  );
  operatorToken = await issuer.mint({ aud: "tenancy", sub: "operator", kind: "user", roles: ["platform-admin"] });
  nc = await connect({ servers: inject("natsUrl"), timeout: 5_000 });
  resolver = createTenantResolver({
    baseUrl: service.url,
    nats: nc,
    token: () => issuer.mint({ aud: "tenancy", sub: "edge-rest", kind: "service", roles: ["service"] }),
    now: () => now,
  });
  await nc.flush();
}, 60_000);

afterAll(async () => {
  await resolver?.close();
  await nc?.close();
  if (service) await stopMain(service);
  await issuer?.stop();
  await db?.drop();
});

describe("TenantResolver against tenancy and NATS", () => {
  it("serves a cached answer without calling tenancy, under every name of the tenant", async () => {
    const domain = `${randomUUID().slice(0, 8)}.example.com`;
    const t = await createTenant([domain]);
    const before = resolver.stats();
    expect((await resolver.byId(t.id))?.slug).toBe(t.slug);
    expect((await resolver.byId(t.id.toUpperCase()))?.slug).toBe(t.slug);
    expect(await resolver.requireActive(t.id)).toMatchObject({ id: t.id, status: TenantStatus.ACTIVE });
    expect(resolver.stats().rpcs).toBe(before.rpcs + 1);
    expect((await resolver.byEmailDomain(`someone@${domain.toUpperCase()}`))?.id).toBe(t.id);
    expect((await resolver.bySlug(t.slug))?.id).toBe(t.id);
    expect(resolver.stats().rpcs).toBe(before.rpcs + 3);
    expect((await resolver.bySlug(t.slug))?.id).toBe(t.id);
    expect(resolver.stats().rpcs).toBe(before.rpcs + 3);
  });

  it("refuses a tenant as soon as its tenant.suspended event arrives, and serves it again after resume", async () => {
    const t = await createTenant();
    await resolver.requireActive(t.id);
    const before = resolver.stats().rpcs;
    await admin().suspendTenant({ tenantId: t.id, reason: "unpaid" }, operator());
    await until(
      () =>
        resolver.requireActive(t.id).then(
          () => false,
          () => true,
        ),
      "the suspension reaching the resolver",
    );
    expect(resolver.stats().rpcs).toBe(before + 1);
    const refused = await refusal(resolver.requireActive(t.id));
    expect(refused.kind).toBe("FailedPrecondition");
    expect(refused.message).toBe("tenant is suspended");
    const rpcs = resolver.stats().rpcs;
    await refusal(resolver.requireActive(t.id));
    expect(resolver.stats().rpcs).toBe(rpcs);

    await admin().resumeTenant({ tenantId: t.id }, operator());
    await until(
      () =>
        resolver.requireActive(t.id).then(
          () => true,
          () => false,
        ),
      "the resumption reaching the resolver",
    );
  });

  it("asks tenancy again once an answer's lifetime has passed", async () => {
    const t = await createTenant();
    await resolver.byId(t.id);
    const rpcs = resolver.stats().rpcs;
    now += 29_000;
    await resolver.byId(t.id);
    expect(resolver.stats().rpcs).toBe(rpcs);
    now += 2_000;
    await resolver.byId(t.id);
    expect(resolver.stats().rpcs).toBe(rpcs + 1);
  });

  it("remembers an unknown tenant briefly, not forever", async () => {
    const ghost = randomUUID();
    const rpcs = resolver.stats().rpcs;
    expect(await resolver.byId(ghost)).toBeUndefined();
    expect(await resolver.byId(ghost)).toBeUndefined();
    expect(resolver.stats().rpcs).toBe(rpcs + 1);
    expect((await refusal(resolver.requireActive(ghost))).kind).toBe("NotFound");
    now += 5_001;
    expect(await resolver.byId(ghost)).toBeUndefined();
    expect(resolver.stats().rpcs).toBe(rpcs + 2);
    // a key that cannot name a tenant (tenancy says INVALID_ARGUMENT) names none
    expect(await resolver.bySlug("x".repeat(60))).toBeUndefined();
  });

  it("finds a tenant created after it was looked up in vain, without waiting for the negative answer to expire", async () => {
    const slug = `later-${randomUUID().slice(0, 12)}`;
    expect(await resolver.bySlug(slug)).toBeUndefined();
    const res = await admin().createTenant(
      { requestId: randomUUID(), slug, displayName: "Later", tier: Tier.POOL, plan: "free", region: "eu-west-1" },
      operator(),
    );
    await until(async () => (await resolver.bySlug(slug))?.id === res.tenant?.id, "the new tenant being found");
  });
});

describe("ExpiringLru", () => {
  it("drops the least recently used entry when full, and entries past their lifetime", () => {
    let t = 0;
    const lru = new ExpiringLru<string, number>(2, () => t);
    lru.set("a", 1, 100);
    lru.set("b", 2, 100);
    expect(lru.get("a")).toBe(1);
    lru.set("c", 3, 100);
    expect(lru.get("b")).toBeUndefined();
    expect(lru.get("a")).toBe(1);
    t = 100;
    expect(lru.get("a")).toBeUndefined();
    expect(lru.get("c")).toBeUndefined();
    lru.set("d", 4, 0);
    expect(lru.size).toBe(0);
  });
});
