import type { Logger } from "@tessera/platform/log";

/**
 * The machinery both background runners of tenancy share (provisioning sagas, tier moves and
 * deletions): one run per key at a time, timers that wake a key at a given time (capped by the
 * sweep interval), a periodic sweep for work left by crashed processes, and a stop that aborts
 * external calls and waits for runs in progress.
 */
export interface WorkLoop {
  /** Aborted when the loop stops (pass it to external calls). */
  readonly signal: AbortSignal;
  stopped(): boolean;
  /** Runs `work` for `key` unless a run of it is in progress (then returns that one). */
  run(key: string, work: () => Promise<void>): Promise<void>;
  /** Runs `key` again at `at` (at the latest after one sweep interval). */
  schedule(key: string, at: Date): void;
  /** Sweeps now and then every sweep interval. */
  start(): void;
  stop(): Promise<void>;
}

/** Options of {@link createWorkLoop}. */
export interface WorkLoopOptions {
  readonly sweepIntervalMs: number;
  /** Backoff after a run that failed unexpectedly. */
  readonly retryMs: number;
  /** Looks for due work and kicks it (called at start and every sweep interval). */
  readonly sweep: () => Promise<void>;
  /** What a timer does for a key: usually starts its run. */
  readonly wake: (key: string) => void;
  readonly logger: Logger;
  /** Names the work in log lines ("provisioning saga", "operation"). */
  readonly what: string;
}

/** Creates a {@link WorkLoop}. */
export function createWorkLoop(options: WorkLoopOptions): WorkLoop {
  const { logger: log, what } = options;
  const running = new Map<string, Promise<void>>();
  const timers = new Map<string, NodeJS.Timeout>();
  const abort = new AbortController();
  let sweepTimer: NodeJS.Timeout | undefined;
  let stopped = false;

  function schedule(key: string, at: Date): void {
    if (stopped) return;
    clearTimeout(timers.get(key));
    const delay = Math.max(0, Math.min(at.getTime() - Date.now(), options.sweepIntervalMs)) + 10;
    const timer = setTimeout(() => {
      timers.delete(key);
      options.wake(key);
    }, delay);
    timer.unref();
    timers.set(key, timer);
  }

  function sweepSoon(): void {
    options
      .sweep()
      .catch((err: unknown) => log.warn({ err }, `could not look for unfinished ${what}s`))
      .finally(() => {
        if (stopped) return;
        sweepTimer = setTimeout(sweepSoon, options.sweepIntervalMs);
        sweepTimer.unref();
      });
  }

  return {
    signal: abort.signal,
    stopped: () => stopped,
    schedule,
    run(key, work) {
      const inFlight = running.get(key);
      if (inFlight) return inFlight;
      if (stopped) return Promise.resolve();
      const promise = work()
        .catch((err: unknown) => {
          log.error({ err, key }, `${what} run failed; retrying later`);
          schedule(key, new Date(Date.now() + options.retryMs));
        })
        .finally(() => running.delete(key));
      running.set(key, promise);
      return promise;
    },
    start() {
      if (stopped || sweepTimer) return;
      sweepTimer = setTimeout(sweepSoon, 0);
      sweepTimer.unref();
    },
    async stop() {
      stopped = true;
      clearTimeout(sweepTimer);
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
      abort.abort(new Error("the service is shutting down"));
      await Promise.allSettled([...running.values()]);
    },
  };
}
