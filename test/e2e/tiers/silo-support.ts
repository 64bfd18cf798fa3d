import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { helmFor, pathOf } from "../../charts/install-support.ts";
import { prepareCharts, requireTools, tools } from "../../charts/support.ts";
import {
  type KubeObject,
  type RunningCluster,
  requireClusterBinaries,
  startCluster,
  startPlatform,
  type TestClient,
  type TestPlatform,
} from "../../harness/index.ts";
import { operatorTenancy } from "./support.ts";

/** Namespace the releases live in (as the platform's namespace would in a cluster). */
export const RELEASES = "tessera-releases";

/**
 * A real control plane (kwok nodes), the charts prepared (dependencies built) and the platform with
 * tenancy's `helm` compute driver on it: what the silo tests share.
 */
export interface SiloRig {
  cluster: RunningCluster;
  /** The prepared charts folder (`<charts>/tessera-tenant`, `<charts>/tessera-lib`). */
  charts: string;
  /** Scratch files of the test, removed at the end. */
  scratch: string;
  /** TENANCY_TENANT_CHART_VALUES (starts as `global.logLevel: info`; tests may rewrite it). */
  profile: string;
  helm: ReturnType<typeof helmFor>;
  platform: TestPlatform;
  tenancy: ReturnType<typeof operatorTenancy>;
  /** tenancy's environment for the helm driver (for restarts with changes). */
  tenancyEnv: Record<string, string>;
  /** A namespaced or cluster object through the API. */
  get(kind: string, namespace: string | undefined, name: string): Promise<{ status: number; body: KubeObject }>;
  /** helm's record of a release: status, revision and chart version; undefined when there is none. */
  release(release: string): Promise<{ status: string; revision: number; version: string } | undefined>;
  stop(): Promise<void>;
}

/** Starts what the silo tests need; `stepTimeoutMs` is tenancy's PROVISIONING_STEP_TIMEOUT_MS. */
export async function startSiloRig(options: {
  stepTimeoutMs: number;
  clients?: Array<{ id: string; roles: string[] }>;
}): Promise<SiloRig> {
  requireTools("helm", "python");
  requireClusterBinaries();
  const [started, prepared] = await Promise.allSettled([startCluster({ nodes: 2 }), prepareCharts()]);
  const cluster = started.status === "fulfilled" ? started.value : undefined;
  const charts = prepared.status === "fulfilled" ? prepared.value : undefined;
  const scratch = mkdtempSync(join(tmpdir(), "tessera-silo-"));
  let helm: ReturnType<typeof helmFor> | undefined;
  let platform: TestPlatform | undefined;
  let tenancy: ReturnType<typeof operatorTenancy> | undefined;
  const stop = async () => {
    tenancy?.close();
    await platform?.stop();
    await cluster?.stop();
    if (charts) rmSync(dirname(charts), { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
    if (helm) rmSync(helm.home, { recursive: true, force: true });
  };
  try {
    if (started.status === "rejected") throw started.reason;
    if (prepared.status === "rejected") throw prepared.reason;
    if (!cluster || !charts) throw new Error("unreachable");
    const h = helmFor(cluster);
    helm = h;
    const profile = join(scratch, "profile.yaml");
    writeFileSync(profile, "global:\n  logLevel: info\n");
    await cluster.api.create("/api/v1/namespaces", { metadata: { name: RELEASES } });
    const tenancyEnv = {
      TENANCY_COMPUTE_DRIVER: "helm",
      TENANCY_HELM_BIN: tools.helm,
      TENANCY_TENANT_CHART: join(charts, "tessera-tenant"),
      TENANCY_HELM_NAMESPACE: RELEASES,
      TENANCY_TENANT_CHART_VALUES: profile,
      KUBECONFIG: cluster.kubeconfig,
      HELM_CACHE_HOME: join(h.home, "cache"),
      HELM_CONFIG_HOME: join(h.home, "config"),
      HELM_DATA_HOME: join(h.home, "data"),
      PROVISIONING_STEP_TIMEOUT_MS: String(options.stepTimeoutMs),
    };
    platform = await startPlatform({
      services: ["projects", "tenancy"],
      env: { tenancy: tenancyEnv },
      ...(options.clients && { clients: options.clients }),
    });
    tenancy = operatorTenancy(platform);
    const c = cluster;
    return {
      cluster: c,
      charts,
      scratch,
      profile,
      helm: h,
      platform,
      tenancy,
      tenancyEnv,
      get: (kind, namespace, name) => c.api.request<KubeObject>("GET", pathOf(kind, namespace, name)),
      async release(release) {
        const r = await h.helm(["get", "metadata", release, "--namespace", RELEASES, "--output", "json"]);
        if (r.code !== 0) {
          if (/release: not found/.test(r.stderr)) return undefined;
          throw new Error(`helm get metadata ${release}: ${r.stderr}`);
        }
        const m = JSON.parse(r.stdout) as { status: string; revision: number; version: string };
        return { status: m.status, revision: m.revision, version: m.version };
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export type { TestClient };

/** `version` of a chart directory's Chart.yaml. */
export function chartVersion(chartDir: string): string {
  const m = /^version:\s*"?([^"\s]+)"?\s*$/m.exec(readFileSync(join(chartDir, "Chart.yaml"), "utf8"));
  if (!m?.[1]) throw new Error(`${chartDir}/Chart.yaml has no version`);
  return m[1];
}

/**
 * A copy of the prepared tenant chart beside it (`<charts>/<name>`: its `file://../tessera-lib`
 * dependency and vendored package stay valid) with `version` set, and `values.yaml` edited.
 */
export function chartCopy(
  charts: string,
  name: string,
  version: string,
  editValues: (text: string) => string = (t) => t,
): string {
  const dir = join(charts, name);
  cpSync(join(charts, "tessera-tenant"), dir, { recursive: true });
  const chartFile = join(dir, "Chart.yaml");
  writeFileSync(chartFile, readFileSync(chartFile, "utf8").replace(/^version:.*$/m, `version: ${version}`));
  const valuesFile = join(dir, "values.yaml");
  const before = readFileSync(valuesFile, "utf8");
  const after = editValues(before);
  writeFileSync(valuesFile, after);
  return dir;
}
