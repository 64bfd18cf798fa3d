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

/** GraphQL `extensions.code`s that are the server's fault (the others are the caller's). */
export const GRAPHQL_FAULT_CODES = new Set(["INTERNAL_SERVER_ERROR", "UNAVAILABLE"]);

/** Cumulative RED numbers of one endpoint of one process, as scraped. */
export interface EndpointCounters {
  /** The process (deployable) that serves it. */
  readonly process: string;
  /**
   * `package.Service/Method` (gRPC), `graphql <type> <operationName>` (GraphQL gateway) or
   * `<METHOD> <route>` (REST edge).
   */
  readonly endpoint: string;
  readonly requests: number;
  /** Calls that ended with any non-OK status (GraphQL: with errors; REST: 4xx and 5xx). */
  readonly errors: number;
  /** Calls that ended with a server-side fault (gRPC INTERNAL, UNAVAILABLE, …; GraphQL INTERNAL_SERVER_ERROR, UNAVAILABLE; REST 5xx). */
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

type Family = "rpc" | "graphql" | "http";

/** Which family, endpoint and role a sample of the kit's or the gateways' RED series has; undefined for others. */
function classify(s: Sample): { family: Family; key: string; role: "requests" | "errors" | "bucket" } | undefined {
  const l = s.labels;
  switch (s.name) {
    case "rpc_server_requests_total":
    case "rpc_server_errors_total":
    case "rpc_server_duration_bucket": {
      if (!l.rpc_service || !l.rpc_method) return undefined;
      const role =
        s.name === "rpc_server_requests_total"
          ? "requests"
          : s.name === "rpc_server_errors_total"
            ? "errors"
            : "bucket";
      return { family: "rpc", key: `${l.rpc_service}/${l.rpc_method}`, role };
    }
    case "graphql_operation_requests_total":
    case "graphql_operation_errors_total":
    case "graphql_operation_duration_seconds_bucket": {
      if (!l.operation_name) return undefined;
      const role =
        s.name === "graphql_operation_requests_total"
          ? "requests"
          : s.name === "graphql_operation_errors_total"
            ? "errors"
            : "bucket";
      return { family: "graphql", key: `graphql ${l.operation_type ?? "unknown"} ${l.operation_name}`, role };
    }
    case "http_server_requests_total":
    case "http_server_errors_total":
    case "http_server_duration_seconds_bucket": {
      if (!l.route || !l.method) return undefined;
      const role =
        s.name === "http_server_requests_total"
          ? "requests"
          : s.name === "http_server_errors_total"
            ? "errors"
            : "bucket";
      return { family: "http", key: `${l.method} ${l.route}`, role };
    }
    default:
      return undefined;
  }
}

/**
 * Per-endpoint counters from one process's samples of the RED series: the kit's RPC metrics
 * (`rpc_server_requests_total`, `rpc_server_errors_total`, `rpc_server_duration_bucket`; summed
 * over status codes and RPC systems), the GraphQL gateway's per operation
 * (`graphql_operation_requests_total`, `…_errors_total`, `…_duration_seconds_bucket`) and the REST
 * edge's per route (`http_server_requests_total`, `…_errors_total`, `…_duration_seconds_bucket`).
 */
export function endpointCounters(process: string, samples: readonly Sample[]): EndpointCounters[] {
  const byEndpoint = new Map<
    string,
    { family: Family; requests: number; errors: number; faults: number; buckets: Map<number, number> }
  >();
  for (const s of samples) {
    const c = classify(s);
    if (!c) continue;
    let e = byEndpoint.get(c.key);
    if (!e) {
      e = { family: c.family, requests: 0, errors: 0, faults: 0, buckets: new Map() };
      byEndpoint.set(c.key, e);
    }
    if (c.role === "bucket") {
      const le = s.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(s.labels.le);
      if (!Number.isNaN(le)) e.buckets.set(le, (e.buckets.get(le) ?? 0) + s.value);
      continue;
    }
    if (c.role === "requests") {
      e.requests += s.value;
      // a GraphQL operation with errors is counted once, by result; its errors_total counts each error
      if (c.family === "graphql" && s.labels.result === "error") e.errors += s.value;
      continue;
    }
    if (c.family === "rpc") {
      e.errors += s.value;
      if (SERVER_FAULT_CODES.has(s.labels.rpc_response_status_code ?? "")) e.faults += s.value;
    } else if (c.family === "graphql") {
      if (GRAPHQL_FAULT_CODES.has(s.labels.code ?? "")) e.faults += s.value;
    } else {
      e.errors += s.value;
      if ((s.labels.status_code ?? "").startsWith("5")) e.faults += s.value;
    }
  }
  return [...byEndpoint].map(([endpoint, e]) => ({
    process,
    endpoint,
    requests: e.requests,
    errors: e.errors,
    // several faults in one GraphQL result are one failed operation
    faults: Math.min(e.faults, e.errors),
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
