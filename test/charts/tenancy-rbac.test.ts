import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type KubeApi, kubeApi } from "@tessera/dev/cluster";
import {
  type KubeObject,
  type RunningCluster,
  requireClusterBinaries,
  startCluster,
  until,
} from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, it as vitestIt } from "vitest";
import { helmComputeDriver, releaseName, tenantNamespace } from "../../services/tenancy/src/domain/compute/helm.ts";
import type { TenantSpec } from "../../services/tenancy/src/domain/saga/drivers.ts";
import { deploymentAvailable, table } from "./install-support.ts";
import {
  type K8sObject,
  parseYamlFiles,
  prepareCharts,
  type RunResult,
  requireTools,
  run,
  runOk,
  template,
  tools,
  valueSets,
} from "./support.ts";

/**
 * tenancy's `helm` compute driver with exactly the Kubernetes access the platform chart gives it
 * (tenancy.compute.driver=helm): the rendered ServiceAccount, Role, ClusterRole, bindings and
 * ValidatingAdmissionPolicy applied to a real control plane, a token for the ServiceAccount from the
 * TokenRequest API, and with only that token the driver installs a silo tenant (`helm upgrade
 * --install --wait`), helm upgrades and rolls it back, and the driver uninstalls it and deletes its
 * namespace. Then what tenancy does not need is refused: by RBAC (403 on real calls, and
 * SelfSubjectAccessReviews), and by the admission policy where RBAC cannot say it (writes outside
 * silo tenant namespaces).
 */

const PLATFORM_NAMESPACE = "tessera-system";
const RELEASE_NAMESPACE = "tessera-tenants";
const SERVICE_ACCOUNT = "tessera-tenancy";
const STEP_TIMEOUT_MS = 150_000;

let cluster: RunningCluster;
let charts: string;
let scratch: string;
let setupError: unknown;
/** The platform chart's objects for tenancy's compute driver, as rendered. */
let rendered: K8sObject[] = [];
/** The API as tenancy's ServiceAccount, and its kubeconfig file. */
let sa: KubeApi;
let saKubeconfig: string;
/** The tenant chart values the platform chart gives every tenant release (its ConfigMap's file). */
let tenantValuesFile: string;
/** The tenant chart as a package. */
let packagedChart: string;

/** Where the kinds this test applies live in the API. */
const API: Record<string, { base: string; plural: string; namespaced: boolean }> = {
  Namespace: { base: "/api/v1", plural: "namespaces", namespaced: false },
  ServiceAccount: { base: "/api/v1", plural: "serviceaccounts", namespaced: true },
  ConfigMap: { base: "/api/v1", plural: "configmaps", namespaced: true },
  Role: { base: "/apis/rbac.authorization.k8s.io/v1", plural: "roles", namespaced: true },
  RoleBinding: { base: "/apis/rbac.authorization.k8s.io/v1", plural: "rolebindings", namespaced: true },
  ClusterRole: { base: "/apis/rbac.authorization.k8s.io/v1", plural: "clusterroles", namespaced: false },
  ClusterRoleBinding: { base: "/apis/rbac.authorization.k8s.io/v1", plural: "clusterrolebindings", namespaced: false },
  ValidatingAdmissionPolicy: {
    base: "/apis/admissionregistration.k8s.io/v1",
    plural: "validatingadmissionpolicies",
    namespaced: false,
  },
  ValidatingAdmissionPolicyBinding: {
    base: "/apis/admissionregistration.k8s.io/v1",
    plural: "validatingadmissionpolicybindings",
    namespaced: false,
  },
};
const collection = (kind: string, namespace?: string) => {
  const r = API[kind];
  if (!r) throw new Error(`no API path for ${kind}`);
  return `${r.base}${r.namespaced ? `/namespaces/${namespace}` : ""}/${r.plural}`;
};

/** The kinds of tenancy's access (and its own ServiceAccount), applied in this order. */
const APPLIED = [
  "Namespace",
  "ServiceAccount",
  "Role",
  "RoleBinding",
  "ClusterRole",
  "ClusterRoleBinding",
  "ValidatingAdmissionPolicy",
  "ValidatingAdmissionPolicyBinding",
];

/** Objects of the render that make up tenancy's access (its ServiceAccount and what binds to it). */
function accessObjects(objects: K8sObject[]): K8sObject[] {
  return objects.filter(
    (o) =>
      (o.kind === "ServiceAccount" && o.metadata.name === SERVICE_ACCOUNT) ||
      (o.kind === "Namespace" && o.metadata.name === RELEASE_NAMESPACE) ||
      (APPLIED.includes(o.kind) && !["Namespace", "ServiceAccount"].includes(o.kind)),
  );
}

function kubeconfigFor(server: string, ca: string, token: string): string {
  return `${JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "c", cluster: { server, "certificate-authority-data": Buffer.from(ca).toString("base64") } }],
    users: [{ name: "tenancy", user: { token } }],
    contexts: [{ name: "c", context: { cluster: "c", user: "tenancy" } }],
    "current-context": "c",
  })}\n`;
}

beforeAll(async () => {
  try {
    requireTools("helm", "python");
    requireClusterBinaries();
    const [started, prepared] = await Promise.allSettled([startCluster(), prepareCharts()]);
    if (started.status === "fulfilled") cluster = started.value;
    if (prepared.status === "fulfilled") charts = prepared.value;
    if (started.status === "rejected") throw started.reason;
    if (prepared.status === "rejected") throw prepared.reason;
    scratch = mkdtempSync(join(tmpdir(), "tessera-tenancy-rbac-"));
    // the tenant chart packaged, as tenancy's image carries it (services/tenancy/Dockerfile)
    await runOk(tools.helm, ["package", join(charts, "tessera-tenant"), "--destination", scratch]);
    packagedChart = join(scratch, "tessera-tenant.tgz");
    const pkg = readdirSync(scratch).find((f) => /^tessera-tenant-.+\.tgz$/.test(f));
    if (!pkg) throw new Error(`helm package left no tessera-tenant-<version>.tgz in ${scratch}`);
    renameSync(join(scratch, pkg), packagedChart);
    // helm's own folders (the driver passes HELM_* through), away from the user's
    for (const d of ["cache", "config", "data"])
      process.env[`HELM_${d.toUpperCase()}_HOME`] = join(scratch, `helm-${d}`);

    const set = valueSets(charts).find((s) => s.chart === "tessera-platform" && s.name === "pool-default");
    if (!set) throw new Error("no tessera-platform/ci/pool-default-values.yaml");
    const file = join(scratch, "platform.yaml");
    writeFileSync(
      file,
      await template(charts, set, [
        "--set",
        "tenancy.compute.driver=helm",
        "--set",
        `tenancy.compute.releaseNamespace=${RELEASE_NAMESPACE}`,
      ]),
    );
    rendered = ((await parseYamlFiles([file]))[file] ?? []) as K8sObject[];
    const values = rendered.find((o) => o.kind === "ConfigMap" && o.metadata.name === "tessera-tenancy-tenant-values");
    if (!values) throw new Error("the platform chart renders no tenant values ConfigMap with the helm driver");
    tenantValuesFile = join(scratch, "tenant-values.yaml");
    writeFileSync(tenantValuesFile, (values.data as Record<string, string>)["values.yaml"] ?? "");

    // the platform's namespace, then tenancy's access exactly as rendered
    await cluster.api.create(collection("Namespace"), { metadata: { name: PLATFORM_NAMESPACE } });
    const access = accessObjects(rendered).sort((a, b) => APPLIED.indexOf(a.kind) - APPLIED.indexOf(b.kind));
    for (const o of access) await cluster.api.create(collection(o.kind, o.metadata.namespace), o);

    const token = await cluster.api.create<{ status: { token: string } }>(
      `${collection("ServiceAccount", PLATFORM_NAMESPACE)}/${SERVICE_ACCOUNT}/token`,
      { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } },
    );
    saKubeconfig = join(scratch, "tenancy.kubeconfig");
    writeFileSync(saKubeconfig, kubeconfigFor(cluster.server, cluster.ca, token.status.token), { mode: 0o600 });
    sa = kubeApi({ server: cluster.server, ca: cluster.ca, token: token.status.token });
    // the admission policy is in force once the API server's policy informer has it
    await until("tenancy's admission policy in force", async () => {
      const res = await sa.request("POST", `${collection("Namespace")}?dryRun=All`, {
        metadata: { name: "policy-probe", labels: { "tessera.io/tier": "silo" } },
      });
      return res.status === 403 && JSON.stringify(res.body).includes("tenancy may write only");
    });
  } catch (err) {
    setupError = err;
  }
}, 240_000);

afterAll(async () => {
  sa?.close();
  await cluster?.stop();
  if (charts) rmSync(dirname(charts), { recursive: true, force: true });
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** A test that fails (never skips) with the setup's error, e.g. "run scripts/bootstrap". */
function it(name: string, fn: () => unknown, timeoutMs?: number) {
  vitestIt(
    name,
    async () => {
      if (setupError) throw setupError;
      await fn();
    },
    timeoutMs,
  );
}

/** The real helm as tenancy's ServiceAccount. */
function helmAsTenancy(args: readonly string[]): Promise<RunResult> {
  return run(tools.helm, [...args, "--kubeconfig", saKubeconfig], {
    timeoutMs: 150_000,
    env: { PATH: process.env.PATH, HOME: scratch, ...helmDirs() },
  });
}
const helmDirs = () =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => /^HELM_(CACHE|CONFIG|DATA)_HOME$/.test(k)));

/** What tenancy's ServiceAccount may do, by the API server's own answer. */
async function allowed(attributes: Record<string, string>): Promise<boolean> {
  const res = await sa.create<{ status: { allowed: boolean } }>(
    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SelfSubjectAccessReview",
      spec: { resourceAttributes: attributes },
    },
  );
  return res.status.allowed;
}

const message = (body: unknown) =>
  body && typeof body === "object" && "message" in body ? String((body as { message: unknown }).message) : "";

describe("tenancy's helm compute driver with the platform chart's RBAC, on a real control plane", () => {
  const slug = `rbac-${randomBytes(3).toString("hex")}`;
  const spec: TenantSpec = { tenantId: randomUUID(), slug, region: "local", plan: "business" };
  const database = `main/t_${randomBytes(16).toString("hex")}`;
  const namespace = tenantNamespace(slug);
  const release = releaseName(slug);
  const driver = () =>
    helmComputeDriver({
      helmBin: tools.helm,
      chart: packagedChart,
      releaseNamespace: RELEASE_NAMESPACE,
      kubeconfig: saKubeconfig,
      extraValues: tenantValuesFile,
      timeoutMs: STEP_TIMEOUT_MS,
    });

  it("renders the access the test applies: the ServiceAccount, a Role, a ClusterRole, their bindings and the admission policy", () => {
    expect(
      accessObjects(rendered)
        .map((o) => o.kind)
        .sort(),
    ).toEqual([...APPLIED].sort());
  });

  it("installs and upgrades a silo tenant through the driver with only tenancy's token, and helm upgrades and rolls it back", async () => {
    const t0 = Date.now();
    const state = await driver().install(spec, database, AbortSignal.timeout(STEP_TIMEOUT_MS));
    const installSeconds = ((Date.now() - t0) / 1000).toFixed(1);
    expect(state.namespace).toBe(namespace);

    const ns = await cluster.api.get(`${collection("Namespace")}/${namespace}`);
    expect(ns.metadata.labels?.["tessera.io/tenant"]).toBe(spec.tenantId);
    expect(ns.metadata.labels?.["tessera.io/tier"]).toBe("silo");
    const deployments = await cluster.api.list(`/apis/apps/v1/namespaces/${namespace}/deployments`);
    expect(deployments.map((d) => d.metadata.name)).toEqual(["projects"]);
    expect(deployments.every(deploymentAvailable)).toBe(true);
    // the release record is in the release namespace, nowhere else
    const records = (ns: string) =>
      cluster.api.list(
        `/api/v1/namespaces/${ns}/secrets?labelSelector=${encodeURIComponent(`owner=helm,name=${release}`)}`,
      );
    expect((await records(RELEASE_NAMESPACE)).map((s) => s.metadata.name)).toEqual([
      `sh.helm.release.v1.${release}.v1`,
    ]);
    expect(await records(PLATFORM_NAMESPACE)).toEqual([]);
    // the platform's values reached the release: the tenant's services call this platform's identity
    const projects = deployments[0] as KubeObject;
    const env = projects.spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>;
    expect(env.find((e) => e.name === "AUTH_JWKS_URL")?.value).toContain(`.${PLATFORM_NAMESPACE}.svc.cluster.local`);
    // the driver reads the namespace's Warning events to explain a failed rollout
    const warnings = await sa.request(
      "GET",
      `/api/v1/namespaces/${namespace}/events?fieldSelector=${encodeURIComponent("type=Warning")}`,
    );
    expect(warnings.status, message(warnings.body)).toBe(200);

    // the driver's own upgrade (helm upgrade --rollback-on-failure --wait, then what runs from the release)
    const t1 = Date.now();
    const again = await driver().upgrade(spec, database, AbortSignal.timeout(STEP_TIMEOUT_MS));
    expect(again.namespace).toBe(namespace);
    // an upgrade with changed values rolls the Deployment; a rollback restores the previous revision
    const chart = packagedChart;
    const upgraded = await helmAsTenancy([
      "upgrade",
      release,
      chart,
      "--namespace",
      RELEASE_NAMESPACE,
      "--reuse-values",
      "--set",
      "global.logLevel=debug",
      "--wait",
      "--timeout",
      "120s",
    ]);
    expect(upgraded.code, upgraded.stderr).toBe(0);
    const logLevel = async () => {
      const d = await cluster.api.get(`/apis/apps/v1/namespaces/${namespace}/deployments/projects`);
      return (d.spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>).find(
        (e) => e.name === "LOG_LEVEL",
      )?.value;
    };
    expect(await logLevel()).toBe("debug");
    const rolledBack = await helmAsTenancy([
      "rollback",
      release,
      "--namespace",
      RELEASE_NAMESPACE,
      "--wait",
      "--timeout",
      "120s",
    ]);
    expect(rolledBack.code, rolledBack.stderr).toBe(0);
    expect(await logLevel()).toBe("info");
    const status = await helmAsTenancy(["status", release, "--namespace", RELEASE_NAMESPACE, "--output", "json"]);
    expect((JSON.parse(status.stdout) as { version: number; info: { status: string } }).info.status).toBe("deployed");
    console.log(
      `\ntenancy's token: install ${installSeconds} s, upgrades + rollback ${((Date.now() - t1) / 1000).toFixed(1)} s`,
    );
  }, 420_000);

  it("uninstalls the tenant with only tenancy's token: release gone, namespace deleted", async () => {
    expect((await cluster.api.request("GET", `${collection("Namespace")}/${namespace}`)).status, "installed").toBe(200);
    await driver().uninstall(spec, AbortSignal.timeout(STEP_TIMEOUT_MS));
    const ns = await cluster.api.request("GET", `${collection("Namespace")}/${namespace}`);
    expect(ns.status).toBe(404);
    const records = await cluster.api.list(
      `/api/v1/namespaces/${RELEASE_NAMESPACE}/secrets?labelSelector=${encodeURIComponent(`owner=helm,name=${release}`)}`,
    );
    expect(records).toEqual([]);
  }, 240_000);

  it("is refused by RBAC what it does not need (real calls answer 403)", async () => {
    const denied: Array<[string, string, string, unknown?]> = [
      ["read a Secret in kube-system", "GET", "/api/v1/namespaces/kube-system/secrets"],
      ["read the platform's Secrets", "GET", `/api/v1/namespaces/${PLATFORM_NAMESPACE}/secrets`],
      ["list Secrets cluster-wide", "GET", "/api/v1/secrets"],
      [
        "create a ClusterRole",
        "POST",
        collection("ClusterRole"),
        { metadata: { name: "tenancy-made" }, rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }] },
      ],
      [
        "bind cluster-admin",
        "POST",
        collection("ClusterRoleBinding"),
        {
          metadata: { name: "tenancy-admin" },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
          subjects: [{ kind: "ServiceAccount", name: SERVICE_ACCOUNT, namespace: PLATFORM_NAMESPACE }],
        },
      ],
      [
        "create a Role in a tenant namespace",
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/tessera-tenant-x/roles",
        { metadata: { name: "r" }, rules: [] },
      ],
      [
        "change its own ClusterRole",
        "PATCH",
        `${collection("ClusterRole")}/${accessObjects(rendered).find((o) => o.kind === "ClusterRole")?.metadata.name}`,
        { rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }] },
      ],
      [
        "create a Pod",
        "POST",
        "/api/v1/namespaces/kube-system/pods",
        { metadata: { name: "p" }, spec: { containers: [{ name: "c", image: "x" }] } },
      ],
      [
        "mint a token for another ServiceAccount",
        "POST",
        "/api/v1/namespaces/kube-system/serviceaccounts/default/token",
        { spec: {} },
      ],
      ["list nodes", "GET", "/api/v1/nodes"],
      [
        "remove its own admission policy",
        "DELETE",
        `${collection("ValidatingAdmissionPolicy")}/${accessObjects(rendered).find((o) => o.kind === "ValidatingAdmissionPolicy")?.metadata.name}`,
      ],
    ];
    const rows: string[][] = [["refused by RBAC", "status"]];
    const problems: string[] = [];
    for (const [what, method, path, body] of denied) {
      const res = await sa.request(method, path, body, method === "PATCH" ? "application/merge-patch+json" : undefined);
      rows.push([what, String(res.status)]);
      if (res.status !== 403 || !message(res.body).includes("forbidden"))
        problems.push(`${what}: HTTP ${res.status} ${message(res.body)}`);
    }
    console.log(`\n${table(rows)}`);
    expect(problems).toEqual([]);
  });

  it("may do exactly what the driver needs, and no more, by SelfSubjectAccessReview", async () => {
    const tenantNs = "tessera-tenant-any";
    const needed: Array<Record<string, string>> = [
      { verb: "create", resource: "namespaces" },
      { verb: "delete", resource: "namespaces" },
      { verb: "watch", resource: "namespaces" },
      { verb: "create", group: "apps", resource: "deployments", namespace: tenantNs },
      { verb: "patch", group: "batch", resource: "jobs", namespace: tenantNs },
      { verb: "watch", group: "policy", resource: "poddisruptionbudgets", namespace: tenantNs },
      { verb: "list", group: "apps", resource: "replicasets", namespace: tenantNs },
      { verb: "list", resource: "events", namespace: tenantNs },
      { verb: "create", resource: "secrets", namespace: RELEASE_NAMESPACE },
      { verb: "list", resource: "secrets", namespace: RELEASE_NAMESPACE },
    ];
    const refused: Array<Record<string, string>> = [
      { verb: "get", resource: "secrets", namespace: tenantNs },
      { verb: "get", resource: "secrets", namespace: PLATFORM_NAMESPACE },
      { verb: "create", resource: "pods", namespace: tenantNs },
      { verb: "get", resource: "events", namespace: tenantNs },
      { verb: "create", resource: "events", namespace: tenantNs },
      { verb: "update", group: "apps", resource: "deployments", namespace: tenantNs },
      { verb: "create", group: "apps", resource: "replicasets", namespace: tenantNs },
      { verb: "create", resource: "pods", subresource: "exec", namespace: tenantNs },
      { verb: "create", resource: "serviceaccounts", subresource: "token", namespace: tenantNs },
      { verb: "escalate", group: "rbac.authorization.k8s.io", resource: "clusterroles" },
      { verb: "bind", group: "rbac.authorization.k8s.io", resource: "clusterroles" },
      { verb: "create", group: "rbac.authorization.k8s.io", resource: "rolebindings", namespace: tenantNs },
      { verb: "impersonate", resource: "serviceaccounts" },
      { verb: "update", resource: "namespaces", subresource: "finalize" },
      { verb: "create", group: "admissionregistration.k8s.io", resource: "validatingadmissionpolicybindings" },
      { verb: "create", group: "apiextensions.k8s.io", resource: "customresourcedefinitions" },
      // the optional kinds are off in the default tenant values
      { verb: "create", group: "monitoring.coreos.com", resource: "servicemonitors", namespace: tenantNs },
      { verb: "create", group: "external-secrets.io", resource: "externalsecrets", namespace: tenantNs },
    ];
    const label = (a: Record<string, string>) =>
      `${a.verb} ${a.group ? `${a.group}/` : ""}${a.resource}${a.subresource ? `/${a.subresource}` : ""}${a.namespace ? ` in ${a.namespace}` : ""}`;
    const wrong: string[] = [];
    for (const a of needed) if (!(await allowed(a))) wrong.push(`refused, but needed: ${label(a)}`);
    for (const a of refused) if (await allowed(a)) wrong.push(`allowed, but not needed: ${label(a)}`);
    expect(wrong).toEqual([]);
  });

  it("writes only in silo tenant namespaces: the admission policy refuses what RBAC allows elsewhere", async () => {
    // a namespace of someone else, as the admin
    await cluster.api.create(collection("Namespace"), { metadata: { name: "not-a-tenant" } });
    const deployment = (ns: string) => ({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "intruder", namespace: ns },
      spec: {
        selector: { matchLabels: { app: "x" } },
        template: { metadata: { labels: { app: "x" } }, spec: { containers: [{ name: "c", image: "x" }] } },
      },
    });
    const cases: Array<[string, string, string, unknown?]> = [
      ["delete a namespace not labelled as a silo tenant's", "DELETE", `${collection("Namespace")}/not-a-tenant`],
      ["delete the platform's namespace", "DELETE", `${collection("Namespace")}/${PLATFORM_NAMESPACE}`],
      [
        "create a tenant-named namespace not labelled silo",
        "POST",
        collection("Namespace"),
        { metadata: { name: "tessera-tenant-fake" } },
      ],
      [
        "create a silo-labelled namespace under another name",
        "POST",
        collection("Namespace"),
        { metadata: { name: "sneaky", labels: { "tessera.io/tier": "silo" } } },
      ],
      [
        "create a Deployment in kube-system",
        "POST",
        "/apis/apps/v1/namespaces/kube-system/deployments",
        deployment("kube-system"),
      ],
      [
        "create a Job in the platform's namespace",
        "POST",
        `/apis/batch/v1/namespaces/${PLATFORM_NAMESPACE}/jobs`,
        {
          metadata: { name: "intruder" },
          spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "x" }] } } },
        },
      ],
      ["delete a ConfigMap in kube-system", "DELETE", "/api/v1/namespaces/kube-system/configmaps/kube-root-ca.crt"],
    ];
    const rows: string[][] = [["refused by the admission policy", "status"]];
    const problems: string[] = [];
    for (const [what, method, path, body] of cases) {
      const res = await sa.request(method, path, body);
      rows.push([what, String(res.status)]);
      if (res.status !== 403 || !message(res.body).includes("tenancy may write only"))
        problems.push(`${what}: HTTP ${res.status} ${message(res.body)}`);
    }
    console.log(`\n${table(rows)}`);
    expect(problems).toEqual([]);
    // everything is still there
    for (const name of ["not-a-tenant", PLATFORM_NAMESPACE]) {
      const ns = await cluster.api.get(`${collection("Namespace")}/${name}`);
      expect(ns.metadata.deletionTimestamp, name).toBeUndefined();
    }
    expect((await cluster.api.request("GET", `${collection("Namespace")}/tessera-tenant-fake`)).status).toBe(404);
    // and the same request in a silo tenant's namespace passes it (the policy is not a blanket refusal)
    const silo = "tessera-tenant-policy-check";
    const created = await sa.request("POST", collection("Namespace"), {
      metadata: { name: silo, labels: { "tessera.io/tier": "silo", "tessera.io/tenant": randomUUID() } },
    });
    expect(created.status, message(created.body)).toBe(201);
    const inSilo = await sa.request(
      "POST",
      `/apis/apps/v1/namespaces/${silo}/deployments?dryRun=All`,
      deployment(silo),
    );
    expect(inSilo.status, message(inSilo.body)).toBe(201);
    const removed = await sa.request("DELETE", `${collection("Namespace")}/${silo}`);
    expect(removed.status, message(removed.body)).toBe(200);
  });
});
