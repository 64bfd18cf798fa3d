import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type Logger, rootLogger } from "@tessera/platform/log";
import { type ComputeDriver, type ComputeState, ComputeUpgradeFailed, type TenantSpec } from "../saga/drivers.ts";
import { stopPid, TenantProcess, tenantLog, waitHealthy } from "./local-process.ts";
import { type LocalComputeSpec, type LocalServiceSpec, loadLocalComputeSpec } from "./local-spec.ts";
import {
  allocate,
  allocateMetrics,
  type InstanceState,
  isAlive,
  listStates,
  readState,
  removeState,
  type TenantState,
  takenBy,
  updateState,
} from "./local-state.ts";

/** How the `local` compute driver finds its spec (TENANCY_LOCAL_COMPUTE_FILE). */
export interface LocalDriverOptions {
  readonly specFile: string;
  readonly logger?: Logger | undefined;
}

/** A tenant to resume, with the endpoints the directory publishes for it (their ports are kept). */
export interface ResumeEntry {
  readonly tenant: TenantSpec;
  readonly database: string;
  readonly endpoints?: Readonly<Record<string, string>> | undefined;
}

/** The `local` driver: a ComputeDriver whose resume also takes the directory's endpoints. */
export interface LocalComputeDriver extends ComputeDriver {
  resume(tenants: ReadonlyArray<ResumeEntry>, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** One service process of a tenant, with the ports it serves on. */
interface Running {
  readonly name: string;
  readonly proc: TenantProcess;
  readonly inst: InstanceState;
}

/** The label a silo tenant's local compute gets as its namespace. */
export const localNamespace = (slug: string): string => `local/${slug}`;

/** Variables a tenant's process gets from tenancy's environment when the spec does not set them (no secrets). */
const PASSED_ENV = ["PATH", "HOME", "TMPDIR", "LANG", "TZ"];

const urlHost = (host: string) => (host === "0.0.0.0" || host === "::" || host === "" ? "127.0.0.1" : host);

/**
 * The `local` compute driver (`./tessera up`, tests): a silo tenant's compute is one process per
 * routed application service, started from the spec as the pool instance is, with its own ports and
 * SERVICE_TENANT_ID (so it refuses every other tenant). Ports and pids live in a state file per
 * tenant: a re-run finds running processes instead of starting them twice, a restarted tenancy
 * adopts or restarts them on the same ports. One tenancy process per state directory.
 */
export function localComputeDriver(options: LocalDriverOptions): LocalComputeDriver {
  const log = (options.logger ?? rootLogger()).child({ component: "local-compute" });
  /** tenant id → service → its process and ports. */
  const live = new Map<string, Map<string, Running>>();
  /** Processes an upgrade replaced, serving until their drain ends. */
  const draining = new Set<TenantProcess>();
  const drains = new Set<Promise<void>>();
  const stopDrains = new AbortController();
  const locks = new Map<string, Promise<unknown>>();
  let grace = 5_000;
  let closed = false;

  const load = (): LocalComputeSpec => {
    const spec = loadLocalComputeSpec(options.specFile);
    grace = spec.stopGraceMs;
    return spec;
  };

  /** Runs fn after every earlier operation on the tenant (saga step, deletion, resume) has ended. */
  const locked = <T>(tenantId: string, fn: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new Error("the local compute driver is shut down"));
    const run = (locks.get(tenantId) ?? Promise.resolve()).then(fn);
    const tail = run.catch(() => undefined);
    locks.set(tenantId, tail);
    void tail.then(() => {
      if (locks.get(tenantId) === tail) locks.delete(tenantId);
    });
    return run;
  };

  const urlOf = (spec: LocalComputeSpec, port: number) => `http://${urlHost(spec.host)}:${port}`;

  /** A process for one service of a tenant on `inst`'s ports; its pids are recorded as it (re)starts. */
  const processFor = (
    spec: LocalComputeSpec,
    tenant: TenantSpec,
    name: string,
    svc: LocalServiceSpec,
    inst: InstanceState,
  ) => {
    const logDir = spec.logDir ?? join(spec.stateDir, "logs");
    const passed = Object.fromEntries(PASSED_ENV.flatMap((k) => (process.env[k] ? [[k, process.env[k]]] : [])));
    return new TenantProcess({
      name: `${tenant.slug}/${name}`,
      command: svc.command,
      args: svc.args,
      cwd: svc.cwd,
      env: {
        ...passed,
        ...svc.env,
        HOST: spec.host,
        PORT: String(inst.port),
        METRICS_PORT: String(inst.metricsPort ?? 0),
        SERVICE_TENANT_ID: tenant.tenantId,
      },
      stdoutFile: join(logDir, `silo-${tenant.slug}-${name}.ndjson`),
      stderrFile: join(logDir, `silo-${tenant.slug}-${name}.stderr.log`),
      tenantId: tenant.tenantId,
      logger: log.child({ service_name: name }),
      onStart: (pid, startTime) =>
        updateState(spec.stateDir, tenant, (s) => {
          const current = s.services[name];
          if (current?.port === inst.port) s.services[name] = { ...current, pid, startTime };
          else
            s.retired = [
              ...s.retired.filter((r) => r.port !== inst.port),
              { pid, startTime, port: inst.port, metricsPort: inst.metricsPort },
            ];
        }),
    });
  };

  /**
   * Finds the tenant's process of each service (in memory, or left running by an earlier tenancy)
   * or starts it: on `pinned` ports when given (resume: the directory's), else on the remembered
   * ones when free, else on new ones.
   */
  const ensureRunning = async (
    spec: LocalComputeSpec,
    tenant: TenantSpec,
    pinned: Readonly<Record<string, number>> = {},
  ): Promise<Running[]> => {
    const procs = live.get(tenant.tenantId) ?? new Map<string, Running>();
    live.set(tenant.tenantId, procs);
    const state = readState(spec.stateDir, tenant.tenantId);
    await stopLeftovers(state);
    const taken = takenBy(spec.stateDir, tenant.tenantId);
    const found: Running[] = [];
    for (const [name, svc] of Object.entries(spec.services)) {
      const known = state?.services[name];
      const inMemory = procs.get(name);
      if (inMemory?.proc.isActive()) {
        found.push(inMemory);
        continue;
      }
      let running: Running;
      if (known?.pid !== undefined && isAlive(known.pid, known.startTime)) {
        running = { name, proc: processFor(spec, tenant, name, svc, known), inst: known };
        running.proc.adopt(known.pid, known.startTime);
        tenantLog(log, tenant.tenantId).info({ service_name: name, pid: known.pid }, "adopted a running silo process");
      } else {
        const pin = pinned[name];
        const ports =
          pin === undefined
            ? await allocate(spec, svc, taken, known)
            : { port: pin, metricsPort: await allocateMetrics(spec, svc, taken, known?.metricsPort) };
        const inst: InstanceState = { ...ports, version: known?.version ?? spec.version };
        updateState(spec.stateDir, tenant, (s) => {
          s.services[name] = inst;
        });
        running = { name, proc: processFor(spec, tenant, name, svc, inst), inst };
        running.proc.start();
      }
      procs.set(name, running);
      found.push(running);
    }
    return found;
  };

  /** Stops processes recorded as retired that nothing here drains (left by a tenancy that died mid-upgrade). */
  const stopLeftovers = async (state: TenantState | undefined) => {
    if (!state) return;
    const ours = new Set([...draining].map((p) => p.pid));
    for (const r of state.retired)
      if (!ours.has(r.pid) && isAlive(r.pid, r.startTime)) {
        tenantLog(log, state.tenantId).info({ pid: r.pid }, "stopping a leftover silo process");
        await stopPid(r.pid, r.startTime, grace);
      }
  };

  const stateOf = (spec: LocalComputeSpec, tenant: TenantSpec, running: readonly Running[]): ComputeState => ({
    namespace: localNamespace(tenant.slug),
    endpoints: Object.fromEntries(running.map((r) => [r.name, urlOf(spec, r.inst.port)])),
    version: [...new Set(running.map((r) => r.inst.version))].sort().join(","),
  });

  /** Waits for every process to be healthy within the spec's start timeout and the caller's signal. */
  const allHealthy = (spec: LocalComputeSpec, running: readonly Running[], signal: AbortSignal, failFast: boolean) =>
    Promise.all(
      running.map((r) =>
        waitHealthy(r.proc, urlOf(spec, r.inst.port), { signal, timeoutMs: spec.startTimeoutMs, failFast }).catch(
          (err: unknown) => {
            throw new Error(`${r.name} of ${r.proc.pid ?? "?"}: ${(err as Error).message}`, { cause: err });
          },
        ),
      ),
    );

  const install = async (tenant: TenantSpec, signal: AbortSignal): Promise<ComputeState> => {
    const spec = load();
    const running = await ensureRunning(spec, tenant);
    try {
      await allHealthy(spec, running, signal, true);
    } catch (err) {
      // the step is retried: its next attempt starts them again on the same ports
      await Promise.all(running.map((r) => r.proc.stop(grace)));
      live.delete(tenant.tenantId);
      throw new Error(`local compute of ${tenant.slug}: ${(err as Error).message}`, { cause: err });
    }
    return stateOf(spec, tenant, running);
  };

  const drainLater = (
    spec: LocalComputeSpec,
    tenant: TenantSpec,
    old: ReadonlyArray<{ proc: TenantProcess; port: number }>,
  ) => {
    for (const o of old) draining.add(o.proc);
    const done = sleep(spec.drainMs, undefined, { signal: stopDrains.signal })
      .catch(() => undefined)
      .then(() => Promise.all(old.map((o) => o.proc.stop(grace))))
      .then(() => {
        const ports = new Set(old.map((o) => o.port));
        updateState(spec.stateDir, tenant, (s) => {
          s.retired = s.retired.filter((r) => !ports.has(r.port));
        });
        tenantLog(log, tenant.tenantId).info(
          { ports: [...ports] },
          "the previous silo processes stopped after the upgrade",
        );
      })
      .catch((err: unknown) =>
        tenantLog(log, tenant.tenantId).error({ err }, "stopping the previous silo processes failed"),
      )
      .finally(() => {
        for (const o of old) draining.delete(o.proc);
        drains.delete(done);
      });
    drains.add(done);
  };

  return {
    name: "local",

    async targetVersion() {
      return load().version;
    },

    install: (tenant, _database, signal) => locked(tenant.tenantId, () => install(tenant, signal)),

    upgrade: (tenant, _database, signal) =>
      locked(tenant.tenantId, async () => {
        const spec = load();
        const procs = live.get(tenant.tenantId);
        const state = readState(spec.stateDir, tenant.tenantId);
        const hasOld = state && Object.keys(state.services).length > 0;
        if (!hasOld) return install(tenant, signal);
        const current = await ensureRunning(spec, tenant);
        const taken = takenBy(spec.stateDir, undefined);
        const candidates: Running[] = [];
        for (const [name, svc] of Object.entries(spec.services)) {
          const inst: InstanceState = { ...(await allocate(spec, svc, taken)), version: spec.version };
          const proc = processFor(spec, tenant, name, svc, inst);
          proc.start();
          candidates.push({ name, proc, inst });
        }
        try {
          await allHealthy(spec, candidates, signal, true);
        } catch (err) {
          await Promise.all(candidates.map((c) => c.proc.stop(grace)));
          const ports = new Set(candidates.map((c) => c.inst.port));
          updateState(spec.stateDir, tenant, (s) => {
            s.retired = s.retired.filter((r) => !ports.has(r.port));
          });
          if (signal.aborted) throw err;
          const kept = stateOf(spec, tenant, current).version;
          throw new ComputeUpgradeFailed(
            `local compute of ${tenant.slug}: version ${spec.version} did not become healthy, ${kept} keeps running: ${(err as Error).message}`,
          );
        }
        const old = current.map((c) => ({ proc: c.proc, port: c.inst.port }));
        updateState(spec.stateDir, tenant, (s) => {
          for (const c of candidates) {
            const before = s.services[c.name];
            const pid = c.proc.pid;
            s.retired = s.retired.filter((r) => r.port !== c.inst.port);
            if (before?.pid !== undefined)
              s.retired.push({
                pid: before.pid,
                startTime: before.startTime,
                port: before.port,
                metricsPort: before.metricsPort,
              });
            s.services[c.name] = { ...c.inst, pid, startTime: c.proc.startTime };
          }
        });
        const map = procs ?? new Map<string, Running>();
        for (const c of candidates) map.set(c.name, c);
        live.set(tenant.tenantId, map);
        drainLater(spec, tenant, old);
        tenantLog(log, tenant.tenantId).info({ version: spec.version }, "silo tenant's processes upgraded");
        return stateOf(spec, tenant, candidates);
      }),

    uninstall: (tenant) =>
      locked(tenant.tenantId, async () => {
        const spec = load();
        const procs = [...(live.get(tenant.tenantId)?.values() ?? [])];
        live.delete(tenant.tenantId);
        await Promise.all(procs.map((p) => p.proc.stop(grace)));
        const state = readState(spec.stateDir, tenant.tenantId);
        const recorded = [...Object.values(state?.services ?? {}), ...(state?.retired ?? [])];
        for (const r of recorded) if (r.pid !== undefined) await stopPid(r.pid, r.startTime, grace);
        removeState(spec.stateDir, tenant.tenantId);
        if (state || procs.length > 0)
          tenantLog(log, tenant.tenantId).info({}, "silo tenant's processes stopped and forgotten");
      }),

    async resume(tenants, signal) {
      const spec = load();
      const wanted = new Set(tenants.map((t) => t.tenant.tenantId));
      for (const state of listStates(spec.stateDir)) {
        if (wanted.has(state.tenantId) || live.has(state.tenantId)) continue;
        for (const i of [...Object.values(state.services), ...state.retired])
          if (i.pid !== undefined && isAlive(i.pid, i.startTime)) {
            tenantLog(log, state.tenantId).info({ pid: i.pid }, "stopping the process of a tenant no longer served");
            await stopPid(i.pid, i.startTime, grace);
          }
      }
      for (const entry of tenants) {
        const { tenant } = entry;
        try {
          const pinned = Object.fromEntries(
            Object.entries(entry.endpoints ?? {}).flatMap(([name, url]) => {
              const port = Number(URL.parse(url)?.port);
              return Number.isInteger(port) && port > 0 ? [[name, port]] : [];
            }),
          );
          const running = await locked(tenant.tenantId, async () => {
            const r = await ensureRunning(spec, tenant, pinned);
            return r;
          });
          // outside the lock: a tenant still starting does not hold up a deletion or a saga step
          await allHealthy(spec, running, signal, false);
          tenantLog(log, tenant.tenantId).info(
            { endpoints: stateOf(spec, tenant, running).endpoints },
            "silo tenant's processes resumed",
          );
        } catch (err) {
          if (signal.aborted || closed) return;
          tenantLog(log, tenant.tenantId).error(
            { err },
            "resuming a silo tenant's processes failed (they keep restarting)",
          );
        }
      }
    },

    async close() {
      closed = true;
      stopDrains.abort();
      const all = [...live.values()].flatMap((m) => [...m.values()].map((r) => r.proc));
      live.clear();
      await Promise.all([...all, ...draining].map((p) => p.stop(grace)));
      await Promise.allSettled([...drains]);
    },
  };
}
