import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "@tessera/platform/log";
import { type ComputeDriver, type ComputeState, ComputeUpgradeFailed, type TenantSpec } from "../saga/drivers.ts";
import { chartVersionReader, endpointsOf } from "./helm-chart.ts";
import { HelmError, helmRunner, helmTimeout, scrub, UNREACHABLE } from "./helm-cli.ts";
import { loadKubeTarget, type NamespaceApi, namespaceApi } from "./kube.ts";

export { HelmError, helmErrorText, scrub } from "./helm-cli.ts";

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
   * Deadline of one install, upgrade or uninstall, the saga step's (PROVISIONING_STEP_TIMEOUT_MS):
   * helm's `--timeout` is what remains of it less a margin (half of that for an upgrade, whose
   * rollback needs time too), so helm gives up (and records the release as failed) before the step
   * is aborted.
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
/** Warnings that say why pods did not come up, most telling first (others follow, newest first). */
const ROLLOUT_REASONS = ["FailedCreate", "FailedScheduling", "Failed", "BackOff", "Unhealthy", "FailedMount"];
/** Warnings that never explain a rollout (an autoscaler without metrics complains all the time). */
const IGNORED_KINDS = /^HorizontalPodAutoscaler\//;
/** Longest a read of the chart's version may take. */
const VERSION_READ_MS = 60_000;

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
 * A failed `helm upgrade --rollback-on-failure` as the saga sees it: a rollout that failed and was
 * rolled back (or a chart that cannot be applied at all) is {@link ComputeUpgradeFailed}, the
 * previous version still running; helm stopped or timed out by us, an unreachable or briefly
 * unavailable cluster, or a rollback that itself failed stay plain errors and are retried.
 */
export function classifyUpgradeError(err: unknown): unknown {
  if (!(err instanceof HelmError) || !err.fromHelm) return err;
  if (UNREACHABLE.test(err.message)) return err;
  if (/error occurred while rolling back/i.test(err.message)) return err;
  return new ComputeUpgradeFailed(err.message);
}

/**
 * The `helm` compute driver: a silo tenant is release `tenant-<slug>` of the tenant chart in
 * `releaseNamespace`, its workloads in namespace `tessera-tenant-<slug>` (which the chart creates).
 * install is `helm upgrade --install --wait`, so a saga re-run converges on the same release;
 * upgrade is `helm upgrade --rollback-on-failure --wait` of the existing release with the current
 * chart. A release left pending by a helm that was killed is rolled back (or removed, if it never
 * got installed) once it is older than a step's deadline. uninstall removes the release, then the
 * namespace (the chart keeps it on purpose), and waits until it is gone.
 */
export function helmComputeDriver(options: HelmDriverOptions): ComputeDriver {
  const log = options.logger?.child({ component: "helm-driver" });
  const pollMs = options.pollMs ?? 500;
  const namespaces = options.namespaces ?? namespaceApi(() => loadKubeTarget(options.kubeconfig));
  const helm = helmRunner(options.helmBin, options.kubeconfig, options.killGraceMs ?? 10_000);
  const chartVersion = chartVersionReader(options.chart, helm);
  const inReleases = ["--namespace", options.releaseNamespace];

  const status = async (release: string, signal: AbortSignal, deadline: number): Promise<ReleaseStatus | undefined> => {
    try {
      const out = await helm(
        `helm status ${release}`,
        ["status", release, ...inReleases, "--output", "json"],
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

  /** This cluster's releases in the per-process record of stopped helms. */
  const scope = `${options.kubeconfig ?? "in-cluster"}|${options.releaseNamespace}|`;
  const interrupted = {
    has: (release: string) => STOPPED_HERE.has(scope + release),
    add: (release: string) => STOPPED_HERE.add(scope + release),
    delete: (release: string) => STOPPED_HERE.delete(scope + release),
  };

  /** A pending release younger than a step's deadline whose helm is not known dead: refuse (retried). */
  const refuseIfBusy = (release: string, current: ReleaseStatus) => {
    const age = current.since ? Date.now() - current.since.getTime() : Number.POSITIVE_INFINITY;
    // a helm this process stopped itself is known dead: its pending release need not age first
    if (age < options.timeoutMs && !interrupted.has(release))
      throw new HelmError(
        `release ${release} is ${current.status} since ${current.since?.toISOString()}: another helm operation is in progress`,
      );
  };

  /**
   * A release another helm left pending: recent, it may still be in progress (refuse, the step is
   * retried); older than a step's deadline, its helm is dead: roll it back, or remove it when it
   * never got installed (the tenant's namespace, a hook, stays and the next install reuses it).
   */
  const settle = async (release: string, current: ReleaseStatus, signal: AbortSignal, deadline: number) => {
    refuseIfBusy(release, current);
    log?.warn({ release, status: current.status, revision: current.revision }, "recovering a stale pending release");
    const wait = ["--wait", "--timeout", helmTimeout(deadline)];
    if (current.status === "pending-install")
      await helm(`helm uninstall ${release}`, ["uninstall", release, ...inReleases, ...wait], signal, deadline);
    else await helm(`helm rollback ${release}`, ["rollback", release, ...inReleases, ...wait], signal, deadline);
  };

  /** Runs a helm call for `release`, remembering when this process stopped it. */
  const helmInterruptible = async <T>(release: string, signal: AbortSignal, call: () => Promise<T>): Promise<T> => {
    try {
      const result = await call();
      interrupted.delete(release);
      return result;
    } catch (err) {
      if (signal.aborted || (err instanceof HelmError && /did not finish within/.test(err.message)))
        interrupted.add(release);
      throw err;
    }
  };

  /**
   * Runs `helm upgrade …` with the operator's values and then the tenant's own (a file of its own,
   * mode 0600, removed afterwards): applied last, so no operator file can change whose release it is.
   */
  const deploy = async (
    what: string,
    tenant: TenantSpec,
    database: string,
    verb: readonly string[],
    flags: readonly string[],
    signal: AbortSignal,
    deadline: number,
  ) => {
    const release = releaseName(tenant.slug);
    const dir = await mkdtemp(join(tmpdir(), "tessera-helm-"));
    try {
      const values = join(dir, "tenant-values.json");
      await writeFile(
        values,
        JSON.stringify({
          tenant: { id: tenant.tenantId, slug: tenant.slug, plan: tenant.plan, database },
          namespace: { name: tenantNamespace(tenant.slug) },
        }),
        { mode: 0o600 },
      );
      await helmInterruptible(release, signal, () =>
        helm(
          `${what} ${release}`,
          [
            ...verb,
            release,
            options.chart,
            ...inReleases,
            ...flags,
            ...(options.extraValues ? ["--values", options.extraValues] : []),
            "--values",
            values,
          ],
          signal,
          deadline,
        ),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  /** What the deployed release is: its chart's version and its services' endpoints. */
  const describe = async (tenant: TenantSpec, signal: AbortSignal, deadline: number): Promise<ComputeState> => {
    const release = releaseName(tenant.slug);
    const namespace = tenantNamespace(tenant.slug);
    const [metadata, values] = await Promise.all([
      helm(
        `helm get metadata ${release}`,
        ["get", "metadata", release, ...inReleases, "--output", "json"],
        signal,
        deadline,
      ),
      helm(
        `helm get values ${release}`,
        ["get", "values", release, ...inReleases, "--all", "--output", "json"],
        signal,
        deadline,
      ),
    ]);
    const version = (JSON.parse(metadata) as { version?: unknown }).version;
    if (typeof version !== "string" || !version) throw new HelmError(`helm get metadata ${release}: no chart version`);
    return { namespace, endpoints: endpointsOf(JSON.parse(values), namespace), version };
  };

  /**
   * Why a rollout did not become healthy, as the namespace's controllers said since `since` (pods
   * refused by quota or limits, unschedulable, crashing): a few distinct Warning events, or "" when
   * there are none or they cannot be read (the rollback is reported either way).
   */
  const rolloutWarnings = async (namespace: string, since: number, signal: AbortSignal): Promise<string> => {
    if (!namespaces.warnings) return "";
    try {
      const events = await namespaces.warnings(namespace, AbortSignal.any([signal, AbortSignal.timeout(10_000)]));
      const seen = new Set<string>();
      const rank = (reason: string) => {
        const at = ROLLOUT_REASONS.indexOf(reason);
        return at < 0 ? ROLLOUT_REASONS.length : at;
      };
      return events
        .filter((e) => (!e.at || e.at.getTime() >= since - 1_000) && !IGNORED_KINDS.test(e.object))
        .sort((a, b) => rank(a.reason) - rank(b.reason) || (b.at?.getTime() ?? 0) - (a.at?.getTime() ?? 0))
        .filter((e) => {
          const key = `${e.object.split("/")[0]} ${e.reason}`;
          if (seen.has(key)) return false;
          seen.add(key);
          return true;
        })
        .slice(0, 2)
        .map((e) => {
          // the controllers' boilerplate says nothing the reason does not
          const said = e.message.replace(/^\(combined from similar events\): /, "").replace(/^Error creating: /, "");
          return `${e.object} ${e.reason}: ${scrub(said).slice(0, 200)}`;
        })
        .join("; ");
    } catch (err) {
      log?.warn(
        { namespace, error: scrub(String((err as Error)?.message ?? err)) },
        "could not read the namespace's warnings",
      );
      return "";
    }
  };

  return {
    name: "helm",

    targetVersion(signal: AbortSignal) {
      return chartVersion(signal, Date.now() + Math.min(options.timeoutMs, VERSION_READ_MS));
    },

    async install(tenant: TenantSpec, database: string, signal: AbortSignal) {
      const deadline = Date.now() + options.timeoutMs;
      const release = releaseName(tenant.slug);
      const current = await status(release, signal, deadline);
      if (current?.status.startsWith("pending-")) await settle(release, current, signal, deadline);
      const t0 = Date.now();
      await deploy(
        "helm upgrade --install",
        tenant,
        database,
        ["upgrade", "--install"],
        ["--wait", "--timeout", helmTimeout(deadline)],
        signal,
        deadline,
      );
      const state = await describe(tenant, signal, deadline);
      log?.info(
        { release, namespace: state.namespace, plan: tenant.plan, version: state.version, ms: Date.now() - t0 },
        "tenant release deployed",
      );
      return state;
    },

    async upgrade(tenant: TenantSpec, database: string, signal: AbortSignal) {
      const deadline = Date.now() + options.timeoutMs;
      const release = releaseName(tenant.slug);
      const current = await status(release, signal, deadline);
      if (!current)
        throw new ComputeUpgradeFailed(
          `release ${release} not found in namespace ${options.releaseNamespace}: the tenant's compute is not installed, there is nothing to upgrade`,
        );
      if (current.status.startsWith("pending-")) await settle(release, current, signal, deadline);
      const t0 = Date.now();
      try {
        // half of what remains: when the rollout fails, helm's rollback waits too, within the same deadline
        await deploy(
          "helm upgrade",
          tenant,
          database,
          ["upgrade"],
          ["--rollback-on-failure", "--wait", "--timeout", helmTimeout(deadline, 0.5)],
          signal,
          deadline,
        );
      } catch (err) {
        const classified = classifyUpgradeError(err);
        if (!(classified instanceof ComputeUpgradeFailed)) throw classified;
        const why = await rolloutWarnings(tenantNamespace(tenant.slug), t0, signal);
        const failed = new ComputeUpgradeFailed(
          why ? `${classified.message} (namespace warnings: ${why})` : classified.message,
        );
        log?.warn({ release, error: failed.message, ms: Date.now() - t0 }, "tenant release upgrade rolled back");
        throw failed;
      }
      const state = await describe(tenant, signal, deadline);
      log?.info({ release, version: state.version, ms: Date.now() - t0 }, "tenant release upgraded");
      return state;
    },

    async uninstall(tenant: TenantSpec, signal: AbortSignal) {
      const deadline = Date.now() + options.timeoutMs;
      const release = releaseName(tenant.slug);
      const namespace = tenantNamespace(tenant.slug);
      const current = await status(release, signal, deadline);
      if (current?.status.startsWith("pending-")) refuseIfBusy(release, current);
      if (current)
        await helm(
          `helm uninstall ${release}`,
          ["uninstall", release, ...inReleases, "--wait", "--timeout", helmTimeout(deadline), "--ignore-not-found"],
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
