import { randomUUID } from "node:crypto";
import { TenantStatus, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import pg from "pg";
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
  env = await tenancyEnv("tenancy_crud");
  svc = await startInProcess(env, { logName: "tenancy-crud" });
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
  svc.client.createTenant(newTenant(overrides), as(admin));

describe("CreateTenant", () => {
  it("registers a pool tenant, provisions it before answering, and publishes created then activated", async () => {
    const req = newTenant({ plan: "business", verifiedDomains: ["Acme.example.COM."] });
    const res = await svc.client.createTenant(req, as(admin));
    const t = res.tenant;
    expect(t?.slug).toBe(req.slug);
    expect(t?.status).toBe(TenantStatus.ACTIVE);
    expect(t?.tier).toBe(Tier.POOL);
    expect(t?.plan).toBe("business");
    expect(t?.placement).toMatchObject({ database: "pool", namespace: "pool" });
    expect(t?.verifiedDomains).toEqual(["acme.example.com"]);
    const seen = await events.waitFor(idOf(res), (types) => types.includes("tenant.activated"));
    expect(seen.map((e) => e.type)).toEqual(["tenant.created", "tenant.activated"]);
    expect(seen[0]?.actor).toBe("operator-1");
    expect(seen[0]?.payload.tenant?.status).toBe(TenantStatus.PROVISIONING);
    expect(seen[1]?.payload.tenant?.status).toBe(TenantStatus.ACTIVE);
  });

  it("is idempotent on request_id: the same request returns the same tenant and starts nothing new", async () => {
    const req = newTenant();
    const first = await svc.client.createTenant(req, as(admin));
    const again = await svc.client.createTenant(req, as(admin));
    expect(idOf(again)).toBe(idOf(first));
    expect(again.tenant?.status).toBe(TenantStatus.ACTIVE);
    await events.waitFor(idOf(first), (types) => types.includes("tenant.activated"));
    const rows = await env.admin<{ n: string }>("select count(*) as n from tenants where slug = $1", [req.slug]);
    expect(Number(rows[0]?.n)).toBe(1);
    expect(events.of(idOf(first)).map((e) => e.type)).toEqual(["tenant.created", "tenant.activated"]);

    const reused = await failure(svc.client.createTenant({ ...req, slug: `${req.slug}-x` }, as(admin)));
    expect(reused.code).toBe(Code.InvalidArgument);
    expect(reused.fields).toEqual(["request_id"]);
  });

  it("refuses a taken slug and a domain verified for another tenant with AlreadyExists on that field", async () => {
    const first = await create({ verifiedDomains: ["taken.example.org"] });
    const slug = await failure(create({ slug: first.tenant?.slug ?? "" }));
    expect(slug).toMatchObject({ code: Code.AlreadyExists, fields: ["slug"] });
    const domain = await failure(create({ verifiedDomains: ["TAKEN.example.org"] }));
    expect(domain).toMatchObject({ code: Code.AlreadyExists, fields: ["verified_domains"] });
  });

  it.each([
    ["request_id", { requestId: "not-a-uuid" }],
    ["slug", { slug: "Bad Slug!" }],
    ["slug", { slug: "-ab" }],
    ["slug", { slug: "ab" }],
    ["display_name", { displayName: "" }],
    ["display_name", { displayName: "   " }],
    ["display_name", { displayName: "x".repeat(201) }],
    ["tier", { tier: 42 as Tier }],
    ["plan", { plan: "Gold Plan" }],
    ["plan", { plan: "platinum" }],
    ["region", { region: "" }],
    ["region", { region: "EU West" }],
    ["verified_domains[0]", { verifiedDomains: ["not a domain"] }],
    ["verified_domains[0]", { verifiedDomains: ["localhost"] }],
    ["verified_domains", { verifiedDomains: ["a.example.com", "a.example.com"] }],
  ])("refuses a bad %s with InvalidArgument naming it", async (field, overrides) => {
    const res = await failure(create(overrides as Parameters<typeof newTenant>[0]));
    expect(res.code).toBe(Code.InvalidArgument);
    expect(res.fields).toContain(field);
  });

  it("gives a tenant that asks for no tier its plan's default tier (config/plans.yaml); an explicit tier overrides it", async () => {
    const team = await create({ plan: "team", tier: Tier.UNSPECIFIED });
    expect(team.tenant?.tier).toBe(Tier.POOL);
    expect(team.tenant?.status).toBe(TenantStatus.ACTIVE);
    // business defaults to bridge, which this deployment has no driver for
    const business = await failure(create({ plan: "business", tier: Tier.UNSPECIFIED }));
    expect(business).toMatchObject({ code: Code.FailedPrecondition, fields: ["tier"] });
    expect(business.message).toMatch(/bridge tier cannot be provisioned/);
    const overridden = await create({ plan: "business", tier: Tier.POOL });
    expect(overridden.tenant?.tier).toBe(Tier.POOL);
  });

  it("refuses bridge and silo tenants with FailedPrecondition on tier when no driver is configured", async () => {
    for (const tier of [Tier.BRIDGE, Tier.SILO]) {
      const res = await failure(create({ tier }));
      expect(res.code).toBe(Code.FailedPrecondition);
      expect(res.fields).toEqual(["tier"]);
      expect(res.message).toMatch(/cannot be provisioned/);
    }
  });

  it("is for platform operators only", async () => {
    const tenantAdmin = await tok.tenantUser(randomUUID(), ["owner", "admin"]);
    expect((await failure(svc.client.createTenant(newTenant(), as(tenantAdmin)))).code).toBe(Code.PermissionDenied);
    // the platform role on a tenant's token counts for nothing
    const smuggled = await tok.tenantUser(randomUUID(), ["platform-admin"]);
    expect((await failure(svc.client.createTenant(newTenant(), as(smuggled)))).code).toBe(Code.PermissionDenied);
    expect((await failure(svc.client.createTenant(newTenant(), as(await tok.service())))).code).toBe(
      Code.PermissionDenied,
    );
    expect((await failure(svc.client.createTenant(newTenant(), { timeoutMs: 5_000 }))).code).toBe(Code.Unauthenticated);
    const otherAudience = await env.issuer.mint({
      aud: "projects",
      sub: "op",
      kind: "user",
      roles: ["platform-admin"],
    });
    expect((await failure(svc.client.createTenant(newTenant(), as(otherAudience)))).code).toBe(Code.Unauthenticated);
  });
});

describe("GetTenant and cross-tenant reads", () => {
  it("lets a tenant's users read their own tenant; another tenant's admin gets NOT_FOUND like a missing id", async () => {
    const a = idOf(await create());
    const b = idOf(await create());
    const ownAdmin = await tok.tenantUser(a, ["admin"]);
    const ownViewer = await tok.tenantUser(a, ["viewer"]);
    expect((await svc.client.getTenant({ tenantId: a }, as(ownAdmin))).tenant?.id).toBe(a);
    expect((await svc.client.getTenant({ tenantId: a.toUpperCase() }, as(ownViewer))).tenant?.id).toBe(a);
    expect((await svc.client.getTenant({ tenantId: a }, as(admin))).tenant?.id).toBe(a);
    expect((await svc.client.getTenant({ tenantId: a }, as(await tok.service()))).tenant?.id).toBe(a);

    const bAdmin = await tok.tenantUser(b, ["owner", "admin"]);
    const foreign = await failure(svc.client.getTenant({ tenantId: a }, as(bAdmin)));
    const missing = await failure(svc.client.getTenant({ tenantId: randomUUID() }, as(bAdmin)));
    const missingForOperator = await failure(svc.client.getTenant({ tenantId: randomUUID() }, as(admin)));
    expect(foreign).toEqual(missing);
    expect(foreign).toEqual(missingForOperator);
    expect(foreign.code).toBe(Code.NotFound);
  });

  it("refuses a malformed id with InvalidArgument on tenant_id, and a caller without a token", async () => {
    expect(await failure(svc.client.getTenant({ tenantId: "nope" }, as(admin)))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["tenant_id"],
    });
    expect((await failure(svc.client.getTenant({ tenantId: randomUUID() }, { timeoutMs: 5_000 }))).code).toBe(
      Code.Unauthenticated,
    );
  });

  it("keeps the registry's rows apart in the database too (row-level security for the app role)", async () => {
    const a = idOf(await create());
    const client = new pg.Client({ connectionString: env.db.appUrl });
    await client.connect();
    try {
      const count = async (setting: string, value: string) => {
        await client.query("begin");
        await client.query("select set_config($1, $2, true)", [setting, value]);
        const r = await client.query<{ n: string }>("select count(*) as n from tenants");
        await client.query("commit");
        return Number(r.rows[0]?.n);
      };
      expect(await count("app.tenant_id", a)).toBe(1);
      expect(await count("app.tenant_id", randomUUID())).toBe(0);
      expect(await count("app.tenant_id", "")).toBe(0);
      expect(await count("app.platform_scope", "on")).toBeGreaterThan(1);
    } finally {
      await client.end();
    }
  });
});

describe("ListTenants", () => {
  it("pages through every tenant newest first, filtered, with tokens bound to the filter", async () => {
    const plan = "enterprise";
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push(idOf(await create({ plan })));
    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const res = await svc.client.listTenants({ plan, page: { pageSize: 2, pageToken: token } }, as(admin));
      expect(res.tenants.length).toBeLessThanOrEqual(2);
      expect(res.tenants.every((t) => t.plan === plan)).toBe(true);
      seen.push(...res.tenants.map((t) => t.id));
      token = res.page?.nextPageToken ?? "";
      pages++;
    } while (token !== "" && pages < 10);
    expect(seen).toEqual([...made].reverse());
    expect(pages).toBe(3);

    const first = await svc.client.listTenants({ plan, page: { pageSize: 2 } }, as(admin));
    const next = first.page?.nextPageToken ?? "";
    expect(next).not.toBe("");
    const otherFilter = await failure(
      svc.client.listTenants({ plan: "free", page: { pageSize: 2, pageToken: next } }, as(admin)),
    );
    expect(otherFilter).toMatchObject({ code: Code.InvalidArgument, fields: ["page.page_token"] });
    const tampered = `${next.slice(0, -3)}${next.endsWith("AAA") ? "BBB" : "AAA"}`;
    expect(
      await failure(svc.client.listTenants({ plan, page: { pageSize: 2, pageToken: tampered } }, as(admin))),
    ).toMatchObject({ code: Code.InvalidArgument, fields: ["page.page_token"] });
    expect(
      await failure(svc.client.listTenants({ plan, page: { pageSize: 2, pageToken: "garbage" } }, as(admin))),
    ).toMatchObject({ code: Code.InvalidArgument, fields: ["page.page_token"] });
  });

  it("filters by status and tier, and refuses bad filters and page sizes", async () => {
    const res = await svc.client.listTenants({ status: TenantStatus.ACTIVE, tier: Tier.POOL }, as(admin));
    expect(res.tenants.length).toBeGreaterThan(0);
    expect(res.tenants.every((t) => t.status === TenantStatus.ACTIVE && t.tier === Tier.POOL)).toBe(true);
    const none = await svc.client.listTenants({ tier: Tier.SILO }, as(admin));
    expect(none.tenants).toEqual([]);
    expect(await failure(svc.client.listTenants({ page: { pageSize: 501 } }, as(admin)))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["page.page_size"],
    });
    expect(await failure(svc.client.listTenants({ status: 99 as TenantStatus }, as(admin)))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["status"],
    });
    expect(await failure(svc.client.listTenants({ plan: "NOPE!" }, as(admin)))).toMatchObject({
      code: Code.InvalidArgument,
      fields: ["plan"],
    });
  });

  it("shows a tenant's users only their own tenant, whatever they filter by", async () => {
    const a = idOf(await create());
    const b = idOf(await create());
    const aAdmin = await tok.tenantUser(a);
    const listed = await svc.client.listTenants({ page: { pageSize: 500 } }, as(aAdmin));
    expect(listed.tenants.map((t) => t.id)).toEqual([a]);
    const bListed = await svc.client.listTenants(
      { status: TenantStatus.ACTIVE },
      as(await tok.tenantUser(b, ["viewer"])),
    );
    expect(bListed.tenants.map((t) => t.id)).toEqual([b]);
    expect((await failure(svc.client.listTenants({}, as(await tok.service())))).code).toBe(Code.PermissionDenied);
  });
});

describe("UpdateTenant", () => {
  it("lets a tenant's admin rename its own tenant (tenant.updated), and nothing else", async () => {
    const a = idOf(await create());
    const b = idOf(await create());
    const aAdmin = await tok.tenantUser(a, ["admin"]);
    const res = await svc.client.updateTenant(
      { tenantId: a, updateMask: { paths: ["display_name"] }, displayName: "Acme Renamed" },
      as(aAdmin),
    );
    expect(res.tenant?.displayName).toBe("Acme Renamed");
    const seen = await events.waitFor(a, (types) => types.includes("tenant.updated"));
    expect(seen.find((e) => e.type === "tenant.updated")?.payload.tenant?.displayName).toBe("Acme Renamed");

    const domains = await failure(
      svc.client.updateTenant(
        { tenantId: a, updateMask: { paths: ["verified_domains"] }, verifiedDomains: ["gmail.com"] },
        as(aAdmin),
      ),
    );
    expect(domains.code).toBe(Code.PermissionDenied);
    const viewer = await failure(
      svc.client.updateTenant(
        { tenantId: a, updateMask: { paths: ["display_name"] }, displayName: "x" },
        as(await tok.tenantUser(a, ["viewer"])),
      ),
    );
    expect(viewer.code).toBe(Code.PermissionDenied);

    const foreign = await failure(
      svc.client.updateTenant(
        { tenantId: b, updateMask: { paths: ["display_name"] }, displayName: "Hijacked" },
        as(aAdmin),
      ),
    );
    const missing = await failure(
      svc.client.updateTenant(
        { tenantId: randomUUID(), updateMask: { paths: ["display_name"] }, displayName: "Hijacked" },
        as(aAdmin),
      ),
    );
    expect(foreign).toEqual(missing);
    expect(foreign.code).toBe(Code.NotFound);
    expect((await svc.client.getTenant({ tenantId: b }, as(admin))).tenant?.displayName).toBe("Acme Corp");
  });

  it("lets operators set region and verified domains, a domain belonging to one tenant only", async () => {
    const a = idOf(await create());
    const b = idOf(await create());
    const res = await svc.client.updateTenant(
      {
        tenantId: a,
        updateMask: { paths: ["region", "verified_domains"] },
        region: "us-east-2",
        verifiedDomains: ["b.example.net", "A.example.net"],
      },
      as(admin),
    );
    expect(res.tenant?.region).toBe("us-east-2");
    expect(res.tenant?.verifiedDomains).toEqual(["a.example.net", "b.example.net"]);
    const clash = await failure(
      svc.client.updateTenant(
        { tenantId: b, updateMask: { paths: ["verified_domains"] }, verifiedDomains: ["a.example.net"] },
        as(admin),
      ),
    );
    expect(clash).toMatchObject({ code: Code.AlreadyExists, fields: ["verified_domains"] });
    const cleared = await svc.client.updateTenant(
      { tenantId: a, updateMask: { paths: ["verified_domains"] }, verifiedDomains: [] },
      as(admin),
    );
    expect(cleared.tenant?.verifiedDomains).toEqual([]);
    const moved = await svc.client.updateTenant(
      { tenantId: b, updateMask: { paths: ["verified_domains"] }, verifiedDomains: ["a.example.net"] },
      as(admin),
    );
    expect(moved.tenant?.verifiedDomains).toEqual(["a.example.net"]);
  });

  it("refuses a missing or unknown update_mask and blank required values with InvalidArgument", async () => {
    const a = idOf(await create());
    const cases: Array<[string, Parameters<typeof svc.client.updateTenant>[0]]> = [
      ["update_mask", { tenantId: a }],
      ["update_mask", { tenantId: a, updateMask: { paths: [] } }],
      ["update_mask", { tenantId: a, updateMask: { paths: ["slug"] }, displayName: "x" }],
      ["display_name", { tenantId: a, updateMask: { paths: ["display_name"] }, displayName: "  " }],
      ["region", { tenantId: a, updateMask: { paths: ["region"] }, region: "" }],
      ["region", { tenantId: a, updateMask: { paths: ["region"] }, region: "Not A Region" }],
      ["verified_domains[0]", { tenantId: a, updateMask: { paths: ["verified_domains"] }, verifiedDomains: ["x y"] }],
      ["tenant_id", { tenantId: "x", updateMask: { paths: ["display_name"] }, displayName: "x" }],
    ];
    for (const [field, req] of cases) {
      const res = await failure(svc.client.updateTenant(req, as(admin)));
      expect(res.code, field).toBe(Code.InvalidArgument);
      expect(res.fields, JSON.stringify(req)).toContain(field);
    }
    expect(
      (
        await failure(
          svc.client.updateTenant(
            { tenantId: randomUUID(), updateMask: { paths: ["display_name"] }, displayName: "x" },
            as(admin),
          ),
        )
      ).code,
    ).toBe(Code.NotFound);
  });
});

describe("ListPlans", () => {
  it("serves the one plan catalogue to any authenticated caller", async () => {
    const res = await svc.client.listPlans({}, as(await tok.tenantUser(randomUUID(), ["viewer"])));
    expect(res.plans.map((p) => p.id)).toEqual(["free", "team", "business", "enterprise"]);
    expect(res.plans[3]?.quotas?.seats).toBe(-1n);
    expect(res.plans.map((p) => p.defaultTier)).toEqual([Tier.POOL, Tier.POOL, Tier.BRIDGE, Tier.SILO]);
    expect((await failure(svc.client.listPlans({}, { timeoutMs: 5_000 }))).code).toBe(Code.Unauthenticated);
  });
});
