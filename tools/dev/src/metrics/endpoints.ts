import type { Sample } from "./exposition.ts";
import { type Bucket, quantile, subtractBuckets } from "./histogram.ts";

/** gRPC codes that are the server's fault (the kit marks server spans with them as errors). */
export const SERVER_FAULT_CODES = new Set([
  "UNKNOWN",
  "DEADLINE_EXCEEDED",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
]);

/** Cumulative RED numbers of one endpoint of one process, as scraped. */
export interface EndpointCounters {
  /** The process (deployable) that serves it. */
  readonly process: string;
  /** `package.Service/Method`. */
  readonly endpoint: string;
  readonly requests: number;
  /** Calls that ended with any non-OK status. */
  readonly errors: number;
  /** Calls that ended with a server-side fault (INTERNAL, UNAVAILABLE, …). */
  readonly faults: number;
  readonly buckets: Bucket[];
}

/** One row of the table: rates and latency percentiles of one endpoint. */
export interface EndpointRow {
  readonly process: string;
  readonly endpoint: string;
  readonly requests: number;
  /** Non-OK share, 0..1 (undefined without requests). */
  readonly errorRate: number | undefined;
  readonly faultRate: number | undefined;
  /** Seconds. */
  readonly p50: number | undefined;
  readonly p95: number | undefined;
  readonly p99: number | undefined;
}

/**
 * Per-endpoint counters from one process's samples of the kit's RPC metrics
 * (`rpc_server_requests_total`, `rpc_server_errors_total`, `rpc_server_duration_bucket`), summed
 * over status codes and RPC systems (gRPC, Connect, gRPC-Web).
 */
export function endpointCounters(process: string, samples: readonly Sample[]): EndpointCounters[] {
  const byEndpoint = new Map<
    string,
    { requests: number; errors: number; faults: number; buckets: Map<number, number> }
  >();
  const entry = (s: Sample) => {
    const service = s.labels.rpc_service;
    const method = s.labels.rpc_method;
    if (!service || !method) return undefined;
    const key = `${service}/${method}`;
    let e = byEndpoint.get(key);
    if (!e) {
      e = { requests: 0, errors: 0, faults: 0, buckets: new Map() };
      byEndpoint.set(key, e);
    }
    return e;
  };
  for (const s of samples) {
    if (s.name === "rpc_server_requests_total") {
      const e = entry(s);
      if (e) e.requests += s.value;
    } else if (s.name === "rpc_server_errors_total") {
      const e = entry(s);
      if (!e) continue;
      e.errors += s.value;
      if (SERVER_FAULT_CODES.has(s.labels.rpc_response_status_code ?? "")) e.faults += s.value;
    } else if (s.name === "rpc_server_duration_bucket") {
      const e = entry(s);
      const le = s.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(s.labels.le);
      if (e && !Number.isNaN(le)) e.buckets.set(le, (e.buckets.get(le) ?? 0) + s.value);
    }
  }
  return [...byEndpoint].map(([endpoint, e]) => ({
    process,
    endpoint,
    requests: e.requests,
    errors: e.errors,
    faults: e.faults,
    buckets: [...e.buckets].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le),
  }));
}

const ratio = (part: number, whole: number) => (whole > 0 ? part / whole : undefined);

/**
 * Table rows from counters: totals since the processes started, or — given the previous scrape —
 * only what happened in between (counters that went backwards mean a restart: the later value is used).
 */
export function endpointRows(
  current: readonly EndpointCounters[],
  previous?: readonly EndpointCounters[],
): EndpointRow[] {
  const before = new Map((previous ?? []).map((c) => [`${c.process} ${c.endpoint}`, c]));
  return current
    .map((c) => {
      const p = before.get(`${c.process} ${c.endpoint}`);
      const restarted = p !== undefined && c.requests < p.requests;
      const base = p && !restarted ? p : undefined;
      const requests = c.requests - (base?.requests ?? 0);
      const buckets = base ? subtractBuckets(c.buckets, base.buckets) : c.buckets;
      return {
        process: c.process,
        endpoint: c.endpoint,
        requests,
        errorRate: ratio(c.errors - (base?.errors ?? 0), requests),
        faultRate: ratio(c.faults - (base?.faults ?? 0), requests),
        p50: quantile(0.5, buckets),
        p95: quantile(0.95, buckets),
        p99: quantile(0.99, buckets),
      };
    })
    .sort((a, b) => a.process.localeCompare(b.process) || a.endpoint.localeCompare(b.endpoint));
}

/** Seconds for a terminal: `0.8 ms`, `42 ms`, `1.25 s`; `-` when unknown. */
export function formatSeconds(s: number | undefined): string {
  if (s === undefined) return "-";
  if (s < 0.001) return `${(s * 1000).toFixed(2)} ms`;
  if (s < 1) return `${(s * 1000).toFixed(s < 0.01 ? 1 : 0)} ms`;
  return `${s.toFixed(2)} s`;
}

/** A share for a terminal: `0.00 %`; `-` when unknown. */
export function formatRate(r: number | undefined): string {
  return r === undefined ? "-" : `${(r * 100).toFixed(2)} %`;
}
