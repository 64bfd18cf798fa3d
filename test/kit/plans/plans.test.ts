import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { QuotaExceeded, toConnectError } from "@tessera/platform/errors";
import {
  CATALOGUE,
  DEFAULT_PLAN,
  DEFAULT_PLANS_FILE,
  findPlan,
  getPlan,
  isPlanId,
  loadPlanCatalogue,
  PLAN_IDS,
  PLANS,
  PlanCatalogueError,
  parsePlanFile,
  plansFilePath,
  planToProto,
  requireWithinQuota,
  resolvedQuotaSource,
  UNLIMITED,
  withinQuota,
} from "@tessera/platform/plans";
import type { TenantResolver } from "@tessera/platform/tenancy-client";
import { QuotaFailureSchema } from "@tessera/proto/google/rpc/error_details_pb";
import { type Tenant, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { afterAll, describe, expect, it } from "vitest";

const repoRoot = new URL("../../../", import.meta.url).pathname;
const shipped = readFileSync(join(repoRoot, "config/plans.yaml"), "utf8");
const tiny = join(repoRoot, "test/fixtures/plans/tiny.yaml");
const scratch = mkdtempSync(join(tmpdir(), "tessera-plans-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The problems parsePlanFile reports for `text`. */
function problemsOf(text: string): string[] {
  try {
    parsePlanFile(text, "test.yaml");
  } catch (err) {
    expect(err).toBeInstanceOf(PlanCatalogueError);
    return [...(err as PlanCatalogueError).problems];
  }
  return expect.fail("the file was accepted");
}

describe("plan catalogue (config/plans.yaml)", () => {
  it("ships free, team, business and enterprise, cheapest first, read from the repository's config/plans.yaml", () => {
    expect(PLANS.map((p) => p.id)).toEqual(["free", "team", "business", "enterprise"]);
    expect([...PLAN_IDS]).toEqual(PLANS.map((p) => p.id));
    expect(DEFAULT_PLANS_FILE).toBe(join(repoRoot, "config/plans.yaml"));
    expect(CATALOGUE.source).toBe(plansFilePath());
    expect(DEFAULT_PLAN.id).toBe("free");
    expect(PLANS.map((p) => p.defaultTier)).toEqual(["pool", "pool", "bridge", "silo"]);
  });

  it("never lowers a quota or a size from one plan to the next", () => {
    const keys = Object.keys(PLANS[0]?.quotas ?? {}) as Array<keyof (typeof PLANS)[number]["quotas"]>;
    expect(keys).toHaveLength(6);
    for (let i = 1; i < PLANS.length; i++) {
      for (const key of keys) {
        const lower = PLANS[i - 1]?.quotas[key] as number;
        const higher = PLANS[i]?.quotas[key] as number;
        if (higher === UNLIMITED) continue;
        expect(lower, `${PLANS[i]?.id}.${key}`).not.toBe(UNLIMITED);
        expect(higher, `${PLANS[i]?.id}.${key}`).toBeGreaterThanOrEqual(lower);
      }
      const [a, b] = [PLANS[i - 1]?.kubernetes, PLANS[i]?.kubernetes];
      expect(b?.autoscaling.maxReplicas ?? 0, PLANS[i]?.id).toBeGreaterThanOrEqual(a?.autoscaling.maxReplicas ?? 0);
      expect(Number(b?.resourceQuota.pods), PLANS[i]?.id).toBeGreaterThanOrEqual(Number(a?.resourceQuota.pods));
    }
  });

  it("looks plans up by id and refuses unknown ids", () => {
    expect(getPlan("team").displayName).toBe("Team");
    expect(findPlan("platinum")).toBeUndefined();
    expect(() => getPlan("platinum")).toThrow(/unknown plan "platinum": plans are free, team, business, enterprise/);
    expect(isPlanId("enterprise")).toBe(true);
    expect(isPlanId("Enterprise")).toBe(false);
    expect(isPlanId(undefined)).toBe(false);
    expect(isPlanId("toString")).toBe(false);
  });

  it("cannot be changed at run time", () => {
    const free = getPlan("free");
    expect(() => {
      (free.quotas as { seats: number }).seats = 1_000;
    }).toThrow(TypeError);
    expect(() => {
      (free.kubernetes.resourceQuota as Record<string, string>).pods = "1000";
    }).toThrow(TypeError);
    expect(() => (PLANS as unknown as unknown[]).push({})).toThrow(TypeError);
    expect(getPlan("free").quotas.seats).toBe(3);
  });

  it("checks usage against limits, with -1 as unlimited and 0 as none", () => {
    expect(withinQuota(3, 3)).toBe(true);
    expect(withinQuota(3, 4)).toBe(false);
    expect(withinQuota(0, 1)).toBe(false);
    expect(withinQuota(UNLIMITED, 1_000_000)).toBe(true);
  });

  it("converts to the contract's Plan message, default tier included", () => {
    const msg = planToProto(getPlan("enterprise"));
    expect(msg.id).toBe("enterprise");
    expect(msg.quotas?.seats).toBe(-1n);
    expect(msg.quotas?.storageBytes).toBe(BigInt(getPlan("enterprise").quotas.storageBytes));
    expect(msg.defaultTier).toBe(Tier.SILO);
    expect(planToProto(getPlan("free")).defaultTier).toBe(Tier.POOL);
  });
});

describe("catalogue file validation", () => {
  it("accepts the shipped file and the tiny test fixture", () => {
    expect(parsePlanFile(shipped).plans).toHaveLength(4);
    const t = loadPlanCatalogue(tiny);
    expect(t.ids).toEqual(["tiny", "roomy"]);
    expect(t.defaultPlan.quotas.projects).toBe(2);
    expect(t.source).toBe(tiny);
  });

  it("reports every problem with its path, and refuses unknown keys", () => {
    const broken = shipped
      .replace("seats: 3", "seats: -2")
      .replace("displayName: Team", 'displayName: ""')
      .replace("defaultTier: bridge", "defaultTier: moon")
      .replace("requestsPerMinute: 60\n", "requestsPerMinute: 60\n      cpuHours: 5\n")
      .replace("replicas: 3", "replicas: 0")
      .replace('max: { cpu: "1", memory: 1Gi }', "max: { cpu: lots, memory: 1Gi }")
      .replace("autoscaling: { minReplicas: 2, maxReplicas: 4 }", "autoscaling: { minReplicas: 4, maxReplicas: 2 }");
    const problems = problemsOf(broken);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^plans\[0\]\.quotas\.seats: /),
        expect.stringMatching(/^plans\[0\]\.quotas: .*\(cpuHours\)$/),
        expect.stringMatching(/^plans\[0\]\.kubernetes\.limitRange\.max\.cpu: must be a Kubernetes quantity/),
        expect.stringMatching(/^plans\[1\]\.displayName: must not be empty/),
        expect.stringMatching(/^plans\[1\]\.kubernetes\.autoscaling\.maxReplicas: must not be below minReplicas/),
        expect.stringMatching(/^plans\[2\]\.defaultTier: must be one of pool, bridge, silo/),
        expect.stringMatching(/^plans\[3\]\.kubernetes\.replicas: /),
      ]),
    );
    expect(problems).toHaveLength(7);
  });

  it("refuses duplicate ids, a default plan that is not in the file, storage set twice, and a top-level unknown key", () => {
    const problems = problemsOf(
      shipped
        .replace("defaultPlan: free", "defaultPlan: gold\nplan: oops")
        .replace("- id: team", "- id: free")
        .replace('pods: "20"', 'pods: "20"\n        requests.storage: 1Gi'),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\(file\): .*\(plan\)$/),
        expect.stringMatching(/^plans\[1\]\.id: duplicate id free$/),
        expect.stringMatching(
          /^plans\[0\]\.kubernetes\.resourceQuota: requests\.storage comes from quotas\.storageBytes/,
        ),
      ]),
    );
    expect(problemsOf("defaultPlan: gold\nplans: []\n")).toEqual(["plans: must list at least one plan"]);
    expect(problemsOf(shipped.replace("defaultPlan: free", "defaultPlan: gold"))).toEqual([
      "defaultPlan: names no plan of the file (plans are free, team, business, enterprise)",
    ]);
  });

  it("reports YAML errors (duplicate keys included) with their line", () => {
    const [problem] = problemsOf("defaultPlan: free\ndefaultPlan: team\nplans: []\n");
    expect(problem).toMatch(/^line 2, column 1: .*[Mm]ap keys must be unique/);
    expect(problemsOf("plans: [\n")[0]).toMatch(/^line \d+/);
  });

  it("names the file it cannot read", () => {
    expect(() => loadPlanCatalogue(join(scratch, "missing.yaml"))).toThrow(
      /invalid plan catalogue .*missing\.yaml:\n {2}- cannot read the file/,
    );
  });

  it("is read from TESSERA_PLANS_FILE when set: a process with an invalid file does not start", () => {
    const probe = `import { PLANS, DEFAULT_PLAN } from "@tessera/platform/plans";
      process.stdout.write(JSON.stringify({ ids: PLANS.map((p) => p.id), def: DEFAULT_PLAN.id }));`;
    const run = (file: string) =>
      execFileSync(process.execPath, ["--input-type=module", "-e", probe], {
        cwd: join(repoRoot, "platform"),
        env: { ...process.env, TESSERA_PLANS_FILE: file },
        stdio: ["ignore", "pipe", "pipe"],
      }).toString();
    expect(JSON.parse(run(tiny))).toEqual({ ids: ["tiny", "roomy"], def: "tiny" });
    const bad = join(scratch, "bad.yaml");
    writeFileSync(bad, shipped.replace("seats: 25", "seats: many"));
    let stderr = "";
    try {
      run(bad);
    } catch (err) {
      stderr = String((err as { stderr?: Buffer }).stderr);
    }
    expect(stderr).toContain(`invalid plan catalogue ${bad}`);
    expect(stderr).toContain("plans[1].quotas.seats: must be a whole number (-1 for unlimited)");
  });
});

describe("quota enforcement helpers", () => {
  it("refuses a change beyond a quota with RESOURCE_EXHAUSTED naming the quota and limit, and a QuotaFailure detail", () => {
    const free = getPlan("free");
    expect(() => requireWithinQuota(free, "projects", 3)).not.toThrow();
    expect(() => requireWithinQuota(getPlan("enterprise"), "projects", 1e9)).not.toThrow();
    let thrown: unknown;
    try {
      requireWithinQuota(free, "projects", 4);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(QuotaExceeded);
    const connect = toConnectError(thrown);
    expect(connect.code).toBe(Code.ResourceExhausted);
    expect(connect.rawMessage).toBe("quota exceeded: projects (limit 3 on plan free)");
    const [failure] = connect.findDetails(QuotaFailureSchema);
    expect(failure?.violations[0]).toMatchObject({
      quotaMetric: "projects",
      quotaValue: 3n,
      quotaDimensions: { plan: "free" },
    });
  });

  it("reads a tenant's plan through the resolver: unknown tenants and plans get the default plan, an unreachable tenancy UNAVAILABLE", async () => {
    const tenants: Record<string, string> = { a: "business", b: "platinum" };
    const resolver = {
      byId: async (id: string) => {
        if (id === "down") throw new ConnectError("connect ECONNREFUSED", Code.Unavailable);
        const plan = tenants[id];
        return plan === undefined ? undefined : ({ id, plan } as Tenant);
      },
    } as unknown as TenantResolver;
    const warnings: unknown[] = [];
    const logger = { warn: (...args: unknown[]) => warnings.push(args) } as never;
    const source = resolvedQuotaSource(resolver, { logger });
    expect((await source("a")).id).toBe("business");
    expect((await source("b")).id).toBe("free");
    expect((await source("nobody")).id).toBe("free");
    expect(warnings.length).toBeGreaterThan(0);
    const err = await source("down").catch((e: unknown) => e);
    expect(toConnectError(err).code).toBe(Code.Unavailable);
    const tinySource = resolvedQuotaSource(resolver, { catalogue: loadPlanCatalogue(tiny), logger });
    expect((await tinySource("a")).id).toBe("tiny");
  });
});
