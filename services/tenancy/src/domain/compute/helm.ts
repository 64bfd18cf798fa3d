import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "@tessera/platform/log";
import type { ComputeDriver, TenantSpec } from "../saga/drivers.ts";
import { loadKubeTarget, type NamespaceApi, namespaceApi } from "./kube.ts";

/** How the `helm` compute driver reaches the cluster and the tenant chart. */
export interface HelmDriverOptions {
  /** The helm executable (a path, or a name looked up on PATH). */
  readonly helmBin: string;
  /** The tenant chart: a directory with its dependencies built, or a packaged `.tgz`. */
  readonly chart: string;
  /** Namespace the releases live in (their records; the workloads go to the tenant's namespace). */
  readonly releaseNamespace: string;
  /** Kubeconfig file; unset: helm's defaults (`~/.kube/config`, else the pod's service account). */
  readonly kubeconfig?: string | undefined;
  /** An operator's values file (e.g. the cloud profile), applied before the tenant's own values. */
  readonly extraValues?: string | undefined;
  /**
   * Deadline of one install or uninstall, the saga step's (PROVISIONING_STEP_TIMEOUT_MS): helm's
   * `--timeout` is what remains of it less a margin, so helm gives up (and records the release as
   * failed) before the step is aborted.
   */
  readonly timeoutMs: number;
  readonly logger?: Logger | undefined;
  /** The namespace calls (default: the Kubernetes API through the same kubeconfig or service account). */
  readonly namespaces?: NamespaceApi | undefined;
  /** How long helm may take to stop after SIGTERM (it records the release as failed) before SIGKILL. */
  readonly killGraceMs?: number | undefined;
  /** How often a terminating namespace is looked at. */
  readonly pollMs?: number | undefined;
}

/** A silo tenant's release name. */
export const releaseName = (slug: string): string => `tenant-${slug}`;

/** A silo tenant's namespace (the tenant chart's default, set explicitly so both always agree). */
export const tenantNamespace = (slug: string): string => `tessera-tenant-${slug}`;

/** Label the tenant chart puts on the tenant's namespace (and every object in it). */
const TENANT_LABEL = "tessera.io/tenant";
const MAX_ERROR = 1_000;

/** Environment variables helm may see: never tenancy's own secrets (database URLs, signing keys). */
const PASSED_ENV =
  /^(PATH|HOME|TMPDIR|LANG|LC_ALL|XDG_[A-Z_]+|HELM_[A-Z_]+|KUBERNETES_SERVICE_(HOST|PORT)|HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy)$/;

const REDACTIONS: ReadonlyArray<readonly [RegExp, string]> = [
  [/(bearer\s+)[^\s"']+/gi, "$1[redacted]"],
  [/\b(token|password|passwd|secret|client-key-data|api[-_]?key)(["']?\s*[:=]\s*["']?)[^\s"',}]+/gi, "$1$2[redacted]"],
  [/([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi, "$1[redacted]@"],
];

/** Credentials that could appear in a tool's output, replaced by `[redacted]`. */
export function scrub(text: string): string {
  return REDACTIONS.reduce((t, [re, by]) => t.replace(re, by), text);
}

/**
 * What to show of helm's stderr: its `Error:` line first, then its warnings (info and debug log
 * lines dropped), on one line, credentials redacted, bounded.
 */
export function helmErrorText(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !/^level=(INFO|DEBUG)\b/.test(l));
  const at = lines.findIndex((l) => l.startsWith("Error:"));
  const ordered = at >= 0 ? [...lines.slice(at), ...lines.slice(0, at)] : lines;
  return scrub(ordered.join(" ").replace(/\s+/g, " ")).slice(0, MAX_ERROR);
}

/** A failed helm command, its message carrying helm's own text. */
export class HelmError extends Error {
  override name = "HelmError";
}

interface ReleaseStatus {
  readonly status: string;
  readonly since: Date | undefined;
  readonly revision: number;
}

/**
 * Releases whose helm this process stopped (abort, deadline), per cluster and namespace: a pending
 * state such a helm left is stale at once (the saga's lease means no other helm runs the step).
 */
const STOPPED_HERE = new Set<string>();

/**
 * The `helm` compute driver: a silo tenant is release `tenant-<slug>` of the tenant chart in
 * `releaseNamespace`, its workloads in namespace `tessera-tenant-<slug>` (which the chart creates).
 * install is `helm upgrade --install --wait`, so a saga re-run converges on the same release; a
 * release left pending by a helm that was killed is rolled back (or removed, if it never got
 * installed) once it is older than a step's deadline. uninstall removes the release, then the
 * namespace (the chart keeps it on purpose), and waits until it is gone.
 */
export function helmComputeDriver(options: HelmDriverOptions): ComputeDriver {
  const log = options.logger?.child({ component: "helm-driver" });
  const killGraceMs = options.killGraceMs ?? 10_000;
  const pollMs = options.pollMs ?? 500;
  const namespaces = options.namespaces ?? namespaceApi(() => loadKubeTarget(options.kubeconfig));
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k, v]) => v !== undefined && PASSED_ENV.test(k)),
  );
  env.HOME ??= tmpdir();
  const common = [...(options.kubeconfig ? ["--kubeconfig", options.kubeconfig] : [])];

  /** helm's --timeout: what remains of the deadline less a margin (at least 5 s). */
  const helmTimeout = (deadline: number): string => {
    const remaining = deadline - Date.now();
    const margin = Math.min(30_000, Math.max(5_000, remaining * 0.1));
    return `${Math.max(5, Math.floor((remaining - margin) / 1000))}s`;
  };

  /** Runs helm; resolves with stdout, rejects with helm's error text. SIGTERM on abort, SIGKILL after the grace. */
  const helm = (what: string, args: readonly string[], signal: AbortSignal, deadline: number): Promise<string> => {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return Promise.reject(new HelmError(`${what}: the step's deadline has passed`));
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      let hardKill: NodeJS.Timeout | undefined;
      const child = execFile(
        options.helmBin,
        [...args, ...common],
        { env, signal, timeout: remaining, killSignal: "SIGTERM", maxBuffer: 16 * 1024 * 1024, encoding: "utf8" },
        (err, stdout, stderr) => {
          clearTimeout(hardKill);
          signal.removeEventListener("abort", escalate);
          if (!err) {
            resolve(stdout);
            return;
          }
          if (signal.aborted) {
            reject(new HelmError(`${what}: stopped (${String((signal.reason as Error)?.message ?? signal.reason)})`));
            return;
          }
          const e = err as NodeJS.ErrnoException & { killed?: boolean };
          if (e.code === "ENOENT") {
            reject(new HelmError(`${what}: helm executable "${options.helmBin}" not found`));
            return;
          }
          if (e.killed) {
            reject(new HelmError(`${what}: did not finish within ${Math.round(remaining / 1000)} s`));
            return;
          }
          reject(new HelmError(`${what}: ${helmErrorText(stderr) || scrub(e.message)}`));
        },
      );
      function escalate() {
        hardKill = setTimeout(() => child.kill("SIGKILL"), killGraceMs);
        hardKill.unref();
      }
      signal.addEventListener("abort", escalate, { once: true });
      // execFile's own timeout sends SIGTERM; this makes sure helm is gone a grace later
      const backstop = setTimeout(escalate, remaining);
      backstop.unref();
      child.once("exit", () => clearTimeout(backstop));
    });
  };

  const status = async (release: string, signal: AbortSignal, deadline: number): Promise<ReleaseStatus | undefined> => {
    try {
      const out = await helm(
        `helm status ${release}`,
        ["status", release, "--namespace", options.releaseNamespace, "--output", "json"],
        signal,
        deadline,
      );
      const parsed = JSON.parse(out) as { version?: number; info?: { status?: string; last_deployed?: string } };
      const since = parsed.info?.last_deployed ? new Date(parsed.info.last_deployed) : undefined;
      return { status: parsed.info?.status ?? "unknown", since, revision: parsed.version ?? 0 };
    } catch (err) {
      if (err instanceof HelmError && /release: not found/.test(err.message)) return undefined;
      throw err;
    }
  };

  /**
   * A release another helm left pending: recent, it may still be in progress (refuse, the step is
   * retried); older than a step's deadline, its helm is dead: roll it back, or remove it when it
   * never got installed (the tenant's namespace, a hook, stays and the next install reuses it).
   */
  const settle = async (release: string, current: ReleaseStatus, signal: AbortSignal, deadline: number) => {
    const age = current.since ? Date.now() - current.since.getTime() : Number.POSITIVE_INFINITY;
    // a helm this process stopped itself is known dead: its pending release need not age first
    if (age < options.timeoutMs && !interrupted.has(release))
      throw new HelmError(
        `release ${release} is ${current.status} since ${current.since?.toISOString()}: another helm operation is in progress`,
      );
    log?.warn({ release, status: current.status, revision: current.revision }, "recovering a stale pending release");
    const wait = ["--wait", "--timeout", helmTimeout(deadline)];
    if (current.status === "pending-install")
      await helm(
        `helm uninstall ${release}`,
        ["uninstall", release, "--namespace", options.releaseNamespace, ...wait],
        signal,
        deadline,
      );
    else
      await helm(
        `helm rollback ${release}`,
        ["rollback", release, "--namespace", options.releaseNamespace, ...wait],
        signal,
        deadline,
      );
  };

  /** Runs a helm call for `release`, remembering when this process stopped it. */
  const helmInterruptible = async <T>(release: string, signal: AbortSignal, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      if (signal.aborted || (err instanceof HelmError && /did not finish within/.test(err.message)))
        interrupted.add(release);
      throw err;
    }
  };

  /** This cluster's releases in the per-process record of stopped helms. */
  const scope = `${options.kubeconfig ?? "in-cluster"}|${options.releaseNamespace}|`;
  const interrupted = {
    has: (release: string) => STOPPED_HERE.has(scope + release),
    add: (release: string) => STOPPED_HERE.add(scope + release),
    delete: (release: string) => STOPPED_HERE.delete(scope + release),
  };

  return {
    name: "helm",

    async install(tenant: TenantSpec, database: string, signal: AbortSignal) {
      const deadline = Date.now() + options.timeoutMs;
      const release = releaseName(tenant.slug);
      const namespace = tenantNamespace(tenant.slug);
      const current = await status(release, signal, deadline);
      if (current?.status.startsWith("pending-")) await settle(release, current, signal, deadline);
      const dir = await mkdtemp(join(tmpdir(), "tessera-helm-"));
      try {
        // the tenant's own values come last: no operator file can change whose release this is
        const values = join(dir, "tenant-values.json");
        await writeFile(
          values,
          JSON.stringify({
            tenant: { id: tenant.tenantId, slug: tenant.slug, plan: tenant.plan, database },
            namespace: { name: namespace },
          }),
          { mode: 0o600 },
        );
        const t0 = Date.now();
        await helmInterruptible(release, signal, () =>
          helm(
            `helm upgrade --install ${release}`,
            [
              "upgrade",
              "--install",
              release,
              options.chart,
              "--namespace",
              options.releaseNamespace,
              "--wait",
              "--timeout",
              helmTimeout(deadline),
              ...(options.extraValues ? ["--values", options.extraValues] : []),
              "--values",
              values,
            ],
            signal,
            deadline,
          ),
        );
        interrupted.delete(release);
        log?.info({ release, namespace, plan: tenant.plan, ms: Date.now() - t0 }, "tenant release deployed");
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      return { namespace };
    },

    async uninstall(tenant: TenantSpec, signal: AbortSignal) {
      const deadline = Date.now() + options.timeoutMs;
      const release = releaseName(tenant.slug);
      const namespace = tenantNamespace(tenant.slug);
      const current = await status(release, signal, deadline);
      if (current?.status.startsWith("pending-")) {
        const age = current.since ? Date.now() - current.since.getTime() : Number.POSITIVE_INFINITY;
        if (age < options.timeoutMs && !interrupted.has(release))
          throw new HelmError(`release ${release} is ${current.status}: another helm operation is in progress`);
      }
      if (current)
        await helm(
          `helm uninstall ${release}`,
          [
            "uninstall",
            release,
            "--namespace",
            options.releaseNamespace,
            "--wait",
            "--timeout",
            helmTimeout(deadline),
            "--ignore-not-found",
          ],
          signal,
          deadline,
        );
      const ns = await namespaces.get(namespace, signal);
      if (!ns) return;
      const owner = ns.labels[TENANT_LABEL];
      if (owner !== tenant.tenantId)
        throw new Error(
          `namespace ${namespace} is labelled ${TENANT_LABEL}=${owner ?? "(none)"}, not this tenant (${tenant.tenantId}): not deleting it`,
        );
      if (!ns.deleting) await namespaces.delete(namespace, signal);
      log?.info({ release, namespace }, "tenant release uninstalled; waiting for its namespace to be gone");
      for (;;) {
        await sleep(pollMs, undefined, { signal });
        const left = await namespaces.get(namespace, signal);
        if (!left) return;
        if (Date.now() + 2 * pollMs > deadline) {
          const why = left.conditions
            .filter((c) => c.status === "True" && c.message)
            .map((c) => `${c.type}: ${c.message}`)
            .join("; ");
          throw new Error(`namespace ${namespace} is still terminating${why ? `: ${scrub(why)}` : ""}`);
        }
      }
    },
  };
}
