/**
 * Silo moves and compute upgrades through the driver seam: tenancy's registry, operation runner,
 * events and contract are real; the drivers are in-process implementations of the seam that
 * record what they were asked (the real `local` and `helm` drivers have their own end-to-end
 * tests in test/e2e/tiers/). A bridge ⇄ silo move on the same server keeps the tenant's database:
 * only its compute changes.
 */
import { randomUUID } from "node:crypto";
import { OperationState, TenantStatus, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ComputeDriver,
  type ComputeState,
  ComputeUpgradeFailed,
  type DatabaseDriver,
  type TenantSpec,
} from "../src/domain/saga/drivers.ts";
import {
  as,
  Code,
  collectTenantEvents,
  eventually,
  type InProcess,
  idOf,
  newTenant,
  rejection,
  startInProcess,
  type TenancyEnv,
  tenancyEnv,
  tokens,
} from "./support.ts";

const databases = new Map<string, string>();
const database: DatabaseDriver = {
  name: "recording",
  async createDatabase(tenant: TenantSpec) {
    const existing = databases.get(tenant.tenantId) ?? `tenant_${tenant.slug.replaceAll("-", "_")}`;
    databases.set(tenant.tenantId, existing);
    return { database: existing };
  },
  async migrateDatabase() {},
  async dropDatabase() {},
  hasServer: () => true,
};

/** A compute seam that records installs, upgrades and uninstalls per tenant. */
function recordingCompute() {
  const running = new Map<string, ComputeState>();
  const log: string[] = [];
  let version = "1.0.0";
  let failUpgrade: string | undefined;
  const state = (t: TenantSpec, v: string, n: number): ComputeState => ({
    namespace: `silo-${t.slug}`,
    endpoints: { projects: `http://127.0.0.1:${40_000 + n}` },
    version: v,
  });
  const driver: ComputeDriver = {
    name: "recording",
    targetVersion: async () => version,
    async install(t) {
      log.push(`install ${t.slug}`);
      const s = running.get(t.tenantId) ?? state(t, version, running.size);
      running.set(t.tenantId, s);
      return s;
    },
    async upgrade(t) {
      log.push(`upgrade ${t.slug}`);
      if (failUpgrade) throw new ComputeUpgradeFailed(failUpgrade);
      const s = state(t, version, 100 + log.length);
      running.set(t.tenantId, s);
      return s;
    },
    async uninstall(t) {
      log.push(`uninstall ${t.slug}`);
      running.delete(t.tenantId);
    },
  };
  return {
    driver,
    running,
    log,
    release(v: string) {
      version = v;
    },
    breakUpgrades(reason: string | undefined) {
      failUpgrade = reason;
    },
  };
}

let env: TenancyEnv;
let svc: InProcess;
let admin: string;
let events: ReturnType<typeof collectTenantEvents>;
const compute = recordingCompute();

beforeAll(async () => {
  env = await tenancyEnv("tenancy_silo_ops");
  svc = await startInProcess(env, {
    logName: "tenancy-silo-ops",
    drivers: { database, compute: compute.driver },
    vars: {
      PROVISIONING_SWEEP_INTERVAL_MS: "200",
      PROVISIONING_RETRY_INITIAL_MS: "50",
      PROVISIONING_RETRY_MAX_MS: "200",
      TENANCY_MOVE_DRAIN_MS: "100",
      TENANCY_MOVE_GRACE_MS: "300",
      TENANCY_MOVE_MAX_ATTEMPTS: "2",
    },
  });
  svc.tenancy.operations.start();
  admin = await tokens(env.issuer).platformAdmin();
  events = collectTenantEvents(svc.nats);
});

afterAll(async () => {
  events?.close();
  await svc?.stop();
  await env?.close();
});

const getTenant = async (tenantId: string) => (await svc.client.getTenant({ tenantId }, as(admin))).tenant;

/** Waits until the tenant's latest operation has ended; returns it. */
async function ended(tenantId: string) {
  return eventually(async () => {
    const { operation } = await svc.client.getProvisioning({ tenantId }, as(admin));
    return operation && operation.state !== OperationState.RUNNING ? operation : undefined;
  }, "the operation ending");
}

async function activeTenant(tier: Tier): Promise<string> {
  const id = idOf(await svc.client.createTenant(newTenant({ tier, plan: "enterprise" }), as(admin)));
  await eventually(
    async () => ((await getTenant(id))?.status === TenantStatus.ACTIVE ? true : undefined),
    "the tenant becoming active",
  );
  return id;
}

const move = (tenantId: string, targetTier: Tier) =>
  svc.client.moveTenant({ tenantId, requestId: randomUUID(), targetTier }, as(admin));

describe("silo moves", () => {
  it("moves a bridge tenant into silo in place: its database stays, its own compute answers from the switch on", async () => {
    const id = await activeTenant(Tier.BRIDGE);
    const before = await getTenant(id);
    await move(id, Tier.SILO);
    const op = await ended(id);
    expect(op.state, op.lastError).toBe(OperationState.SUCCEEDED);
    // nothing to copy: the database is the tenant's own either way
    expect(op.tables).toEqual([]);
    expect(op.fencedMs).toBe(0n);
    const after = await getTenant(id);
    expect(after?.tier).toBe(Tier.SILO);
    expect(after?.placement?.database).toBe(before?.placement?.database);
    expect(after?.placement?.endpoints).toEqual(compute.running.get(id)?.endpoints);
    expect(after?.placement?.endpoints.projects).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(after?.placement?.namespace).toBe(compute.running.get(id)?.namespace);
    expect(after?.placement?.computeVersion).toBe("1.0.0");
    const moved = (await events.waitFor(id, (t) => t.includes("tenant.moved"))).find((e) => e.type === "tenant.moved");
    expect(moved?.payload.tenant?.placement?.endpoints.projects).toBe(after?.placement?.endpoints.projects);
  });

  it("moves a silo tenant back to bridge: endpoints gone at the switch, its compute removed after the grace", async () => {
    const id = await activeTenant(Tier.SILO);
    expect((await getTenant(id))?.placement?.endpoints.projects).toBeDefined();
    await move(id, Tier.BRIDGE);
    const op = await ended(id);
    expect(op.state, op.lastError).toBe(OperationState.SUCCEEDED);
    const after = await getTenant(id);
    expect(after?.tier).toBe(Tier.BRIDGE);
    expect(after?.placement?.endpoints).toEqual({});
    expect(after?.placement?.namespace).toBe("pool");
    expect(after?.placement?.computeVersion).toBe("");
    expect(compute.running.has(id)).toBe(false);
    const slug = after?.slug as string;
    expect(compute.log.filter((l) => l.endsWith(` ${slug}`))).toEqual([`install ${slug}`, `uninstall ${slug}`]);
  });

  it("rolls a move into silo back when the compute cannot be installed, leaving the tenant where it was", async () => {
    const id = await activeTenant(Tier.BRIDGE);
    const original = compute.driver.install;
    compute.driver.install = async () => {
      throw new Error("the cluster refused the namespace");
    };
    try {
      await move(id, Tier.SILO);
      const op = await ended(id);
      expect(op.state).toBe(OperationState.ROLLED_BACK);
      expect(op.lastError).toContain("the cluster refused the namespace");
    } finally {
      compute.driver.install = original;
    }
    const after = await getTenant(id);
    expect(after?.tier).toBe(Tier.BRIDGE);
    expect(after?.placement?.endpoints).toEqual({});
    expect(after?.placement?.writesFenced).toBe(false);
  });
});

describe("compute upgrades", () => {
  const upgrade = (tenantId: string, force = false) =>
    svc.client.upgradeTenant({ tenantId, requestId: randomUUID(), force }, as(admin));

  it("answers up to date when the tenant runs the platform's version, and upgrades it to a new one", async () => {
    const id = await activeTenant(Tier.SILO);
    compute.release("1.0.0");
    const same = await upgrade(id);
    expect(same).toMatchObject({ upToDate: true, targetVersion: "1.0.0" });
    expect(same.operation).toBeUndefined();

    compute.release("1.1.0");
    const started = await upgrade(id);
    expect(started).toMatchObject({ upToDate: false, targetVersion: "1.1.0" });
    expect(started.operation?.kind).toBe("upgrade");
    const op = await ended(id);
    expect(op.state, op.lastError).toBe(OperationState.SUCCEEDED);
    const after = await getTenant(id);
    expect(after?.placement?.computeVersion).toBe("1.1.0");
    // the edges follow the new endpoints through the event
    expect(after?.placement?.endpoints).toEqual(compute.running.get(id)?.endpoints);
    const upgraded = (await events.waitFor(id, (t) => t.includes("tenant.upgraded"))).find(
      (e) => e.type === "tenant.upgraded",
    );
    expect(upgraded?.payload.tenant?.placement?.computeVersion).toBe("1.1.0");
  });

  it("ends ROLLED_BACK with the driver's reason when the new version does not become healthy", async () => {
    compute.release("1.1.0");
    const id = await activeTenant(Tier.SILO);
    const endpoints = (await getTenant(id))?.placement?.endpoints;
    compute.release("2.0.0-broken");
    compute.breakUpgrades("deployment projects exceeded its progress deadline");
    const slug = (await getTenant(id))?.slug;
    try {
      await upgrade(id);
      const op = await ended(id);
      expect(op.state).toBe(OperationState.ROLLED_BACK);
      expect(op.lastError).toContain("exceeded its progress deadline");
      // at once: a rollout failure is not retried
      expect(compute.log.filter((l) => l === `upgrade ${slug}`)).toHaveLength(1);
    } finally {
      compute.breakUpgrades(undefined);
    }
    const after = await getTenant(id);
    expect(after?.placement?.computeVersion).toBe("1.1.0");
    expect(after?.placement?.endpoints).toEqual(endpoints);
  });

  it("rolls a silo tenant's compute out again when its plan changes (quota and sizing come from the plan)", async () => {
    compute.release("4.0.0");
    const id = await activeTenant(Tier.SILO);
    const slug = (await getTenant(id))?.slug as string;
    const changed = await svc.client.changePlan({ tenantId: id, plan: "team" }, as(admin));
    expect(changed.tenant?.plan).toBe("team");
    const op = await ended(id);
    expect(op.kind).toBe("upgrade");
    expect(op.state, op.lastError).toBe(OperationState.SUCCEEDED);
    expect(compute.log.filter((l) => l.endsWith(` ${slug}`))).toEqual([`install ${slug}`, `upgrade ${slug}`]);
  });

  it("is idempotent on request_id and refuses tenants that do not run their own compute", async () => {
    compute.release("3.0.0");
    const id = await activeTenant(Tier.SILO);
    compute.release("3.0.1");
    const requestId = randomUUID();
    const first = await svc.client.upgradeTenant({ tenantId: id, requestId }, as(admin));
    const again = await svc.client.upgradeTenant({ tenantId: id, requestId }, as(admin));
    expect(again.operation?.id).toBe(first.operation?.id);
    await ended(id);

    const bridge = await activeTenant(Tier.BRIDGE);
    const refused = await rejection(upgrade(bridge));
    expect(refused.code).toBe(Code.FailedPrecondition);
    expect(refused.rawMessage).toContain("silo");

    const tenantAdmin = await tokens(env.issuer).tenantUser(id, ["owner"]);
    const denied = await rejection(
      svc.client.upgradeTenant({ tenantId: id, requestId: randomUUID() }, as(tenantAdmin)),
    );
    expect(denied.code).toBe(Code.PermissionDenied);
  });
});
