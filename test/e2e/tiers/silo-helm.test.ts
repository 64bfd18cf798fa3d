import { randomBytes, randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type GetProvisioningResponse,
  OperationState,
  StepState,
  TenantStatus,
  Tier,
} from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { helmComputeDriver, releaseName, tenantNamespace } from "../../../services/tenancy/src/domain/compute/helm.ts";
import type { TenantSpec } from "../../../services/tenancy/src/domain/saga/drivers.ts";
import { deploymentAvailable, parseYamlText, pathOf, table } from "../../charts/install-support.ts";
import { type K8sObject, tools } from "../../charts/support.ts";
import {
  type KubeObject,
  type RunningCluster,
  type ServiceDatabase,
  type TestPlatform,
  until,
} from "../../harness/index.ts";
import { chartVersion, RELEASES, type SiloRig, startSiloRig } from "./silo-support.ts";
import { awaitOperation, databasesLike } from "./support.ts";

/**
 * Silo tenants through tenancy's `helm` compute driver, end to end: tenancy (a real process, as
 * startPlatform runs it, with the `local` database driver on the run's PostgreSQL and projects as
 * its routed data service) installs the tenant chart with the real helm onto a real control plane
 * (kube-apiserver, controller-manager, scheduler, kwok nodes), and deletes it again.
 */

const STEP_TIMEOUT_MS = 120_000;

let rig: SiloRig;
let cluster: RunningCluster;
let charts: string;
let scratch: string;
let helm: SiloRig["helm"];
let platform: TestPlatform;
let tenancy: SiloRig["tenancy"];
/** TENANCY_TENANT_CHART_VALUES: rewritten by the tests (a bad override, then a good one). */
let profile: string;

const hex = (id: string) => id.replaceAll("-", "");

beforeAll(async () => {
  rig = await startSiloRig({ stepTimeoutMs: STEP_TIMEOUT_MS });
  ({ cluster, charts, scratch, helm, platform, tenancy, profile } = rig);
}, 180_000);

afterAll(async () => {
  await rig?.stop();
});

const get = (kind: string, namespace: string | undefined, name: string) => rig.get(kind, namespace, name);

/** helm's record of a release: its status and revision, or undefined when there is none. */
async function releaseStatus(release: string): Promise<{ status: string; version: number } | undefined> {
  const r = await rig.release(release);
  return r && { status: r.status, version: r.revision };
}

const provisioning = (tenantId: string) => tenancy.client.getProvisioning({ tenantId }, { timeoutMs: 10_000 });
const stepOf = (res: GetProvisioningResponse, name: string) => res.steps.find((s) => s.name === name);

/** A driver of its own (as tenancy's main builds it), for what the saga does not do twice by itself. */
function directDriver(extraValues?: string) {
  return helmComputeDriver({
    helmBin: tools.helm,
    chart: join(charts, "tessera-tenant"),
    releaseNamespace: RELEASES,
    kubeconfig: cluster.kubeconfig,
    extraValues,
    timeoutMs: STEP_TIMEOUT_MS,
    killGraceMs: 10_000,
  });
}

describe("silo tenants through tenancy's helm driver on a real control plane", () => {
  let tenantId = "";
  let slug = "";
  let spec: TenantSpec;

  it("shows a helm failure in GetProvisioning's last_error with helm's text, retries it, and activates the tenant once it installs", async () => {
    // an operator's values override the chart refuses
    writeFileSync(profile, "namespace:\n  bogus: true\n");
    slug = `silo-${randomBytes(4).toString("hex")}`;
    const t0 = Date.now();
    const created = await tenancy.client.createTenant(
      { requestId: randomUUID(), slug, displayName: "Silo Co", tier: Tier.SILO, plan: "business", region: "local" },
      { timeoutMs: 15_000 },
    );
    tenantId = created.tenant?.id as string;
    expect(created.tenant?.status).toBe(TenantStatus.PROVISIONING);
    spec = { tenantId, slug, region: "local", plan: "business" };

    const failed = await until(
      "compute.install failing",
      async () => {
        const res = await provisioning(tenantId);
        return stepOf(res, "compute.install")?.state === StepState.FAILED ? res : undefined;
      },
      60_000,
    );
    const install = stepOf(failed, "compute.install");
    console.log(`\ncompute.install failed as it should, last_error:\n  ${install?.lastError}`);
    expect(install?.lastError).toMatch(/^helm upgrade --install tenant-silo-[0-9a-f]+: Error: /);
    expect(install?.lastError).toContain("values don't meet the specifications of the schema");
    expect(install?.lastError).toContain("bogus");
    expect(install?.nextAttemptTime).toBeDefined();
    // the real `local` database driver ran first: the dedicated database exists and is migrated
    expect(stepOf(failed, "database.create")?.state).toBe(StepState.DONE);
    expect(stepOf(failed, "database.migrate")?.state).toBe(StepState.DONE);
    const projectsDb = platform.databases.projects as ServiceDatabase;
    expect(await databasesLike(`${projectsDb.name}_t_${hex(tenantId)}`)).toHaveLength(1);
    expect(await releaseStatus(releaseName(slug))).toBeUndefined();

    // the operator fixes the file; the next retry installs
    writeFileSync(profile, "global:\n  logLevel: debug\n");
    const done = await until(
      "the saga completing",
      async () => {
        const res = await provisioning(tenantId);
        return res.complete ? res : undefined;
      },
      90_000,
    );
    console.log(`silo tenant active ${((Date.now() - t0) / 1000).toFixed(1)} s after CreateTenant`);
    expect(stepOf(done, "compute.install")?.attempts).toBeGreaterThan(1);
    expect(stepOf(done, "compute.install")?.lastError).toBe("");
    const tenant = (await tenancy.client.getTenant({ tenantId })).tenant;
    expect(tenant?.status).toBe(TenantStatus.ACTIVE);
    expect(tenant?.placement).toMatchObject({
      database: `main/t_${hex(tenantId)}`,
      namespace: tenantNamespace(slug),
    });
  }, 180_000);

  it("deployed the release into the tenant's namespace: labels, Pod Security restricted, ResourceQuota counting, Deployment available", async () => {
    const ns = tenantNamespace(slug);
    const release = releaseName(slug);
    expect(await releaseStatus(release)).toEqual({ status: "deployed", version: 1 });
    const values = JSON.parse(
      await helm.helmOk(["get", "values", release, "--namespace", RELEASES, "--output", "json"]),
    );
    expect(values.tenant).toEqual({ id: tenantId, slug, plan: "business", database: `main/t_${hex(tenantId)}` });
    expect(values.global).toEqual({ logLevel: "debug" });

    const namespace = await get("Namespace", undefined, ns);
    expect(namespace.status).toBe(200);
    expect(namespace.body.metadata.labels).toMatchObject({
      "tessera.io/tenant": tenantId,
      "tessera.io/tier": "silo",
      "pod-security.kubernetes.io/enforce": "restricted",
    });

    // every object helm applied (manifest and hooks) is there
    const parse = async (what: "manifest" | "hooks") =>
      parseYamlText(
        scratch,
        `${release}-${what}`,
        await helm.helmOk(["get", what, release, "--namespace", RELEASES]),
      ) as Promise<K8sObject[]>;
    const [manifest, hooks] = await Promise.all([parse("manifest"), parse("hooks")]);
    const rows: Array<Array<string | number>> = [["kind", "applied", "found live"]];
    const byKind = new Map<string, { applied: number; live: number }>();
    for (const o of [...manifest, ...hooks]) {
      const res = await get(o.kind, o.metadata.namespace, o.metadata.name);
      const deletedHook =
        hooks.includes(o) && /hook-succeeded/.test(o.metadata.annotations?.["helm.sh/hook-delete-policy"] ?? "");
      const k = byKind.get(o.kind) ?? { applied: 0, live: 0 };
      k.applied++;
      if (res.status === 200 || (deletedHook && res.status === 404)) k.live++;
      byKind.set(o.kind, k);
    }
    for (const [kind, n] of [...byKind].sort()) rows.push([kind, n.applied, n.live]);
    const applied = manifest.length + hooks.length;
    const live = [...byKind.values()].reduce((a, n) => a + n.live, 0);
    console.log(
      `\nrelease ${release}: ${applied} objects applied (${manifest.length} manifest, ${hooks.length} hooks), ${live} checked live\n${table(rows)}`,
    );
    expect(live).toBe(applied);
    expect(manifest.every((o) => o.metadata.namespace === ns || o.kind === "Namespace")).toBe(true);

    // the Deployment rolled out; the quota counts its pods
    const deployment = manifest.find((o) => o.kind === "Deployment" && o.metadata.name === "projects");
    if (!deployment) throw new Error("no projects Deployment in the release");
    const rolled = await until("projects available", async () => {
      const d = (await get("Deployment", ns, "projects")).body;
      return deploymentAvailable(d) ? d : undefined;
    });
    const quota = await until(
      "the ResourceQuota counting the tenant's pods",
      async () => {
        const q = (await get("ResourceQuota", ns, "tessera-quota")).body;
        const pods = await cluster.api.list<KubeObject>(`${pathOf("Pod", ns)}?fieldSelector=status.phase%3DRunning`);
        return Number(q.status?.used?.pods ?? 0) === pods.length && pods.length > 0 ? q : undefined;
      },
      30_000,
    );
    expect(Number(quota.status.used.pods)).toBeGreaterThanOrEqual(rolled.spec.replicas);
    expect(quota.status.used["requests.cpu"]).not.toBe("0");
    expect(quota.status.hard.pods).toBeDefined();
    // Pod Security "restricted" is enforced, not only labelled
    const refused = await cluster.api.request<{ message?: string }>("POST", pathOf("Pod", ns), {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "privileged" },
      spec: {
        containers: [
          {
            name: "c",
            image: "registry.invalid/x:1",
            securityContext: { privileged: true },
            resources: { limits: { cpu: "100m", memory: "64Mi" } },
          },
        ],
      },
    });
    expect(refused.status).toBe(403);
    expect(refused.body.message).toContain('violates PodSecurity "restricted:latest"');
  }, 90_000);

  it("install again (a saga re-run) upgrades the same release in place", async () => {
    const driver = directDriver(profile);
    const again = await driver.install(spec, `main/t_${hex(tenantId)}`, AbortSignal.timeout(STEP_TIMEOUT_MS));
    expect(again).toEqual({
      namespace: tenantNamespace(slug),
      // from the release's computed values: the projects component's Service on its gRPC port
      endpoints: { projects: `http://projects.${tenantNamespace(slug)}.svc.cluster.local:50064` },
      version: chartVersion(join(charts, "tessera-tenant")),
    });
    // the saga recorded the same in the directory
    expect((await tenancy.client.getTenant({ tenantId })).tenant?.placement).toMatchObject({
      endpoints: again.endpoints,
      computeVersion: again.version,
    });
    expect(await releaseStatus(releaseName(slug))).toEqual({ status: "deployed", version: 2 });
    const d = (await get("Deployment", tenantNamespace(slug), "projects")).body;
    expect(deploymentAvailable(d)).toBe(true);
  }, 90_000);

  it("offboarding and DeleteTenant uninstall the release and delete the namespace, then drop the database", async () => {
    const t0 = Date.now();
    await tenancy.client.offboardTenant({ tenantId, reason: "contract ended" });
    const deleting = await tenancy.client.deleteTenant({ tenantId });
    expect(deleting.operation?.kind).toBe("delete");
    const res = await awaitOperation(tenancy.client, tenantId, 120_000);
    expect(res.operation?.state, res.operation?.lastError).toBe(OperationState.SUCCEEDED);
    console.log(`\ndeletion done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect((await tenancy.client.getTenant({ tenantId })).tenant?.status).toBe(TenantStatus.DELETED);
    expect(await releaseStatus(releaseName(slug))).toBeUndefined();
    expect((await get("Namespace", undefined, tenantNamespace(slug))).status).toBe(404);
    const projectsDb = platform.databases.projects as ServiceDatabase;
    expect(await databasesLike(`${projectsDb.name}_t_${hex(tenantId)}`)).toEqual([]);
    // uninstall again (a retried phase): release and namespace already gone is fine
    await directDriver().uninstall(spec, AbortSignal.timeout(STEP_TIMEOUT_MS));
  }, 150_000);

  it("stops helm when the step is aborted (the release is left failed), and the next install converges", async () => {
    const hang = join(scratch, "unschedulable.yaml");
    // pods that no node takes: helm --wait would wait out its timeout
    writeFileSync(hang, 'defaults:\n  nodeSelector:\n    tessera.io/nowhere: "true"\n');
    const other: TenantSpec = {
      tenantId: randomUUID(),
      slug: `abort-${randomBytes(4).toString("hex")}`,
      region: "local",
      plan: "free",
    };
    const abort = new AbortController();
    const started = Date.now();
    const install = directDriver(hang).install(other, "", abort.signal);
    await until("the tenant's namespace created by helm", async () => {
      return (await get("Namespace", undefined, tenantNamespace(other.slug))).status === 200;
    });
    abort.abort(new Error("step deadline"));
    await expect(install).rejects.toThrow(/helm upgrade --install tenant-abort-[0-9a-f]+: stopped \(step deadline\)/);
    const stoppedMs = Date.now() - started;
    const left = await releaseStatus(releaseName(other.slug));
    console.log(`\naborted install stopped after ${(stoppedMs / 1000).toFixed(1)} s; release left ${left?.status}`);
    // helm records `failed` when it gets to it before it is killed, else the release stays pending
    // (the driver knows it stopped that helm and settles the release on the next install)
    expect(["failed", "pending-install"]).toContain(left?.status);

    await directDriver().install(other, "", AbortSignal.timeout(STEP_TIMEOUT_MS));
    expect((await releaseStatus(releaseName(other.slug)))?.status).toBe("deployed");
    await directDriver().uninstall(other, AbortSignal.timeout(STEP_TIMEOUT_MS));
    expect(await releaseStatus(releaseName(other.slug))).toBeUndefined();
    expect((await get("Namespace", undefined, tenantNamespace(other.slug))).status).toBe(404);
  }, 150_000);

  it("refuses to delete a tenant namespace that is labelled for another tenant", async () => {
    const victim = `victim-${randomBytes(4).toString("hex")}`;
    const owner = randomUUID();
    await cluster.api.create("/api/v1/namespaces", {
      metadata: { name: tenantNamespace(victim), labels: { "tessera.io/tenant": owner } },
    });
    const impostor: TenantSpec = { tenantId: randomUUID(), slug: victim, region: "local", plan: "free" };
    await expect(directDriver().uninstall(impostor, AbortSignal.timeout(30_000))).rejects.toThrow(
      `namespace ${tenantNamespace(victim)} is labelled tessera.io/tenant=${owner}, not this tenant`,
    );
    expect((await get("Namespace", undefined, tenantNamespace(victim))).status).toBe(200);
  }, 60_000);
});
