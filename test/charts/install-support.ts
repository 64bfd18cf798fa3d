import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { type KubeApi, type KubeObject, type RunningCluster, until } from "@tessera/test/harness";
import {
  type ChartName,
  type K8sObject,
  parseYamlFiles,
  type RunResult,
  run,
  tools,
  type ValueSet,
} from "./support.ts";

/** Where each kind the charts render (and the tests read) lives in the API. */
const RESOURCES: Record<string, { base: string; plural: string; namespaced: boolean }> = {
  Namespace: { base: "/api/v1", plural: "namespaces", namespaced: false },
  ServiceAccount: { base: "/api/v1", plural: "serviceaccounts", namespaced: true },
  Service: { base: "/api/v1", plural: "services", namespaced: true },
  Secret: { base: "/api/v1", plural: "secrets", namespaced: true },
  ConfigMap: { base: "/api/v1", plural: "configmaps", namespaced: true },
  Pod: { base: "/api/v1", plural: "pods", namespaced: true },
  Event: { base: "/api/v1", plural: "events", namespaced: true },
  ResourceQuota: { base: "/api/v1", plural: "resourcequotas", namespaced: true },
  LimitRange: { base: "/api/v1", plural: "limitranges", namespaced: true },
  Deployment: { base: "/apis/apps/v1", plural: "deployments", namespaced: true },
  ReplicaSet: { base: "/apis/apps/v1", plural: "replicasets", namespaced: true },
  Job: { base: "/apis/batch/v1", plural: "jobs", namespaced: true },
  PodDisruptionBudget: { base: "/apis/policy/v1", plural: "poddisruptionbudgets", namespaced: true },
  HorizontalPodAutoscaler: { base: "/apis/autoscaling/v2", plural: "horizontalpodautoscalers", namespaced: true },
  NetworkPolicy: { base: "/apis/networking.k8s.io/v1", plural: "networkpolicies", namespaced: true },
  Ingress: { base: "/apis/networking.k8s.io/v1", plural: "ingresses", namespaced: true },
  ServiceMonitor: { base: "/apis/monitoring.coreos.com/v1", plural: "servicemonitors", namespaced: true },
  PrometheusRule: { base: "/apis/monitoring.coreos.com/v1", plural: "prometheusrules", namespaced: true },
  ExternalSecret: { base: "/apis/external-secrets.io/v1", plural: "externalsecrets", namespaced: true },
};

/** Kinds a release can leave objects of (what the uninstall check lists). */
export const LISTED_KINDS = Object.keys(RESOURCES).filter((k) => !["Event", "Secret", "ConfigMap"].includes(k));

/** API path of a kind's collection (in a namespace) or of one object. */
export function pathOf(kind: string, namespace?: string, name?: string): string {
  const r = RESOURCES[kind];
  if (!r) throw new Error(`no API path known for kind ${kind}: add it to RESOURCES in install-support.ts`);
  const ns = r.namespaced && namespace ? `/namespaces/${namespace}` : "";
  return `${r.base}${ns}/${r.plural}${name ? `/${name}` : ""}`;
}

/** An object's API path. */
export const objectPath = (o: { kind: string; metadata: { name: string; namespace?: string } }) =>
  pathOf(o.kind, o.metadata.namespace, o.metadata.name);

/**
 * CRDs for the custom resources some value sets render (Prometheus operator, External Secrets), so
 * those sets install too. They keep unknown fields: charts.test.ts holds the objects to the upstream
 * schemas; here they only have to exist.
 */
const CRDS = [
  { group: "monitoring.coreos.com", kind: "ServiceMonitor", plural: "servicemonitors", version: "v1" },
  { group: "monitoring.coreos.com", kind: "PrometheusRule", plural: "prometheusrules", version: "v1" },
  { group: "external-secrets.io", kind: "ExternalSecret", plural: "externalsecrets", version: "v1" },
];

/** Creates the CRDs and waits until the API serves them. */
export async function installCrds(api: KubeApi): Promise<void> {
  for (const crd of CRDS) {
    await api.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: `${crd.plural}.${crd.group}` },
      spec: {
        group: crd.group,
        scope: "Namespaced",
        names: { kind: crd.kind, plural: crd.plural, singular: crd.kind.toLowerCase(), listKind: `${crd.kind}List` },
        versions: [
          {
            name: crd.version,
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: "object",
                properties: { spec: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
              },
            },
          },
        ],
      },
    });
  }
  for (const crd of CRDS)
    await until(`CRD ${crd.plural}.${crd.group} served`, async () => {
      const res = await api.request("GET", `/apis/${crd.group}/${crd.version}/${crd.plural}`);
      return res.status === 200;
    });
}

/** Runs the real helm against the cluster, with its own scratch config, cache and data folders. */
export function helmFor(cluster: RunningCluster) {
  const home = mkdtempSync(join(tmpdir(), "tessera-helm-home-"));
  const env = {
    ...process.env,
    KUBECONFIG: cluster.kubeconfig,
    HELM_CACHE_HOME: join(home, "cache"),
    HELM_CONFIG_HOME: join(home, "config"),
    HELM_DATA_HOME: join(home, "data"),
  };
  const helm = (args: readonly string[], timeoutMs = 120_000): Promise<RunResult> =>
    run(tools.helm, args, { env, timeoutMs });
  const helmOk = async (args: readonly string[], timeoutMs = 120_000): Promise<string> => {
    const r = await helm(args, timeoutMs);
    if (r.code !== 0) throw new Error(`helm ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  return { helm, helmOk, home };
}

/** One value set installed as its own release, in namespaces of its own so every set fits one cluster. */
export interface Placement {
  set: ValueSet;
  chart: ChartName;
  release: string;
  /** The release's namespace. */
  namespace: string;
  /** Where the workloads run: the platform's pool namespace, the tenant's namespace. */
  workloadNamespace: string;
  /** `--set` arguments that move the release into its namespaces. */
  args: string[];
}

/** The release of a value set: platform `tessera` in `platform-<set>`; tenant `tenant-<set>` in `tenants`. */
export function placementOf(set: ValueSet, tenantNamespaceOf: (set: ValueSet) => string | undefined): Placement {
  if (set.chart === "tessera-platform") {
    const namespace = `platform-${set.name}`;
    const pool = `${namespace}-pool`;
    return {
      set,
      chart: set.chart,
      release: "tessera",
      namespace,
      workloadNamespace: pool,
      args: ["--set", `pool.namespace=${pool}`],
    };
  }
  // a set that names its (existing) namespace keeps it; the others get one each (the slugs are the same)
  const own = tenantNamespaceOf(set);
  const workloadNamespace = own ?? `tenant-${set.name}`;
  return {
    set,
    chart: set.chart,
    release: `tenant-${set.name}`,
    namespace: "tenants",
    workloadNamespace,
    args: own ? [] : ["--set", `namespace.name=${workloadNamespace}`],
  };
}

/** Parses YAML text (helm's manifest output) into objects, with the venv's PyYAML like the other chart tests. */
export async function parseYamlText(dir: string, name: string, text: string): Promise<K8sObject[]> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, text);
  return ((await parseYamlFiles([file]))[file] ?? []) as K8sObject[];
}

/** The manifest objects and the hooks of an installed release. */
export async function releaseObjects(
  helmOk: (args: readonly string[]) => Promise<string>,
  dir: string,
  p: Placement,
): Promise<{ manifest: K8sObject[]; hooks: K8sObject[] }> {
  const [manifest, hooks] = await Promise.all([
    helmOk(["get", "manifest", p.release, "-n", p.namespace]),
    helmOk(["get", "hooks", p.release, "-n", p.namespace]),
  ]);
  const base = `${basename(p.namespace)}-${p.release}`;
  return {
    manifest: await parseYamlText(dir, `${base}-manifest`, manifest),
    hooks: await parseYamlText(dir, `${base}-hooks`, hooks),
  };
}

/** The hook's delete policies. */
export const deletePolicies = (o: K8sObject) =>
  (o.metadata.annotations?.["helm.sh/hook-delete-policy"] ?? "").split(",").filter(Boolean);

/** A Job's Complete condition is True. */
export const jobComplete = (job: KubeObject) =>
  (job.status?.conditions ?? []).some(
    (c: { type: string; status: string }) => c.type === "Complete" && c.status === "True",
  );

/** A Deployment rolled out: Available, every desired replica updated and available. */
export function deploymentAvailable(d: KubeObject): boolean {
  const want = d.spec?.replicas ?? 1;
  const s = d.status ?? {};
  return (
    (s.conditions ?? []).some((c: { type: string; status: string }) => c.type === "Available" && c.status === "True") &&
    (s.observedGeneration ?? 0) >= ((d.metadata as { generation?: number }).generation ?? 0) &&
    (s.updatedReplicas ?? 0) === want &&
    (s.availableReplicas ?? 0) === want &&
    (s.replicas ?? 0) === want
  );
}

/** A fixed-width text table. */
export function table(rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length))) ?? [];
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return [line(cells[0] ?? []), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n");
}

/** Runs tasks with at most `limit` at a time; resolves with their results in order. */
export async function inBatches<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** A container's env entry as the API returns it. */
interface EnvEntry {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
}

/**
 * A container's environment as the kubelet would give it: secret references read from the cluster's
 * Secrets, `$(VAR)` in values expanded from the variables defined before it (`$$` is a literal `$`).
 */
export async function containerEnv(
  api: KubeApi,
  namespace: string,
  container: { env?: EnvEntry[] },
): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  const secrets = new Map<string, Record<string, string>>();
  for (const e of container.env ?? []) {
    if (e.value !== undefined) {
      env[e.name] = e.value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string | undefined) =>
        m === "$$" ? "$" : name !== undefined && name in env ? (env[name] as string) : m,
      );
      continue;
    }
    const ref = e.valueFrom?.secretKeyRef;
    if (!ref) throw new Error(`${e.name}: only values and secretKeyRef are resolved here`);
    if (!secrets.has(ref.name)) {
      const res = await api.request<KubeObject & { data?: Record<string, string> }>(
        "GET",
        pathOf("Secret", namespace, ref.name),
      );
      secrets.set(ref.name, res.status === 200 ? (res.body.data ?? {}) : {});
    }
    const data = secrets.get(ref.name)?.[ref.key];
    if (data === undefined) {
      if (ref.optional) continue;
      throw new Error(`${e.name}: secret ${namespace}/${ref.name} has no key ${ref.key} (CreateContainerConfigError)`);
    }
    env[e.name] = Buffer.from(data, "base64").toString("utf8");
  }
  return env;
}

/** A Secret with string values. */
export const secretOf = (namespace: string, name: string, values: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name, namespace },
  type: "Opaque",
  data: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
});
