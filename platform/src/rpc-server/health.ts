import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "@tessera/proto/grpc/health/v1/health_pb";
import { runOutsideContext } from "../context/index.ts";
import type { Logger } from "../log/index.ts";

/** Fully-qualified name of the standard gRPC health service; auth and telemetry interceptors skip it. */
export const HEALTH_SERVICE_NAME = "grpc.health.v1.Health";

/** Health entry that stays SERVING while the process is alive (Kubernetes livenessProbe). */
export const LIVENESS = "liveness";

/** Health entry that reflects readiness (Kubernetes readinessProbe); the same as the overall entry `""`. */
export const READINESS = "readiness";

/**
 * One readiness dependency (a database ping, a NATS connection). It is ready when it resolves
 * to anything but `false` (so `async () => {}` works); throwing, returning `false` or overrunning its deadline means not
 * ready. The signal aborts when the check's deadline passes.
 */
export type ReadinessCheck = (signal: AbortSignal) => Promise<unknown>;

/** A grpc.health.v1 serving status (SERVING, NOT_SERVING, SERVICE_UNKNOWN…). */
export type ServingStatusValue = (typeof ServingStatus)[keyof typeof ServingStatus];

/** How readiness is evaluated. */
export interface HealthRegistryOptions {
  readonly checks: readonly ReadinessCheck[];
  /** Deadline of each readiness check. */
  readonly checkTimeoutMs: number;
  /** How often readiness is re-evaluated while someone Watches. */
  readonly pollIntervalMs: number;
  readonly log: Logger;
}

/**
 * The health state of one server, as served by grpc.health.v1.Health.
 *
 * Convention:
 * - `liveness`: SERVING while the process is alive, even while shutting down; only
 *   `setServing("liveness", false)` (e.g. a detected deadlock) turns it off.
 * - `""` (overall) and `readiness`: SERVING when every readiness check passes, no one called
 *   `setServing("", false)`, and shutdown has not started; NOT_SERVING the moment it starts.
 * - each registered service's full name (and any name given to `setServing`): the overall
 *   readiness, and additionally NOT_SERVING while switched off with `setServing(name, false)`.
 * Any other name is unknown: Check answers NOT_FOUND, Watch streams SERVICE_UNKNOWN.
 */
export class HealthRegistry {
  readonly #options: HealthRegistryOptions;
  readonly #known = new Set<string>(["", LIVENESS, READINESS]);
  readonly #switchedOff = new Set<string>();
  readonly #waiters = new Set<() => void>();
  #checksOk: boolean;
  #shuttingDown = false;
  #closed = false;
  #pending: Promise<void> | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #watchers = 0;

  constructor(options: HealthRegistryOptions) {
    this.#options = options;
    this.#checksOk = options.checks.length === 0;
  }

  /** Makes `name` a known entry (done for every service the server registers). */
  addService(name: string): void {
    this.#known.add(name);
  }

  /** Switches a named entry (or `""`/`readiness` for the whole server, or `liveness`) on or off. */
  setServing(name: string, serving: boolean): void {
    const key = name === READINESS ? "" : name;
    this.#known.add(name);
    const changed = serving ? this.#switchedOff.delete(key) : !this.#switchedOff.has(key);
    if (!serving) this.#switchedOff.add(key);
    if (changed) this.#notify();
  }

  /** Readiness goes NOT_SERVING from now on (liveness stays as it is). */
  beginShutdown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    this.#notify();
  }

  /** Ends every open Watch stream (the last step before sessions close). */
  closeWatchers(): void {
    this.#closed = true;
    this.#stopPolling();
    this.#notify();
  }

  /** Whether the server as a whole is ready to take traffic, from the last evaluation. */
  isReady(): boolean {
    return !this.#shuttingDown && this.#checksOk && !this.#switchedOff.has("");
  }

  /** Current status of an entry, or undefined when the name is unknown. */
  status(name: string): ServingStatusValue | undefined {
    if (!this.#known.has(name)) return undefined;
    if (name === LIVENESS) return this.#switchedOff.has(LIVENESS) ? ServingStatus.NOT_SERVING : ServingStatus.SERVING;
    const serving = this.isReady() && (name === READINESS || !this.#switchedOff.has(name));
    return serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  }

  /** Every known entry with its status. */
  snapshot(): Map<string, ServingStatusValue> {
    const out = new Map<string, ServingStatusValue>();
    for (const name of this.#known) out.set(name, this.status(name) ?? ServingStatus.SERVICE_UNKNOWN);
    return out;
  }

  /** Runs the readiness checks (concurrent callers share one run). */
  refresh(): Promise<void> {
    this.#pending ??= this.#runChecks().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  /** Streams the status of `name`: the current one first, then each change, until aborted or closed. */
  async *watch(name: string, signal: AbortSignal): AsyncGenerator<ServingStatusValue> {
    this.#watchers++;
    this.#startPolling();
    try {
      await this.refresh();
      let last: ServingStatusValue | undefined;
      while (!signal.aborted && !this.#closed) {
        const current = this.status(name) ?? ServingStatus.SERVICE_UNKNOWN;
        const next = this.#nextChange(signal);
        if (current !== last) {
          last = current;
          yield current;
        }
        await next;
      }
    } finally {
      this.#watchers--;
      if (this.#watchers === 0) this.#stopPolling();
    }
  }

  #nextChange(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted || this.#closed) return resolve();
      const done = () => {
        this.#waiters.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.#waiters.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  #startPolling(): void {
    if (this.#pollTimer || this.#closed || this.#options.checks.length === 0) return;
    this.#pollTimer = setInterval(() => void this.refresh(), this.#options.pollIntervalMs);
    this.#pollTimer.unref();
  }

  #stopPolling(): void {
    if (this.#pollTimer) clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  async #runChecks(): Promise<void> {
    const { checks, checkTimeoutMs, log } = this.#options;
    if (checks.length === 0) return;
    const failures = (
      await Promise.all(
        checks.map(async (check, i) => ({
          name: check.name || `check#${i}`,
          problem: await runCheck(check, checkTimeoutMs),
        })),
      )
    ).filter((r) => r.problem !== undefined);
    const ok = failures.length === 0;
    if (ok === this.#checksOk) return;
    this.#checksOk = ok;
    // a process-level change, whichever probe noticed it
    runOutsideContext(() => {
      if (ok) log.info("readiness checks pass: ready");
      else log.warn({ failed_checks: failures }, "readiness checks fail: not ready");
    });
    this.#notify();
  }
}

/** Runs one check under its deadline; returns a description of the problem, or undefined when ready. */
async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<string | undefined> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<string>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error("readiness check deadline exceeded"));
      resolve(`no answer within ${timeoutMs} ms`);
    }, timeoutMs);
  });
  try {
    const outcome = await Promise.race([
      check(controller.signal).then(
        (result) => (result === false ? "reported not ready" : undefined),
        (err: unknown) => `failed: ${err instanceof Error ? err.message : String(err)}`,
      ),
      deadline,
    ]);
    return outcome;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Registers grpc.health.v1.Health (Check, Watch, List) for the registry. It is registered without
 * the caller's interceptors, so probes never need credentials; `interceptors` are the kit's own
 * input checks.
 */
export function registerHealthService(
  router: ConnectRouter,
  registry: HealthRegistry,
  interceptors: Interceptor[] = [],
): void {
  router.service(
    Health,
    {
      async check(req) {
        await registry.refresh();
        const status = registry.status(req.service);
        if (status === undefined) throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
        return { status };
      },
      async *watch(req, ctx) {
        for await (const status of registry.watch(req.service, ctx.signal)) yield { status };
      },
      async list() {
        await registry.refresh();
        const statuses: Record<string, { status: ServingStatusValue }> = {};
        for (const [name, status] of registry.snapshot()) statuses[name] = { status };
        return { statuses };
      },
    },
    { interceptors },
  );
}
