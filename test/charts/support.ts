import { execFile } from "node:child_process";
import { accessSync, constants, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";

/** The repository root. */
export const repoRoot = new URL("../../", import.meta.url).pathname;
export const chartsDir = join(repoRoot, "charts");

/** The external tools the chart tests run, all installed by scripts/bootstrap. */
export const tools = {
  helm: join(repoRoot, ".tools/bin/helm"),
  python: join(repoRoot, ".venv/bin/python"),
  kubernetesValidate: join(repoRoot, ".venv/bin/kubernetes-validate"),
  checkov: join(repoRoot, ".venv/bin/checkov"),
  pnpm: join(repoRoot, ".tools/pnpm/node_modules/.bin/pnpm"),
} as const;

/** Fails (never skips) when a tool is missing, saying how to get it. */
export function requireTools(...names: Array<keyof typeof tools>): void {
  const missing = names.filter((name) => {
    try {
      accessSync(tools[name], constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    throw new Error(
      `missing ${missing.map((m) => tools[m]).join(", ")}: run scripts/bootstrap (it builds helm into .tools/bin ` +
        "with go install and creates .venv with checkov and kubernetes-validate)",
    );
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion with a deadline (SIGKILL after it); resolves with its exit code and output. */
export function run(
  command: string,
  args: readonly string[],
  { timeoutMs = 60_000, cwd = repoRoot, env }: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        cwd,
        env: env ?? { ...process.env, KUBECONFIG: "/dev/null", HELM_CACHE_HOME: join(tmpdir(), "tessera-helm-cache") },
        timeout: timeoutMs,
        killSignal: "SIGKILL",
        maxBuffer: 256 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err && (err as { killed?: boolean }).killed) {
          reject(new Error(`${basename(command)} ${args.join(" ")} did not finish within ${timeoutMs} ms`));
          return;
        }
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
      },
    );
  });
}

/** Like run, but throws with the output when the exit code is not 0. */
export async function runOk(command: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const r = await run(command, args, { timeoutMs });
  if (r.code !== 0) throw new Error(`${basename(command)} ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A Kubernetes object as rendered. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are untyped JSON; tests narrow what they read
  spec?: any;
  [key: string]: unknown;
}

/** The application charts (a library chart renders nothing). */
export const APP_CHARTS = ["tessera-platform", "tessera-tenant"] as const;
export type ChartName = (typeof APP_CHARTS)[number];

/** Release name and namespace the tests install each chart as. */
export const RELEASES: Record<ChartName, { release: string; namespace: string }> = {
  "tessera-platform": { release: "tessera", namespace: "tessera-system" },
  "tessera-tenant": { release: "tenant-acme", namespace: "tessera-system" },
};

/** One value set of a chart's ci/ folder: `ci/<name>-values.yaml`, on top of `values-<name>.yaml` when that profile exists. */
export interface ValueSet {
  chart: ChartName;
  name: string;
  /** Values files in order (a cloud profile first). */
  files: string[];
}

/** Every value set under charts/<chart>/ci/, resolved inside `dir` (a copy of charts/). */
export function valueSets(dir = chartsDir): ValueSet[] {
  return APP_CHARTS.flatMap((chart) =>
    readdirSync(join(dir, chart, "ci"))
      .filter((f) => f.endsWith("-values.yaml"))
      .sort()
      .map((file) => {
        const name = file.replace(/-values\.yaml$/, "");
        const profile = join(dir, chart, `values-${name}.yaml`);
        return { chart, name, files: [...(existsSync(profile) ? [profile] : []), join(dir, chart, "ci", file)] };
      }),
  );
}

/**
 * A scratch copy of charts/ with the library chart vendored (`helm dependency build`, offline for a
 * file:// dependency), so the tests never write into the repository.
 */
export async function prepareCharts(): Promise<string> {
  requireTools("helm");
  const dir = mkdtempSync(join(tmpdir(), "tessera-charts-"));
  cpSync(chartsDir, join(dir, "charts"), { recursive: true });
  for (const chart of APP_CHARTS) await runOk(tools.helm, ["dependency", "build", join(dir, "charts", chart)]);
  return join(dir, "charts");
}

/** `helm template` of one value set; returns the manifest text. */
export function template(dir: string, set: ValueSet, extraArgs: readonly string[] = []): Promise<string> {
  const { release, namespace } = RELEASES[set.chart];
  return runOk(tools.helm, [
    "template",
    release,
    join(dir, set.chart),
    "--namespace",
    namespace,
    "--kube-version",
    "1.33.0",
    ...set.files.flatMap((f) => ["--values", f]),
    ...extraArgs,
  ]);
}

/** YAML files to objects, with PyYAML in the venv (one process for all files). */
export async function parseYamlFiles(files: readonly string[]): Promise<Record<string, unknown[]>> {
  requireTools("python");
  const out = await runOk(tools.python, [join(repoRoot, "test/charts/manifests.py"), "to-json", ...files]);
  return JSON.parse(out) as Record<string, unknown[]>;
}

/** A rendered value set. */
export interface Rendered extends ValueSet {
  /** The manifest file (for the validators). */
  file: string;
  objects: K8sObject[];
}

/** Renders every value set into `<dir>/../rendered/` and parses the results. */
export async function renderAll(dir: string): Promise<Rendered[]> {
  const outDir = join(dir, "..", "rendered");
  mkdirSync(outDir, { recursive: true });
  const sets = valueSets(dir);
  const files = await Promise.all(
    sets.map(async (set) => {
      const file = join(outDir, `${set.chart}-${set.name}.yaml`);
      writeFileSync(file, await template(dir, set));
      return file;
    }),
  );
  const parsed = await parseYamlFiles(files);
  return sets.map((set, i) => {
    const file = files[i] as string;
    return { ...set, file, objects: (parsed[file] ?? []) as K8sObject[] };
  });
}

/** The pod template (or pod spec) of a workload object, if it has one. */
export function podSpecOf(obj: K8sObject): { labels: Record<string, string>; spec: PodSpec } | undefined {
  if (obj.kind === "Pod") return { labels: obj.metadata.labels ?? {}, spec: obj.spec as PodSpec };
  if (obj.kind === "CronJob") {
    const t = obj.spec?.jobTemplate?.spec?.template;
    return t ? { labels: t.metadata?.labels ?? {}, spec: t.spec } : undefined;
  }
  const t = obj.spec?.template;
  return t?.spec?.containers ? { labels: t.metadata?.labels ?? {}, spec: t.spec } : undefined;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; [k: string]: unknown };
}

export interface Container {
  name: string;
  image: string;
  imagePullPolicy?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: unknown[];
  ports?: Array<{ name?: string; containerPort: number; protocol?: string; hostPort?: number }>;
  // biome-ignore lint/suspicious/noExplicitAny: probe handlers are one of several shapes
  livenessProbe?: any;
  // biome-ignore lint/suspicious/noExplicitAny: see livenessProbe
  readinessProbe?: any;
  // biome-ignore lint/suspicious/noExplicitAny: see livenessProbe
  startupProbe?: any;
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: unknown; httpGet?: unknown } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    privileged?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    runAsUser?: number;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type: string };
    procMount?: string;
    windowsOptions?: { hostProcess?: boolean };
  };
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  ephemeralContainers?: Container[];
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    seccompProfile?: { type: string };
    sysctls?: unknown[];
  };
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  // biome-ignore lint/suspicious/noExplicitAny: volumes come in many shapes; the checks look at their keys
  volumes?: Array<Record<string, any>>;
  terminationGracePeriodSeconds?: number;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  restartPolicy?: string;
}

/** Every container of a pod spec. */
export function containersOf(spec: PodSpec): Container[] {
  return [...spec.containers, ...(spec.initContainers ?? []), ...(spec.ephemeralContainers ?? [])];
}

/** The value of an env var set as a literal, or undefined. */
export function envValue(container: Container, name: string): string | undefined {
  return container.env?.find((e) => e.name === name)?.value;
}
