import { randomUUID } from "node:crypto";
import { StepState, TenantStatus, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ComputeDriver, DatabaseDriver, TenantSpec } from "../src/domain/saga/drivers.ts";
import {
  as,
  collectTenantEvents,
  eventually,
  type InProcess,
  idOf,
  newTenant,
  startInProcess,
  type TenancyEnv,
  tenancyEnv,
  tokens,
} from "./support.ts";

/** An idempotent driver double: creates each tenant's database once, however often it is asked. */
function databaseDriver() {
  const databases = new Map<string, string>();
  const migrated: string[] = [];
  const calls = { create: 0, migrate: 0 };
  let failure: string | undefined;
  const driver: DatabaseDriver = {
    name: "test",
    async createDatabase(tenant: TenantSpec) {
      calls.create++;
      if (failure) throw new Error(failure);
      const existing = databases.get(tenant.tenantId);
      if (existing) return { database: existing };
      const database = `tenant_${tenant.slug.replaceAll("-", "_")}`;
      databases.set(tenant.tenantId, database);
      return { database };
    },
    async migrateDatabase(_tenant: TenantSpec, database: string) {
      calls.migrate++;
      if (failure) throw new Error(failure);
      migrated.push(database);
    },
    async dropDatabase() {},
    hasServer: () => true,
  };
  return {
    driver,
    databases,
    migrated,
    calls,
    breakWith(message: string | undefined) {
      failure = message;
    },
  };
}

const compute: ComputeDriver = {
  name: "test",
  targetVersion: async () => "1.0.0",
  async install(tenant) {
    return { namespace: `tenant-${tenant.slug}`, endpoints: {}, version: "1.0.0" };
  },
  async upgrade(tenant) {
    return { namespace: `tenant-${tenant.slug}`, endpoints: {}, version: "1.0.0" };
  },
  async uninstall() {},
};

let env: TenancyEnv;
let svc: InProcess;
let admin: string;
let events: ReturnType<typeof collectTenantEvents>;
const db = databaseDriver();

beforeAll(async () => {
  env = await tenancyEnv("tenancy_saga");
  svc = await startInProcess(env, {
    logName: "tenancy-saga",
    drivers: { database: db.driver, compute },
    vars: {
      PROVISIONING_SWEEP_INTERVAL_MS: "200",
      PROVISIONING_RETRY_INITIAL_MS: "50",
      PROVISIONING_RETRY_MAX_MS: "200",
      PROVISIONING_LEASE_MS: "3000",
    },
  });
  admin = await tokens(env.issuer).platformAdmin();
  events = collectTenantEvents(svc.nats);
});

afterAll(async () => {
  events?.close();
  await svc?.stop();
  await env?.close();
});

const provisioning = (tenantId: string) => svc.client.getProvisioning({ tenantId }, as(admin));

describe("bridge and silo sagas through the driver seam", () => {
  it("shows a failing step as FAILED with its error, retries it with backoff, then finishes", async () => {
    db.breakWith("database server unreachable");
    const req = newTenant({ tier: Tier.BRIDGE });
    const created = await svc.client.createTenant(req, as(admin));
    const id = idOf(created);
    expect(created.tenant?.status).toBe(TenantStatus.PROVISIONING);

    const failed = await eventually(async () => {
      const res = await provisioning(id);
      const step = res.steps[0];
      return step?.state === StepState.FAILED ? res : undefined;
    }, "the first step failing");
    expect(failed.complete).toBe(false);
    expect(failed.steps[0]).toMatchObject({ name: "database.create", lastError: "database server unreachable" });
    expect(failed.steps[0]?.nextAttemptTime).toBeDefined();
    expect(failed.steps.slice(1).map((s) => s.state)).toEqual([
      StepState.PENDING,
      StepState.PENDING,
      StepState.PENDING,
    ]);

    db.breakWith(undefined);
    const done = await eventually(async () => {
      const res = await provisioning(id);
      return res.complete ? res : undefined;
    }, "the saga finishing");
    expect(done.steps.map((s) => s.name)).toEqual([
      "database.create",
      "database.migrate",
      "directory.assign_pool_compute",
      "tenant.activate",
    ]);
    expect(done.steps[0]?.attempts).toBeGreaterThan(1);
    expect(done.steps[0]?.lastError).toBe("");
    expect(done.steps.slice(1).map((s) => s.attempts)).toEqual([1, 1, 1]);

    const tenant = (await svc.client.getTenant({ tenantId: id }, as(admin))).tenant;
    expect(tenant?.status).toBe(TenantStatus.ACTIVE);
    expect(tenant?.placement).toMatchObject({ database: db.databases.get(id), namespace: "pool" });
    expect(db.migrated.filter((d) => d === db.databases.get(id))).toHaveLength(1);
    const seen = await events.waitFor(id, (types) => types.includes("tenant.activated"));
    expect(seen.map((e) => e.type)).toEqual(["tenant.created", "tenant.activated"]);
    expect(seen[1]?.payload.tenant?.placement?.database).toBe(db.databases.get(id));
  });

  it("places a silo tenant in its own database and namespace", async () => {
    const req = newTenant({ tier: Tier.SILO, plan: "enterprise" });
    const id = idOf(await svc.client.createTenant(req, as(admin)));
    const tenant = await eventually(async () => {
      const t = (await svc.client.getTenant({ tenantId: id }, as(admin))).tenant;
      return t?.status === TenantStatus.ACTIVE ? t : undefined;
    }, "the silo tenant becoming active");
    expect(tenant.placement).toMatchObject({ database: db.databases.get(id), namespace: `tenant-${req.slug}` });
    expect((await provisioning(id)).steps.map((s) => s.name)).toEqual([
      "database.create",
      "database.migrate",
      "compute.install",
      "tenant.activate",
    ]);
  });
});

/** Leaves the registry as a process that died in the middle of `database.migrate` would. */
async function crashedMidStep(leaseSecondsLeft: number): Promise<string> {
  const id = randomUUID();
  const slug = `crashed-${id.slice(0, 8)}`;
  await env.admin(
    `insert into tenants (id, slug, display_name, tier, plan, status, region, placement_database, placement_namespace,
       create_request_id, created_at, updated_at)
     values ($1, $2, 'Crashed Co', 'bridge', 'team', 'provisioning', 'eu-west-1', 'tenant_crashed', '', $3, now(), now())`,
    [id, slug, randomUUID()],
  );
  db.databases.set(id, "tenant_crashed");
  await env.admin(
    `insert into provisioning_steps (tenant_id, step, position, state, attempts, next_attempt_at, lease_until, updated_at)
     values ($1, 'database.create', 0, 'done', 1, now(), null, now()),
            ($1, 'database.migrate', 1, 'running', 1, now(), now() + make_interval(secs => $2), now()),
            ($1, 'directory.assign_pool_compute', 2, 'pending', 0, now(), null, now()),
            ($1, 'tenant.activate', 3, 'pending', 0, now(), null, now())`,
    [id, leaseSecondsLeft],
  );
  return id;
}

describe("resuming after a crash", () => {
  it("leaves a step another process holds alone, and takes it over once that process's lease ran out", async () => {
    const id = await crashedMidStep(3_600);
    const before = db.calls.migrate;
    await svc.tenancy.runner.run(id);
    const held = await provisioning(id);
    expect(held.steps[1]).toMatchObject({ state: StepState.RUNNING, attempts: 1 });
    expect(db.calls.migrate).toBe(before);

    await env.admin(
      "update provisioning_steps set lease_until = now() - interval '1 second' where tenant_id = $1 and step = 'database.migrate'",
      [id],
    );
    const done = await eventually(async () => {
      const res = await provisioning(id);
      return res.complete ? res : undefined;
    }, "the sweep resuming the saga");
    expect(done.steps.map((s) => [s.name, s.attempts])).toEqual([
      ["database.create", 1],
      ["database.migrate", 2],
      ["directory.assign_pool_compute", 1],
      ["tenant.activate", 1],
    ]);
    expect(db.calls.migrate).toBe(before + 1);
    const tenant = (await svc.client.getTenant({ tenantId: id }, as(admin))).tenant;
    expect(tenant?.status).toBe(TenantStatus.ACTIVE);
    expect(tenant?.placement).toMatchObject({ database: "tenant_crashed", namespace: "pool" });
    const seen = await events.waitFor(id, (types) => types.includes("tenant.activated"));
    expect(seen.map((e) => e.type)).toEqual(["tenant.activated"]);
  });

  it("abandons the saga of a tenant offboarded while provisioning", async () => {
    db.breakWith("still broken");
    try {
      const id = idOf(await svc.client.createTenant(newTenant({ tier: Tier.BRIDGE }), as(admin)));
      await eventually(async () => {
        const res = await provisioning(id);
        return res.steps[0]?.state === StepState.FAILED ? res : undefined;
      }, "the first step failing");
      const offboarded = await svc.client.offboardTenant({ tenantId: id, reason: "never mind" }, as(admin));
      expect(offboarded.tenant?.status).toBe(TenantStatus.OFFBOARDING);
      await env.admin("update provisioning_steps set next_attempt_at = now() where tenant_id = $1", [id]);
      const calls = db.calls.create;
      await svc.tenancy.runner.run(id);
      expect(db.calls.create).toBe(calls);
      expect((await provisioning(id)).complete).toBe(false);
    } finally {
      db.breakWith(undefined);
    }
  });
});
