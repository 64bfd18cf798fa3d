import { existsSync, readFileSync } from "node:fs";
import { tesseraHome } from "../paths.ts";
import { renderTable } from "../table.ts";
import type { RuntimeInfo } from "../up/runtime.ts";
import { runtimeFile } from "../up/runtime.ts";
import { type EndpointCounters, endpointCounters, endpointRows, formatRate, formatSeconds } from "./endpoints.ts";
import { parseExposition } from "./exposition.ts";

/** `up` serves each process's /metrics on its gRPC port + 1000 (tools/dev/src/up/wiring.ts). */
const METRICS_PORT_OFFSET = 1000;

/** A process whose /metrics the command reads. */
export interface MetricsTarget {
  readonly name: string;
  readonly url: string;
}

/** What one round of scraping found. */
export interface Scrape {
  readonly counters: EndpointCounters[];
  /** Targets that did not answer, with why. */
  readonly unreachable: Array<{ name: string; problem: string }>;
}

/** The /metrics URL of every service and gateway in a runtime.json. */
export function metricsTargets(runtime: Pick<RuntimeInfo, "components">): MetricsTarget[] {
  return runtime.components
    .filter((c) => c.kind === "service" || c.kind === "gateway")
    .flatMap((c) => {
      const url = URL.parse(c.url);
      const port = Number(url?.port);
      if (!url || !Number.isInteger(port) || port <= 0) return [];
      return [{ name: c.name, url: `http://${url.hostname}:${port + METRICS_PORT_OFFSET}/metrics` }];
    });
}

/** Scrapes every target at once, each bounded by `timeoutMs`. */
export async function scrapeAll(targets: readonly MetricsTarget[], timeoutMs = 2_000): Promise<Scrape> {
  const results = await Promise.all(
    targets.map(async (t) => {
      try {
        const res = await fetch(t.url, { signal: AbortSignal.timeout(timeoutMs) });
        if (res.status !== 200) return { name: t.name, problem: `HTTP ${res.status}` };
        return { name: t.name, counters: endpointCounters(t.name, parseExposition(await res.text())) };
      } catch (err) {
        return { name: t.name, problem: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
  return {
    counters: results.flatMap((r) => ("counters" in r ? r.counters : [])),
    unreachable: results.flatMap((r) => ("problem" in r ? [{ name: r.name, problem: r.problem }] : [])),
  };
}

/** The table an SRE reads: one row per endpoint, requests, error and fault rate, p50/p95/p99. */
export function renderEndpoints(scrape: Scrape, previous?: Scrape): string {
  const rows = endpointRows(scrape.counters, previous?.counters);
  const table =
    rows.length === 0
      ? "no RPC has been served yet"
      : renderTable(
          ["process", "endpoint", "requests", "errors", "faults", "p50", "p95", "p99"],
          rows.map((r) => [
            r.process,
            r.endpoint,
            String(r.requests),
            formatRate(r.errorRate),
            formatRate(r.faultRate),
            formatSeconds(r.p50),
            formatSeconds(r.p95),
            formatSeconds(r.p99),
          ]),
        );
  const down = scrape.unreachable.map((u) => `unreachable: ${u.name} (${u.problem})`);
  return [table, ...down].join("\n");
}

/** Options of `./tessera metrics`. */
export interface MetricsArgs {
  watch: boolean;
  intervalMs: number;
}

/** Parses `[--watch] [--interval <seconds>]`; throws on anything else. */
export function parseMetricsArgs(argv: readonly string[]): MetricsArgs {
  const args: MetricsArgs = { watch: false, intervalMs: 5_000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--watch" || a === "-w") args.watch = true;
    else if (a === "--interval") {
      const seconds = Number(argv[++i]);
      if (!(seconds >= 1 && seconds <= 3_600)) throw new Error("--interval takes seconds from 1 to 3600");
      args.intervalMs = seconds * 1000;
    } else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

/**
 * `./tessera metrics [--watch] [--interval s]`: reads the running platform from runtime.json,
 * scrapes every process's /metrics and prints a per-endpoint table (totals since each process
 * started; with --watch, every interval, the numbers of that interval only).
 */
export async function runMetrics(argv: readonly string[], home = tesseraHome()): Promise<number> {
  let args: MetricsArgs;
  try {
    args = parseMetricsArgs(argv);
  } catch (err) {
    console.error(
      `tessera metrics: ${(err as Error).message}\nusage: ./tessera metrics [--watch] [--interval <seconds>]`,
    );
    return 2;
  }
  const file = runtimeFile(home);
  if (!existsSync(file)) {
    console.error(`tessera metrics: ${file} not found; start the platform with ./tessera up`);
    return 1;
  }
  const targets = metricsTargets(JSON.parse(readFileSync(file, "utf8")) as RuntimeInfo);
  let previous = await scrapeAll(targets);
  console.log(renderEndpoints(previous));
  if (!args.watch) return previous.unreachable.length === targets.length && targets.length > 0 ? 1 : 0;
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  while (!stop.signal.aborted) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, args.intervalMs);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      stop.signal.addEventListener("abort", wake, { once: true });
    });
    if (stop.signal.aborted) break;
    const current = await scrapeAll(targets);
    console.log(
      `\n${new Date().toISOString()}: last ${args.intervalMs / 1000} s\n${renderEndpoints(current, previous)}`,
    );
    previous = current;
  }
  return 0;
}
