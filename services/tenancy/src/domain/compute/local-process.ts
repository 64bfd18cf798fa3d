import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, fstatSync, mkdirSync, openSync, readSync } from "node:fs";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { runAsTenant } from "@tessera/platform/context";
import type { Logger } from "@tessera/platform/log";
import { closeServiceClient, createServiceClient } from "@tessera/platform/rpc-client";
import { Health, HealthCheckResponse_ServingStatus } from "@tessera/proto/grpc/health/v1/health_pb";
import { scrub } from "./helm.ts";
import { isAlive, processStartTime } from "./local-state.ts";

/** What a tenant's service process is started from. */
export interface ProcessSpec {
  /** `<slug>/<service>`, for logs. */
  readonly name: string;
  /** Whose process it is (the tenant of its log lines). */
  readonly tenantId: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** The complete environment (nothing of tenancy's own is added). */
  readonly env: Readonly<Record<string, string>>;
  /** The process's stdout (its JSON log) and stderr files, appended to. */
  readonly stdoutFile: string;
  readonly stderrFile: string;
  readonly logger: Logger;
  /** Told every time a process (re)starts, so its pid can be remembered. */
  readonly onStart: (pid: number, startTime: string | undefined) => void;
}

type LogFn = (fields: Record<string, unknown>, msg: string) => void;

/** `logger`, its lines marked as the tenant's (tenant_id from the context, as the kit's logger does). */
export function tenantLog(logger: Logger, tenantId: string): { info: LogFn; warn: LogFn; error: LogFn } {
  const as =
    (level: "info" | "warn" | "error"): LogFn =>
    (fields, msg) =>
      runAsTenant(tenantId, () => logger[level](fields, msg), "tenancy-local-compute");
  return { info: as("info"), warn: as("warn"), error: as("error") };
}

const RESTART_INITIAL_MS = 1_000;
const RESTART_MAX_MS = 30_000;
/** A process that ran this long before it exited starts again at the first backoff. */
const STABLE_MS = 60_000;
const ADOPTED_POLL_MS = 1_000;

/**
 * One service process of one silo tenant, kept running: an unexpected exit is logged and the
 * process started again with exponential backoff. Its output goes straight to its log files (the
 * child holds the file descriptors, so it keeps logging if tenancy dies). A process an earlier
 * tenancy started can be adopted by pid: it is watched by polling and stopped by signal.
 */
export class TenantProcess {
  readonly #spec: ProcessSpec;
  #child: ChildProcess | undefined;
  #pid: number | undefined;
  #startTime: string | undefined;
  #startedAt = 0;
  #stopping = false;
  #alive = false;
  #failures = 0;
  #exits = 0;
  #timer: NodeJS.Timeout | undefined;
  #onGone: Array<() => void> = [];

  constructor(spec: ProcessSpec) {
    this.#spec = spec;
  }

  #log() {
    return tenantLog(this.#spec.logger, this.#spec.tenantId);
  }

  get pid(): number | undefined {
    return this.#pid;
  }

  get startTime(): string | undefined {
    return this.#startTime;
  }

  /** Until stop(): the process runs, or is about to be started again after an exit. */
  isActive(): boolean {
    return !this.#stopping;
  }

  /** Whether a process runs now (false while waiting to restart). */
  running(): boolean {
    return this.#alive;
  }

  /** How many times the process exited unexpectedly. */
  exits(): number {
    return this.#exits;
  }

  /** Starts the process. */
  start(): void {
    for (const file of [this.#spec.stdoutFile, this.#spec.stderrFile])
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const out = openSync(this.#spec.stdoutFile, "a", 0o600);
    const err = openSync(this.#spec.stderrFile, "a", 0o600);
    let child: ChildProcess;
    try {
      child = spawn(this.#spec.command, [...this.#spec.args], {
        cwd: this.#spec.cwd,
        env: { ...this.#spec.env },
        stdio: ["ignore", out, err],
      });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    this.#child = child;
    this.#alive = true;
    this.#startedAt = Date.now();
    child.once("error", (e) => this.#log().error({ process: this.#spec.name, err: e }, "could not start"));
    child.once("exit", (code, signal) => {
      if (this.#child === child) this.#gone({ code, signal });
    });
    if (child.pid !== undefined) {
      this.#pid = child.pid;
      this.#startTime = processStartTime(child.pid);
      this.#spec.onStart(child.pid, this.#startTime);
    }
  }

  /** Takes over a process an earlier tenancy started (it is alive and is the recorded one). */
  adopt(pid: number, startTime: string | undefined): void {
    this.#pid = pid;
    this.#startTime = startTime;
    this.#alive = true;
    this.#startedAt = Date.now();
    const poll = () => {
      if (this.#child !== undefined || this.#pid !== pid) return;
      if (isAlive(pid, startTime)) this.#timer = setTimeout(poll, ADOPTED_POLL_MS).unref();
      else this.#gone({ code: null, signal: null });
    };
    this.#timer = setTimeout(poll, ADOPTED_POLL_MS).unref();
  }

  #gone(exit: { code: number | null; signal: NodeJS.Signals | null }): void {
    this.#alive = false;
    this.#child = undefined;
    const waiters = this.#onGone;
    this.#onGone = [];
    for (const w of waiters) w();
    if (this.#stopping) return;
    this.#exits++;
    if (Date.now() - this.#startedAt > STABLE_MS) this.#failures = 0;
    const delay = Math.min(RESTART_INITIAL_MS * 2 ** this.#failures, RESTART_MAX_MS);
    this.#failures++;
    this.#log().warn(
      { process: this.#spec.name, pid: this.#pid, code: exit.code, signal: exit.signal, restart_in_ms: delay },
      "a silo tenant's process exited unexpectedly: restarting it",
    );
    this.#timer = setTimeout(() => {
      if (!this.#stopping) this.start();
    }, delay).unref();
  }

  /** Resolves once no process runs (now, or when the current one exits). */
  #whenGone(): Promise<void> {
    if (!this.#alive) return Promise.resolve();
    return new Promise((resolve) => this.#onGone.push(resolve));
  }

  /** Stops for good: SIGTERM, SIGKILL after graceMs; resolves once the process has exited. */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    if (!this.#alive || this.#pid === undefined) return;
    const pid = this.#pid;
    const adopted = this.#child === undefined;
    const gone = adopted ? waitUntilDead(pid, this.#startTime, graceMs + 5_000) : this.#whenGone();
    signal(pid, "SIGTERM");
    const killed = sleep(graceMs, "overdue", { ref: false });
    if ((await Promise.race([gone.then(() => "gone"), killed])) === "overdue") {
      this.#log().warn({ process: this.#spec.name, pid, grace_ms: graceMs }, "did not stop in time: SIGKILL");
      signal(pid, "SIGKILL");
      await gone;
    }
    if (adopted) this.#alive = false;
  }

  /** The end of the process's stderr (or its last error line), scrubbed, for error messages. */
  lastWords(): string {
    const tail = (file: string) => {
      try {
        const fd = openSync(file, "r");
        try {
          const size = fstatSync(fd).size;
          const buf = Buffer.alloc(Math.min(size, 4_000));
          readSync(fd, buf, 0, buf.length, size - buf.length);
          return buf.toString("utf8");
        } finally {
          closeSync(fd);
        }
      } catch {
        return "";
      }
    };
    const stderr = tail(this.#spec.stderrFile)
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)
      .slice(-3)
      .join(" | ");
    const errorLine = tail(this.#spec.stdoutFile)
      .split("\n")
      .filter((l) => /"level":(50|60)/.test(l))
      .at(-1);
    return scrub(stderr || errorLine || "").slice(0, 600);
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

async function waitUntilDead(pid: number, startTime: string | undefined, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (isAlive(pid, startTime) && Date.now() < deadline) await sleep(100);
}

/** Stops a process known only by pid (a retired one, or one of a tenant no longer served). */
export async function stopPid(pid: number, startTime: string | undefined, graceMs: number): Promise<void> {
  if (!isAlive(pid, startTime)) return;
  signal(pid, "SIGTERM");
  await waitUntilDead(pid, startTime, graceMs);
  if (isAlive(pid, startTime)) {
    signal(pid, "SIGKILL");
    await waitUntilDead(pid, startTime, 5_000);
  }
}

/** The process did not answer SERVING in time (or exited first). */
export class NotHealthy extends Error {
  override name = "NotHealthy";
}

/**
 * Waits until the process at `baseUrl` answers grpc.health.v1 Check as SERVING: each probe has a
 * 2 s deadline, the wait ends at `signal` or `timeoutMs`. With `failFast`, a process that exits
 * before it is healthy fails the wait at once (with its last words).
 */
export async function waitHealthy(
  proc: TenantProcess,
  baseUrl: string,
  options: { signal: AbortSignal; timeoutMs: number; failFast: boolean },
): Promise<void> {
  const client = createServiceClient(Health, { baseUrl, retry: false, defaultTimeoutMs: 2_000 });
  const deadline = Date.now() + options.timeoutMs;
  const exitsBefore = proc.exits();
  let last = "no answer yet";
  try {
    for (;;) {
      options.signal.throwIfAborted();
      if (!proc.isActive()) throw new NotHealthy("stopped before it was healthy");
      if (options.failFast && proc.exits() > exitsBefore)
        throw new NotHealthy(`exited before it was healthy: ${proc.lastWords() || "no output"}`);
      try {
        const res = await client.check({ service: "" }, { timeoutMs: 2_000, signal: options.signal });
        if (res.status === HealthCheckResponse_ServingStatus.SERVING) return;
        const status = Object.entries(HealthCheckResponse_ServingStatus).find(([, v]) => v === res.status)?.[0];
        last = `health status ${status ?? res.status}`;
      } catch (err) {
        options.signal.throwIfAborted();
        last = (err as Error).message;
      }
      if (Date.now() > deadline)
        throw new NotHealthy(
          `not healthy after ${Math.round(options.timeoutMs / 1000)} s (${last})${proc.lastWords() ? `: ${proc.lastWords()}` : ""}`,
        );
      await sleep(250, undefined, { signal: options.signal }).catch(() => undefined);
    }
  } finally {
    closeServiceClient(client);
  }
}
