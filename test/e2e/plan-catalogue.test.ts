/**
 * One plan catalogue for the whole platform: identity, tenancy and projects as processes, each
 * started with TESSERA_PLANS_FILE naming the tiny test catalogue (test/fixtures/plans/tiny.yaml).
 * tenancy serves and validates that file's plans and default tiers; identity holds the tenant to the
 * plan's seats, projects to its projects and storage quotas.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createServiceTokenSource } from "@tessera/platform/auth";
import { QuotaFailureSchema } from "@tessera/proto/google/rpc/error_details_pb";
import { MembershipService } from "@tessera/proto/tessera/identity/v1/memberships_pb";
import { Role } from "@tessera/proto/tessera/identity/v1/resources_pb";
import { ProjectService, TaskService } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { TenantService, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { as, eventually, rejection, startPlatform, type TestPlatform } from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const tiny = new URL("../fixtures/plans/tiny.yaml", import.meta.url).pathname;
const plansEnv = { TESSERA_PLANS_FILE: tiny };

let platform: TestPlatform;
let operatorToken: (audience: string) => Promise<string>;

beforeAll(async () => {
  platform = await startPlatform({
    services: ["tenancy", "projects"],
    env: { identity: plansEnv, tenancy: plansEnv, projects: plansEnv },
  });
  const operator = platform.clients.operator;
  if (!operator) throw new Error("no operator credential");
  const tokens = createServiceTokenSource({
    identityUrl: platform.identity.url,
    clientId: operator.id,
    clientSecret: operator.secret,
  });
  operatorToken = (audience) => tokens.getToken(audience);
}, 180_000);

afterAll(async () => {
  await platform?.stop();
});

const tenancy = () =>
  createClient(TenantService, createGrpcTransport({ baseUrl: platform.services.tenancy?.url ?? "" }));

function expectQuota(err: Awaited<ReturnType<typeof rejection>>, quota: string, limit: number) {
  expect(err.code).toBe(Code.ResourceExhausted);
  expect(err.rawMessage).toBe(`quota exceeded: ${quota} (limit ${limit} on plan tiny)`);
  expect(err.findDetails(QuotaFailureSchema)[0]?.violations[0]).toMatchObject({
    quotaMetric: quota,
    quotaValue: BigInt(limit),
  });
}

describe("the plan catalogue TESSERA_PLANS_FILE names, read by every service", () => {
  it("is what tenancy serves and validates: its plans, their default tiers", async () => {
    const { plans } = await tenancy().listPlans({}, as(await operatorToken("tenancy")));
    expect(plans.map((p) => [p.id, p.defaultTier, p.quotas?.seats])).toEqual([
      ["tiny", Tier.POOL, 2n],
      ["roomy", Tier.POOL, -1n],
    ]);
    const slug = `t-${randomBytes(4).toString("hex")}`;
    const base = { requestId: randomUUID(), slug, displayName: slug, region: "local" };
    const unknown = await rejection(
      tenancy().createTenant({ ...base, tier: Tier.POOL, plan: "team" }, as(await operatorToken("tenancy"))),
    );
    expect(unknown.code).toBe(Code.InvalidArgument);
    expect(unknown.rawMessage).toBe("unknown plan");
    const created = await tenancy().createTenant(
      { ...base, requestId: randomUUID(), tier: Tier.UNSPECIFIED, plan: "roomy" },
      as(await operatorToken("tenancy")),
    );
    expect(created.tenant?.tier).toBe(Tier.POOL);
  });

  it("holds a tenant to its plan's seats (identity) and projects and storage (projects)", async () => {
    const tenant = await platform.seed.tenant({ plan: "tiny" });
    const owner = await tenant.user("owner");
    await tenant.user("member");
    // identity learns the tenant's plan from tenancy's events: from then on the third seat is refused
    const members = createClient(MembershipService, createGrpcTransport({ baseUrl: platform.identity.url }));
    const refused = await eventually(async () => {
      const call = members.createInvitation(
        {
          email: `third-${randomBytes(4).toString("hex")}@${tenant.slug}.test`,
          role: Role.MEMBER,
          tenantId: tenant.id,
        },
        as(await operatorToken("identity")),
      );
      const err = await rejection(call).catch(() => undefined);
      return err?.code === Code.ResourceExhausted ? err : undefined;
    }, "the seat quota");
    expectQuota(refused, "seats", 2);

    const opts = as(await owner.internalToken("projects"));
    const transport = createGrpcTransport({ baseUrl: platform.services.projects?.url ?? "" });
    const projects = createClient(ProjectService, transport);
    const tasks = createClient(TaskService, transport);
    const first = await projects.createProject({ key: "ALPHA", name: "Alpha" }, opts);
    await projects.createProject({ key: "BETA", name: "Beta" }, opts);
    expectQuota(await rejection(projects.createProject({ key: "GAMMA", name: "Gamma" }, opts)), "projects", 2);

    const projectId = first.project?.id ?? "";
    const text = "x".repeat(1500);
    await tasks.createTask({ projectId, title: "one", description: text }, opts);
    await tasks.createTask({ projectId, title: "two", description: text }, opts);
    expectQuota(
      await rejection(tasks.createTask({ projectId, title: "three", description: text }, opts)),
      "storage_bytes",
      4096,
    );
  });
});
