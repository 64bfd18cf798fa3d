import { LatencyRecorder, type LoadResult, runLoad } from "./load.ts";
import { type ScenarioStats, statsOf } from "./report.ts";

/** One closed-loop scenario of an interleaved comparison. */
export interface LoadScenario {
  readonly name: string;
  readonly concurrency: number;
  call(): Promise<unknown>;
}

/** A scenario's numbers, with the CPU the measured child processes spent per call. */
export interface MeasuredScenario {
  readonly stats: ScenarioStats;
  /** CPU of the processes `childCpuMicros` reads, per successful call, µs (NaN without it). */
  readonly childCpuPerCall: number;
  /** The first error of a failed call, when one failed. */
  readonly firstError: unknown;
}

/**
 * Warms every scenario up, then measures them in `rounds` slices of `measureMs / rounds` each,
 * the order rotated every round (A B, B A, …), as grpc-unary.ts and product-slice.ts do: a
 * machine that speeds up or slows down during the run weighs on every scenario alike.
 * `childCpuMicros` (e.g. {@link processCpuMicros} of a service) is read around every slice.
 */
export async function interleaved(
  scenarios: readonly LoadScenario[],
  options: {
    readonly warmupMs: number;
    readonly measureMs: number;
    readonly rounds: number;
    readonly childCpuMicros?: () => number;
    readonly progress?: (message: string) => void;
  },
): Promise<MeasuredScenario[]> {
  for (const s of scenarios) {
    options.progress?.(`warm-up ${s.name}: ${(options.warmupMs / 1000).toFixed(1)} s`);
    await runLoad(() => s.call(), options.warmupMs, s.concurrency);
  }
  const results = scenarios.map(() => ({ rounds: [] as LoadResult[], rec: new LatencyRecorder(), childCpu: 0 }));
  const slice = options.measureMs / options.rounds;
  for (let r = 0; r < options.rounds; r++) {
    options.progress?.(`round ${r + 1}/${options.rounds}: ${(slice / 1000).toFixed(2)} s per scenario`);
    for (let k = 0; k < scenarios.length; k++) {
      const i = (r + k) % scenarios.length;
      const s = scenarios[i];
      const out = results[i];
      if (!s || !out) continue;
      const before = options.childCpuMicros?.() ?? Number.NaN;
      out.rounds.push(await runLoad(() => s.call(), slice, s.concurrency, out.rec));
      out.childCpu += (options.childCpuMicros?.() ?? Number.NaN) - before;
    }
  }
  return scenarios.map((s, i) => {
    const out = results[i] ?? { rounds: [], rec: new LatencyRecorder(), childCpu: Number.NaN };
    const calls = out.rounds.reduce((sum, x) => sum + x.calls, 0);
    return {
      stats: statsOf(s.name, out.rounds, out.rec.sorted()),
      childCpuPerCall: calls > 0 ? out.childCpu / calls : Number.NaN,
      firstError: out.rounds.find((x) => x.errors > 0)?.firstError,
    };
  });
}
