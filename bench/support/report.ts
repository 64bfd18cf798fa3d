import { type LoadResult, percentile } from "./load.ts";

/** One scenario's measured numbers, latencies in microseconds. */
export interface ScenarioStats {
  readonly name: string;
  readonly callsPerSec: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  /** Process CPU (client and server together when they share the process) per successful call. */
  readonly cpuPerCall: number;
  readonly loopBusy: number;
  /** Main-thread CPU time over elapsed time: well under 1 means the OS gave the CPU to something else. */
  readonly onCpu: number;
  readonly errors: number;
  /** Half the range of the per-round calls/s, relative to their mean (0 with a single round). */
  readonly spread: number;
}

/** Turns a scenario's measured rounds and their sorted latencies (ns) into the numbers the table shows. */
export function statsOf(name: string, rounds: readonly LoadResult[], sortedNs: Float64Array): ScenarioStats {
  const us = (p: number) => percentile(sortedNs, p) / 1_000;
  const sum = (pick: (r: LoadResult) => number) => rounds.reduce((total, r) => total + pick(r), 0);
  const calls = sum((r) => r.calls);
  const elapsed = sum((r) => r.elapsedSec);
  const rates = rounds.map((r) => r.calls / r.elapsedSec);
  const meanRate = rates.reduce((a, b) => a + b, 0) / rates.length;
  return {
    name,
    callsPerSec: calls / elapsed,
    p50: us(0.5),
    p95: us(0.95),
    p99: us(0.99),
    cpuPerCall: calls > 0 ? sum((r) => r.cpuMicros) / calls : Number.NaN,
    loopBusy: sum((r) => r.loopBusy * r.elapsedSec) / elapsed,
    onCpu: sum((r) => r.mainThreadCpuMicros) / 1e6 / elapsed,
    errors: sum((r) => r.errors),
    spread: rates.length > 1 ? (Math.max(...rates) - Math.min(...rates)) / 2 / meanRate : 0,
  };
}

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "-");
const ratio = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}x` : "-");

/** The results table, with throughput and p95 ratios against the baseline (when it was run). */
export function formatTable(rows: readonly ScenarioStats[], base: ScenarioStats | undefined): string {
  const header = [
    "scenario",
    "calls/s",
    "round spread",
    "p50 µs",
    "p95 µs",
    "p99 µs",
    "CPU µs/call",
    "loop busy",
    "on CPU",
    "errors",
    "calls/s vs base",
    "p95 vs base",
  ];
  const body = rows.map((r) => [
    r.name,
    int(r.callsPerSec),
    `±${Math.round(r.spread * 100)}%`,
    int(r.p50),
    int(r.p95),
    int(r.p99),
    int(r.cpuPerCall),
    `${Math.round(r.loopBusy * 100)}%`,
    `${Math.round(r.onCpu * 100)}%`,
    String(r.errors),
    base ? ratio(r.callsPerSec / base.callsPerSec) : "-",
    base ? ratio(r.p95 / base.p95) : "-",
  ]);
  return textTable(header, body);
}

/** A plain-text table: the first column left-aligned, the others right-aligned, a dashed rule under the header. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((cells) => (cells[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** One line comparing two scenarios: throughput and p95 ratios, and the CPU each call adds. */
export function formatComparison(label: string, subject: ScenarioStats, reference: ScenarioStats): string {
  const cpuDelta = subject.cpuPerCall - reference.cpuPerCall;
  return (
    `${label}: calls/s ${ratio(subject.callsPerSec / reference.callsPerSec)}, ` +
    `p95 ${ratio(subject.p95 / reference.p95)}, ` +
    `CPU ${cpuDelta >= 0 ? "+" : ""}${int(cpuDelta)} µs/call`
  );
}
