import { randomUUID } from "node:crypto";
import { StepState, TenantStatus } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  as,
  Code,
  collectTenantEvents,
  failure,
  type InProcess,
  idOf,
  newTenant,
  startInProcess,
  type TenancyEnv,
  tenancyEnv,
  tokens,
} from "./support.ts";

let env: TenancyEnv;
let svc: InProcess;
let tok: ReturnType<typeof tokens>;
let admin: string;
let events: ReturnType<typeof collectTenantEvents>;

beforeAll(async () => {
  env = await tenancyEnv("tenancy_life");
  svc = await startInProcess(env, { logName: "tenancy-lifecycle", vars: { TENANCY_RESOLVE_CACHE_TTL_SECONDS: "7" } });
  tok = tokens(env.issuer);
  admin = await tok.platformAdmin();
  events = collectTenantEvents(svc.nats);
});

afterAll(async () => {
  events?.close();
  await svc?.stop();
  await env?.close();
});

const create = async (overrides: Parameters<typeof newTenant>[0] = {}) =>
  idOf(await svc.client.createTenant(newTenant(overrides), as(admin)));

describe("ChangePlan", () => {
  it("moves a tenant to another plan and says which plan it left; the same plan changes nothing", async () => {
    const id = await create({ plan: "team" });
    const res = await svc.client.changePlan({ tenantId: id, plan: "business" }, as(admin));
    expect(res.tenant?.plan).toBe("business");
    const seen = await events.waitFor(id, (types) => types.includes("tenant.plan_changed"));
    const changed = seen.find((e) => e.type === "tenant.plan_changed");
    expect(changed?.payload.previousPlan).toBe("team");
    expect(changed?.payload.tenant?.plan).toBe("business");
    await svc.client.changePlan({ tenantId: id, plan: "business" }, as(admin));
    await svc.client.suspendTenant({ tenantId: id, reason: "marker" }, as(admin));
    const after = await events.waitFor(id, (types) => types.includes("tenant.suspended"));
    expect(after.filter((e) => e.type === "tenant.plan_changed")).toHaveLength(1);
  });

  it("refuses plans the catalogue does not have, bad ids, and unknown tenants", async () => {
    const id = await create();
    expect(await failure(svc.client.changePlan({ tenantId: id, plan: "platinum" }, as(admin)))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["plan"],
    });
    expect(await failure(svc.client.changePlan({ tenantId: id, plan: "" }, as(admin)))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["plan"],
    });
    expect(await failure(svc.client.changePlan({ tenantId: "42", plan: "team" }, as(admin)))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["tenant_id"],
    });
    expect((await failure(svc.client.changePlan({ tenantId: randomUUID(), plan: "team" }, as(admin)))).code).toBe(
      Code.NotFound,
    );
  });
});

describe("suspend, resume, offboard", () => {
  it("walks active → suspended → active → offboarding, one event per change, repeats changing nothing", async () => {
    const id = await create();
    const suspended = await svc.client.suspendTenant({ tenantId: id, reason: "unpaid invoices" }, as(admin));
    expect(suspended.tenant?.status).toBe(TenantStatus.SUSPENDED);
    expect((await svc.client.suspendTenant({ tenantId: id, reason: "again" }, as(admin))).tenant?.status).toBe(
      TenantStatus.SUSPENDED,
    );
    const resumed = await svc.client.resumeTenant({ tenantId: id }, as(admin));
    expect(resumed.tenant?.status).toBe(TenantStatus.ACTIVE);
    expect((await svc.client.resumeTenant({ tenantId: id }, as(admin))).tenant?.status).toBe(TenantStatus.ACTIVE);
    const offboarded = await svc.client.offboardTenant({ tenantId: id, reason: "contract ended" }, as(admin));
    expect(offboarded.tenant?.status).toBe(TenantStatus.OFFBOARDING);
    await svc.client.offboardTenant({ tenantId: id, reason: "again" }, as(admin));

    const seen = await events.waitFor(id, (types) => types.includes("tenant.offboarding"));
    expect(seen.map((e) => e.type)).toEqual([
      "tenant.created",
      "tenant.activated",
      "tenant.suspended",
      "tenant.resumed",
      "tenant.offboarding",
    ]);
    expect(seen[2]?.payload.reason).toBe("unpaid invoices");
    expect(seen[2]?.payload.tenant?.status).toBe(TenantStatus.SUSPENDED);
    expect(seen[4]?.payload.reason).toBe("contract ended");
    expect(seen.every((e) => e.actor === "operator-1" || e.type === "tenant.activated")).toBe(true);
  });

  it("refuses changes an offboarding tenant can no longer take, with FailedPrecondition", async () => {
    const id = await create();
    await svc.client.offboardTenant({ tenantId: id, reason: "gone" }, as(admin));
    const calls = [
      () => svc.client.suspendTenant({ tenantId: id, reason: "x" }, as(admin)),
      () => svc.client.resumeTenant({ tenantId: id }, as(admin)),
      () => svc.client.changePlan({ tenantId: id, plan: "free" }, as(admin)),
      () =>
        svc.client.updateTenant({ tenantId: id, updateMask: { paths: ["display_name"] }, displayName: "x" }, as(admin)),
    ];
    for (const call of calls) expect((await failure(call())).code).toBe(Code.FailedPrecondition);
  });

  it("refuses a missing reason (INVALID_ARGUMENT) and an unknown tenant (NOT_FOUND)", async () => {
    const id = await create();
    expect(await failure(svc.client.suspendTenant({ tenantId: id, reason: "" }, as(admin)))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["reason"],
    });
    expect(await failure(svc.client.offboardTenant({ tenantId: id, reason: "" }, as(admin)))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["reason"],
    });
    expect((await failure(svc.client.resumeTenant({ tenantId: randomUUID() }, as(admin)))).code).toBe(Code.NotFound);
  });

  it("is for operators: a tenant's admin gets PERMISSION_DENIED on its own tenant and NOT_FOUND on another", async () => {
    const a = await create();
    const b = await create();
    const aAdmin = await tok.tenantUser(a, ["owner", "admin"]);
    const calls = (tenantId: string) => [
      () => svc.client.changePlan({ tenantId, plan: "enterprise" }, as(aAdmin)),
      () => svc.client.suspendTenant({ tenantId, reason: "x" }, as(aAdmin)),
      () => svc.client.resumeTenant({ tenantId }, as(aAdmin)),
      () => svc.client.offboardTenant({ tenantId, reason: "x" }, as(aAdmin)),
    ];
    for (const call of calls(a)) expect((await failure(call())).code).toBe(Code.PermissionDenied);
    const missing = await failure(svc.client.suspendTenant({ tenantId: randomUUID(), reason: "x" }, as(aAdmin)));
    expect(missing.code).toBe(Code.NotFound);
    for (const call of calls(b)) expect(await failure(call())).toEqual(missing);
    const untouched = await svc.client.getTenant({ tenantId: b }, as(admin));
    expect(untouched.tenant?.status).toBe(TenantStatus.ACTIVE);
    expect(untouched.tenant?.plan).toBe("team");
  });
});

describe("ResolveTenant", () => {
  it("finds a tenant by id, slug or verified email domain, with the cache lifetime, whatever its status", async () => {
    const req = newTenant({ verifiedDomains: ["resolve.example.com"] });
    const id = idOf(await svc.client.createTenant(req, as(admin)));
    const edge = await tok.service();
    const byId = await svc.client.resolveTenant({ key: { case: "tenantId", value: id.toUpperCase() } }, as(edge));
    expect(byId.tenant?.id).toBe(id);
    expect(byId.cacheTtlSeconds).toBe(7);
    const bySlug = await svc.client.resolveTenant({ key: { case: "slug", value: req.slug.toUpperCase() } }, as(edge));
    expect(bySlug.tenant?.id).toBe(id);
    const byEmail = await svc.client.resolveTenant(
      { key: { case: "emailDomain", value: "Ada.Lovelace@Resolve.Example.com" } },
      as(edge),
    );
    expect(byEmail.tenant?.id).toBe(id);
    const byDomain = await svc.client.resolveTenant(
      { key: { case: "emailDomain", value: "resolve.example.com" } },
      as(edge),
    );
    expect(byDomain.tenant?.id).toBe(id);

    await svc.client.suspendTenant({ tenantId: id, reason: "fraud" }, as(admin));
    const suspended = await svc.client.resolveTenant({ key: { case: "tenantId", value: id } }, as(edge));
    expect(suspended.tenant?.status).toBe(TenantStatus.SUSPENDED);
  });

  it("answers NOT_FOUND for unknown keys and INVALID_ARGUMENT for malformed ones", async () => {
    const edge = await tok.service();
    for (const key of [
      { case: "tenantId" as const, value: randomUUID() },
      { case: "slug" as const, value: "no-such-tenant" },
      { case: "emailDomain" as const, value: "someone@unknown.example" },
    ]) {
      expect((await failure(svc.client.resolveTenant({ key }, as(edge)))).code).toBe(Code.NotFound);
    }
    expect(
      await failure(svc.client.resolveTenant({ key: { case: "emailDomain", value: "bob@" } }, as(edge))),
    ).toMatchObject({ code: Code.InvalidArgument, fields: ["email_domain"] });
    expect(
      await failure(svc.client.resolveTenant({ key: { case: "tenantId", value: "123" } }, as(edge))),
    ).toMatchObject({ code: Code.InvalidArgument, fields: ["tenant_id"] });
    expect((await failure(svc.client.resolveTenant({}, as(edge)))).code).toBe(Code.InvalidArgument);
  });

  it("is for services and operators; a caller bound to a tenant resolves only that tenant", async () => {
    const a = await create({ verifiedDomains: [`a-${randomUUID().slice(0, 8)}.example.com`] });
    const b = await create();
    const user = await tok.tenantUser(a, ["owner"]);
    expect((await failure(svc.client.resolveTenant({ key: { case: "tenantId", value: a } }, as(user)))).code).toBe(
      Code.PermissionDenied,
    );
    const boundService = await tok.service(["service"], a);
    expect((await svc.client.resolveTenant({ key: { case: "tenantId", value: a } }, as(boundService))).tenant?.id).toBe(
      a,
    );
    const foreign = await failure(svc.client.resolveTenant({ key: { case: "tenantId", value: b } }, as(boundService)));
    const missing = await failure(
      svc.client.resolveTenant({ key: { case: "tenantId", value: randomUUID() } }, as(boundService)),
    );
    expect(foreign).toEqual(missing);
    expect((await svc.client.resolveTenant({ key: { case: "tenantId", value: b } }, as(admin))).tenant?.id).toBe(b);
  });
});

describe("GetProvisioning", () => {
  it("shows a pool tenant's saga done, each step once; a tenant's admin sees its own and no other", async () => {
    const a = await create();
    const b = await create();
    const res = await svc.client.getProvisioning({ tenantId: a }, as(admin));
    expect(res.complete).toBe(true);
    expect(res.steps.map((s) => [s.name, s.state, s.attempts])).toEqual([
      ["directory.assign_pool", StepState.DONE, 1],
      ["tenant.activate", StepState.DONE, 1],
    ]);
    const aAdmin = await tok.tenantUser(a, ["admin"]);
    expect((await svc.client.getProvisioning({ tenantId: a }, as(aAdmin))).complete).toBe(true);
    const foreign = await failure(svc.client.getProvisioning({ tenantId: b }, as(aAdmin)));
    const missing = await failure(svc.client.getProvisioning({ tenantId: randomUUID() }, as(aAdmin)));
    expect(foreign).toEqual(missing);
    expect(foreign.code).toBe(Code.NotFound);
    expect(
      (await failure(svc.client.getProvisioning({ tenantId: a }, as(await tok.tenantUser(a, ["member"]))))).code,
    ).toBe(Code.PermissionDenied);
  });
});
