import { randomBytes, randomUUID } from "node:crypto";
import { join } from "node:path";
import { OperationState, TenantStatus, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseName, tenantNamespace } from "../../../services/tenancy/src/domain/compute/helm.ts";
// the CLI as an operator runs it: a child process with URLs and a credential in its environment
import { cleanEnv, runTenants, type TenantsRun } from "../../../tools/dev/test/cli-process.ts";
import { deploymentAvailable, pathOf, table } from "../../charts/install-support.ts";
import { type KubeObject, until } from "../../harness/index.ts";
import { chartCopy, chartVersion, type SiloRig, startSiloRig } from "./silo-support.ts";

/**
 * Fleet upgrades of silo tenants, end to end: three tenants installed by tenancy's `helm` driver
 * (real helm, real control plane with kwok nodes) at the chart's version A; tenancy then pointed at
 * a copy of the chart at version B and `./tessera tenants upgrade --all` rolls them all, canary
 * first; then at a broken version C whose pods the namespace's admission (ResourceQuota and
 * LimitRange of the plan) refuses: the canary's upgrade ends ROLLED_BACK with helm's reason, its
 * release back at B and healthy, and nobody else is touched.
 */

const STEP_TIMEOUT_MS = 120_000;
/** For the broken version: helm waits half of what remains of it, then rolls back. */
const SHORT_STEP_TIMEOUT_MS = 60_000;
const PLAN = "free";

let rig: SiloRig;
let env: NodeJS.ProcessEnv;
/** In creation order: the order `upgrade --all` takes them in. */
const tenants: Array<{ id: string; slug: string }> = [];
let versionA = "";
let versionB = "";
let versionC = "";

/** `0.1.0` → `0.<1+n>.0`. */
const bump = (v: string, n: number) => {
  const [major, minor] = v.split(/[.-]/).map(Number);
  return `${major}.${(minor ?? 0) + n}.0`;
};

const cli = (args: string[]): Promise<TenantsRun> => runTenants(["upgrade", ...args], env, 600_000);

const placementOf = async (id: string) => (await rig.tenancy.client.getTenant({ tenantId: id })).tenant?.placement;

/** The projects Deployment of a tenant: rolled out, and the chart version its pods come from. */
async function projectsOf(slug: string): Promise<{ available: boolean; chart: string }> {
  const d = (await rig.get("Deployment", tenantNamespace(slug), "projects")).body;
  return {
    available: deploymentAvailable(d),
    chart: d.spec?.template?.metadata?.labels?.["helm.sh/chart"] ?? "",
  };
}

/** Per tenant: the version before and after, the release's revision and status (printed by the tests). */
async function versions(before: ReadonlyMap<string, string>): Promise<string> {
  const rows: Array<Array<string | number>> = [["tenant", "before", "after", "revision", "release", "pods"]];
  for (const t of tenants) {
    const r = await rig.release(releaseName(t.slug));
    const p = await projectsOf(t.slug);
    rows.push([
      t.slug,
      before.get(t.id) ?? "-",
      (await placementOf(t.id))?.computeVersion ?? "-",
      r?.revision ?? "-",
      `${r?.status} ${r?.version}`,
      `${p.available ? "available" : "NOT available"} (${p.chart})`,
    ]);
  }
  return table(rows);
}

async function snapshot(): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const t of tenants) m.set(t.id, (await placementOf(t.id))?.computeVersion ?? "");
  return m;
}

beforeAll(async () => {
  rig = await startSiloRig({
    stepTimeoutMs: STEP_TIMEOUT_MS,
    clients: [{ id: "tessera-cli", roles: ["platform-admin"] }],
  });
  const credential = rig.platform.clients["tessera-cli"];
  env = cleanEnv({
    TESSERA_HOME: join(rig.scratch, "cli-home"),
    TESSERA_TENANCY_URL: rig.platform.services.tenancy?.url as string,
    TESSERA_IDENTITY_URL: rig.platform.identity.url,
    TESSERA_CLIENT_ID: credential?.id as string,
    TESSERA_CLIENT_SECRET: credential?.secret as string,
  });
  versionA = chartVersion(join(rig.charts, "tessera-tenant"));
  versionB = bump(versionA, 1);
  versionC = bump(versionA, 2);
}, 180_000);

afterAll(async () => {
  await rig?.stop();
});

describe("upgrading silo tenants: ./tessera tenants upgrade --all on a real control plane", () => {
  it(`installs three silo tenants at the chart's version`, async () => {
    const run = randomBytes(3).toString("hex");
    // one after another: creation order is the order the fleet upgrade takes
    for (const name of ["one", "two", "three"]) {
      const slug = `up${name}-${run}`;
      const res = await rig.tenancy.client.createTenant(
        { requestId: randomUUID(), slug, displayName: `Upgrade ${name}`, tier: Tier.SILO, plan: PLAN, region: "local" },
        { timeoutMs: 15_000 },
      );
      tenants.push({ id: res.tenant?.id as string, slug });
    }
    const t0 = Date.now();
    await until(
      "the three silo tenants active",
      async () => {
        for (const t of tenants) {
          const got = (await rig.tenancy.client.getTenant({ tenantId: t.id })).tenant;
          if (got?.status !== TenantStatus.ACTIVE) return undefined;
        }
        return true;
      },
      300_000,
    );
    console.log(`\nthree silo tenants active ${((Date.now() - t0) / 1000).toFixed(1)} s after CreateTenant`);
    for (const t of tenants) {
      expect((await placementOf(t.id))?.computeVersion).toBe(versionA);
      expect(await rig.release(releaseName(t.slug))).toMatchObject({ status: "deployed", version: versionA });
    }
  }, 360_000);

  it("rolls every tenant to version B, the named canary first, one at a time", async () => {
    const chartB = chartCopy(rig.charts, "tessera-tenant-b", versionB);
    await rig.platform.restart("tenancy", { TENANCY_TENANT_CHART: chartB });
    const before = await snapshot();
    const canary = tenants[1] as { id: string; slug: string };
    const t0 = Date.now();
    const run = await cli(["--all", "--canary", canary.slug, "--json"]);
    const took = (Date.now() - t0) / 1000;
    expect(run.code, `${run.stderr}\n${run.stdout}`).toBe(0);
    const doc = JSON.parse(run.stdout) as {
      upgraded: number;
      failed: number;
      canary: string;
      targetVersion: string;
      tenants: Array<{ slug: string; canary: boolean; result: string; versionBefore: string; versionAfter: string }>;
    };
    console.log(`\nupgrade --all to ${versionB}: ${took.toFixed(1)} s\n${await versions(before)}`);
    expect(doc).toMatchObject({ upgraded: 3, failed: 0, canary: canary.slug, targetVersion: versionB });
    // the canary first, then the others in creation order
    expect(doc.tenants.map((t) => t.slug)).toEqual([canary.slug, tenants[0]?.slug, tenants[2]?.slug]);
    expect(doc.tenants.map((t) => t.canary)).toEqual([true, false, false]);
    for (const t of doc.tenants)
      expect(t).toMatchObject({ result: "upgraded", versionBefore: versionA, versionAfter: versionB });

    for (const t of tenants) {
      expect(await rig.release(releaseName(t.slug))).toEqual({ status: "deployed", revision: 2, version: versionB });
      expect((await placementOf(t.id))?.computeVersion).toBe(versionB);
      // the pods were rolled: the Deployment's template is B's, and it is available
      expect(await projectsOf(t.slug)).toEqual({ available: true, chart: `tessera-tenant-${versionB}` });
      const { operation } = await rig.tenancy.client.getProvisioning({ tenantId: t.id });
      expect(operation).toMatchObject({ kind: "upgrade", state: OperationState.SUCCEEDED, phase: "done" });
    }

    // again: everybody is up to date, nothing is re-applied
    const again = await cli(["--all"]);
    console.log(`\nupgrade --all again:\n${again.stdout}`);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`0 upgraded, 3 up to date, 0 failed`);
    for (const t of tenants) expect(again.stdout).toMatch(new RegExp(`${t.slug}\\b.*up to date`));
    for (const t of tenants) expect((await rig.release(releaseName(t.slug)))?.revision).toBe(2);
  }, 600_000);

  it("a version whose pods admission refuses: the canary rolls back to B with helm's reason, the others are not attempted", async () => {
    // every container asks for 3 CPUs: above the plan's LimitRange maximum and its ResourceQuota
    const chartC = chartCopy(rig.charts, "tessera-tenant-c", versionC, (values) => {
      const edited = values
        .replace("    requests:\n      cpu: 100m\n", '    requests:\n      cpu: "3"\n')
        .replace('    limits:\n      cpu: "1"\n', '    limits:\n      cpu: "3"\n');
      expect(edited.match(/cpu: "3"/g)).toHaveLength(2);
      return edited;
    });
    await rig.platform.restart("tenancy", {
      TENANCY_TENANT_CHART: chartC,
      PROVISIONING_STEP_TIMEOUT_MS: String(SHORT_STEP_TIMEOUT_MS),
    });
    const before = await snapshot();
    const canary = tenants[0] as { id: string; slug: string };
    const t0 = Date.now();
    const run = await cli(["--all"]);
    const took = (Date.now() - t0) / 1000;
    console.log(
      `\nupgrade --all to broken ${versionC}: exit ${run.code} after ${took.toFixed(1)} s\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}\n${await versions(before)}`,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`the upgrade of ${canary.slug} (canary) to ${versionC} failed: rolled back:`);
    expect(run.stderr).toContain(`it runs ${versionB}`);
    expect(run.stderr).toContain(`2 tenants not attempted (${tenants[1]?.slug}, ${tenants[2]?.slug})`);
    expect(run.stdout).toContain("0 upgraded, 1 failed, 2 not attempted");

    // the operation ended ROLLED_BACK with helm's own text
    const { operation } = await rig.tenancy.client.getProvisioning({ tenantId: canary.id });
    expect(operation).toMatchObject({ kind: "upgrade", state: OperationState.ROLLED_BACK });
    console.log(`\nthe canary's last_error:\n  ${operation?.lastError}`);
    expect(operation?.lastError).toMatch(new RegExp(`^helm upgrade ${releaseName(canary.slug)}: Error: `));
    expect(operation?.lastError).toMatch(/rolled back/);
    // and why: the driver adds what the namespace's admission said about the new pods
    expect(operation?.lastError).toMatch(/FailedCreate: .*(maximum cpu usage per Container|exceeded quota)/);
    expect(run.stderr).toContain(operation?.lastError as string);

    // helm rolled the canary back to B (upgrade = revision 3, rollback = 4): deployed and healthy
    expect(await rig.release(releaseName(canary.slug))).toEqual({ status: "deployed", revision: 4, version: versionB });
    expect((await placementOf(canary.id))?.computeVersion).toBe(versionB);
    const healthy = await until("the canary's projects available at B", async () => {
      const p = await projectsOf(canary.slug);
      return p.available ? p : undefined;
    });
    expect(healthy.chart).toBe(`tessera-tenant-${versionB}`);
    // why C never became available: the namespace refused its pods
    const events = await rig.cluster.api.list<KubeObject>(pathOf("Event", tenantNamespace(canary.slug)));
    const refused = events.find((e) => e.reason === "FailedCreate" && /forbidden/.test(String(e.message ?? "")));
    console.log(`\nwhy version ${versionC} never became available:\n  ${refused?.message}`);
    expect(refused?.message).toMatch(/maximum cpu usage per Container|exceeded quota/);

    // nobody else was touched
    for (const t of tenants.slice(1)) {
      expect(await rig.release(releaseName(t.slug))).toEqual({ status: "deployed", revision: 2, version: versionB });
      expect((await placementOf(t.id))?.computeVersion).toBe(versionB);
      expect((await rig.tenancy.client.getProvisioning({ tenantId: t.id })).operation?.state).toBe(
        OperationState.SUCCEEDED,
      );
    }
  }, 300_000);
});
