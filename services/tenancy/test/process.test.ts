import { fromBinary } from "@bufbuild/protobuf";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { createServiceClient } from "@tessera/platform/rpc-client";
import { EventEnvelopeSchema } from "@tessera/proto/tessera/common/v1/event_pb";
import { StepState, TenantService, TenantStatus } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { type RunningService, runMain, startMain, stopMain } from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { as, eventually, newTenant, rejection, type TenancyEnv, tenancyEnv, tokens } from "./support.ts";

const root = new URL("../", import.meta.url).pathname;
const main = `${root}src/main.ts`;

let env: TenancyEnv;
let nc: NatsConnection;
let service: RunningService | undefined;

beforeAll(async () => {
  env = await tenancyEnv("tenancy_proc", { migrate: false });
  nc = await connect({ servers: inject("natsUrl"), timeout: 5_000 });
});

afterAll(async () => {
  if (service) await stopMain(service);
  await nc?.close();
  await env?.close();
});

function vars(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PORT: "0",
    METRICS_PORT: "0",
    AUTH_JWKS_URL: env.issuer.jwksUrl,
    AUTH_ISSUER: env.issuer.issuer,
    DATABASE_URL: env.db.appUrl,
    OUTBOX_RELAY_DATABASE_URL: env.db.ownerUrl,
    NATS_URL: inject("natsUrl"),
    PROVISIONING_SWEEP_INTERVAL_MS: "500",
    ...extra,
  };
}

/** The tenant events of one tenant as the events stream holds them (de-duplicated by event id). */
async function storedEvents(tenantId: string): Promise<string[]> {
  const consumer = await jetstream(nc).consumers.get("TESSERA_EVENTS", {
    filter_subjects: [`tessera.evt.${tenantId}.tenant.>`],
  });
  const types: string[] = [];
  const batch = await consumer.fetch({ max_messages: 20, expires: 1_000 });
  for await (const msg of batch) types.push(fromBinary(EventEnvelopeSchema, msg.data).type);
  return types;
}

describe("tenancy as a process", () => {
  it("migrates its database with its migrate main", async () => {
    const migrate = runMain(
      `${root}src/migrate.ts`,
      { MIGRATION_DATABASE_URL: env.db.ownerUrl, DATABASE_APP_ROLE: env.db.roles.app },
      "tenancy-migrate",
    );
    const { code } = await migrate.exited;
    expect(code, migrate.stderr() + migrate.stdout()).toBe(0);
    expect(migrate.lines().some((l) => l.msg === "migrations applied")).toBe(true);
  });

  it("refuses a fault-injection setting that names no step, naming the variable", async () => {
    const run = runMain(main, vars({ TENANCY_FAULT_CRASH_AFTER_STEP: "no.such_step" }), "tenancy-badconfig");
    const { code } = await run.exited;
    expect(code).toBe(1);
    expect(run.stderr()).toMatch(/TENANCY_FAULT_CRASH_AFTER_STEP: must be one of/);
  });

  it("resumes a saga after the process died mid-way, running every step exactly once", async () => {
    const admin = await tokens(env.issuer).platformAdmin();
    service = await startMain(main, vars({ TENANCY_FAULT_CRASH_AFTER_STEP: "directory.assign_pool" }), {
      logName: "tenancy-crash",
    });
    let client = createServiceClient(TenantService, { baseUrl: service.url, retry: false });
    const req = newTenant();
    const err = await rejection(client.createTenant(req, as(admin)));
    expect(err.code).not.toBe(0);
    const exit = await service.exited;
    expect(exit.signal).toBe("SIGKILL");
    // killed between the two steps: the first recorded done, the second never started
    const left = await env.admin<{ step: string; state: string; attempts: number }>(
      "select step, state, attempts from provisioning_steps where tenant_id = (select id from tenants where slug = $1) order by position",
      [req.slug],
    );
    expect(left).toEqual([
      { step: "directory.assign_pool", state: "done", attempts: 1 },
      { step: "tenant.activate", state: "pending", attempts: 0 },
    ]);

    service = await startMain(main, vars(), { logName: "tenancy-resumed" });
    client = createServiceClient(TenantService, { baseUrl: service.url });
    // the retried request finds the tenant of the first one
    const again = await client.createTenant(req, as(admin));
    const id = again.tenant?.id ?? "";
    expect(again.tenant?.slug).toBe(req.slug);
    const saga = await eventually(async () => {
      const res = await client.getProvisioning({ tenantId: id }, as(admin));
      return res.complete ? res : undefined;
    }, "the saga finishing after the restart");
    expect(saga.steps.map((s) => [s.name, s.state, s.attempts])).toEqual([
      ["directory.assign_pool", StepState.DONE, 1],
      ["tenant.activate", StepState.DONE, 1],
    ]);
    const tenant = (await client.getTenant({ tenantId: id }, as(admin))).tenant;
    expect(tenant?.status).toBe(TenantStatus.ACTIVE);
    expect(tenant?.placement).toMatchObject({ database: "pool", namespace: "pool" });
    const types = await eventually(async () => {
      const stored = await storedEvents(id);
      return stored.includes("tenant.activated") ? stored : undefined;
    }, "the events reaching the stream");
    expect(types).toEqual(["tenant.created", "tenant.activated"]);
  });

  it("drains and exits 0 on SIGTERM", async () => {
    if (!service) throw new Error("no service running");
    expect(await stopMain(service)).toBe(0);
    service = undefined;
  });
});
