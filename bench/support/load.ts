import { performance } from "node:perf_hooks";

/** Per-call latencies in nanoseconds, kept in a growable Float64Array (no per-call allocation). */
export class LatencyRecorder {
  #values = new Float64Array(1 << 16);
  #count = 0;

  get count(): number {
    return this.#count;
  }

  add(ns: number): void {
    if (this.#count === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#count++] = ns;
  }

  /** The recorded values, sorted ascending (a copy). */
  sorted(): Float64Array {
    return this.#values.slice(0, this.#count).sort();
  }
}

/** Nearest-rank percentile (`p` in 0..1) of an ascending array; NaN when it is empty. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

/** What one closed-loop run produced. */
export interface LoadResult {
  /** Calls that succeeded. */
  readonly calls: number;
  readonly errors: number;
  readonly firstError: unknown;
  /** From the first call's start to the last call's end, in seconds. */
  readonly elapsedSec: number;
  /** Process CPU time (user + system) spent during the run, in microseconds. */
  readonly cpuMicros: number;
  /** Share of the run the event loop was busy (0..1). */
  readonly loopBusy: number;
  /** CPU time of the main thread alone, in microseconds (less than the elapsed time when the OS ran something else). */
  readonly mainThreadCpuMicros: number;
}

/**
 * Runs `concurrency` workers, each issuing `call()` back to back (a closed loop) until
 * `durationMs` has passed; calls in flight at that moment are allowed to finish. Successful
 * calls are timed with `process.hrtime.bigint()` into `recorder` when one is given.
 */
export async function runLoad(
  call: () => Promise<unknown>,
  durationMs: number,
  concurrency: number,
  recorder?: LatencyRecorder,
): Promise<LoadResult> {
  let calls = 0;
  let errors = 0;
  let firstError: unknown;
  const cpuBefore = process.cpuUsage();
  const threadBefore = process.threadCpuUsage();
  const eluBefore = performance.eventLoopUtilization();
  const started = process.hrtime.bigint();
  const endAt = performance.now() + durationMs;

  const worker = async (): Promise<void> => {
    while (performance.now() < endAt) {
      const t0 = process.hrtime.bigint();
      try {
        await call();
        recorder?.add(Number(process.hrtime.bigint() - t0));
        calls++;
      } catch (err) {
        errors++;
        firstError ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));

  const elapsedSec = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  const thread = process.threadCpuUsage(threadBefore);
  const elu = performance.eventLoopUtilization(eluBefore);
  return {
    calls,
    errors,
    firstError,
    elapsedSec,
    cpuMicros: cpu.user + cpu.system,
    loopBusy: elu.utilization,
    mainThreadCpuMicros: thread.user + thread.system,
  };
}

/**
 * A warm-up run of `warmupMs` (not recorded), then a recorded run of `durationMs`: the run's result
 * and its sorted latencies (ns). Errors are printed with the first one.
 */
export async function measureLoad(
  name: string,
  call: () => Promise<unknown>,
  options: { warmupMs: number; durationMs: number; concurrency: number },
): Promise<{ result: LoadResult; sorted: Float64Array }> {
  await runLoad(call, options.warmupMs, options.concurrency);
  const recorder = new LatencyRecorder();
  const result = await runLoad(call, options.durationMs, options.concurrency, recorder);
  if (result.errors > 0) console.error(`${name}: ${result.errors} errors, first:`, result.firstError);
  return { result, sorted: recorder.sorted() };
}
