import { describe, expect, it } from "vitest";
import { endpointCounters, endpointRows, formatRate, formatSeconds } from "./endpoints.ts";
import { parseExposition } from "./exposition.ts";
import { quantile } from "./histogram.ts";

const bounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, Number.POSITIVE_INFINITY];
/** Cumulative buckets over `bounds` for observations given as how many fall in each bucket. */
const cumulative = (perBucket: number[]) => {
  let total = 0;
  return bounds.map((le, i) => {
    total += perBucket[i] ?? 0;
    return { le, count: total };
  });
};

describe("histogram quantiles", () => {
  it("interpolates inside the bucket the rank falls in, like histogram_quantile", () => {
    // 100 observations, all in (0.1, 0.25]
    const b = cumulative([0, 0, 0, 0, 0, 0, 0, 100]);
    expect(quantile(0.5, b)).toBeCloseTo(0.175, 10);
    expect(quantile(0.95, b)).toBeCloseTo(0.2425, 10);
    // the first bucket interpolates from 0
    expect(quantile(0.5, cumulative([10]))).toBeCloseTo(0.0005, 10);
  });

  it("resolves P95 anywhere from 1 ms to 10 s with the kit's buckets", () => {
    expect(quantile(0.95, cumulative([100]))).toBeLessThanOrEqual(0.001);
    const slow = cumulative([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100]);
    expect(quantile(0.95, slow)).toBeGreaterThan(5);
    expect(quantile(0.95, slow)).toBeLessThanOrEqual(10);
  });

  it("answers the highest finite bound for ranks in +Inf, and nothing without observations", () => {
    const b = cumulative([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 99]);
    expect(quantile(0.99, b)).toBe(10);
    expect(quantile(0.5, cumulative([]))).toBeUndefined();
    expect(() => quantile(1, b)).toThrow(RangeError);
  });
});

const EXPOSITION = `# HELP rpc_server_requests_total Inbound RPCs completed, by final status code.
# TYPE rpc_server_requests_total counter
rpc_server_requests_total{rpc_system="grpc",rpc_service="tessera.audit.v1.AuditService",rpc_method="ListAuditEvents",rpc_response_status_code="OK"} 90
rpc_server_requests_total{rpc_system="connect_rpc",rpc_service="tessera.audit.v1.AuditService",rpc_method="ListAuditEvents",rpc_response_status_code="OK"} 5
rpc_server_requests_total{rpc_system="grpc",rpc_service="tessera.audit.v1.AuditService",rpc_method="ListAuditEvents",rpc_response_status_code="NOT_FOUND"} 3
rpc_server_requests_total{rpc_system="grpc",rpc_service="tessera.audit.v1.AuditService",rpc_method="ListAuditEvents",rpc_response_status_code="INTERNAL"} 2
rpc_server_errors_total{rpc_system="grpc",rpc_service="tessera.audit.v1.AuditService",rpc_method="ListAuditEvents",rpc_response_status_code="NOT_FOUND"} 3
rpc_server_errors_total{rpc_system="grpc",rpc_service="tessera.audit.v1.AuditService",rpc_method="ListAuditEvents",rpc_response_status_code="INTERNAL"} 2
rpc_server_duration_bucket{rpc_system="grpc",rpc_service="tessera.audit.v1.AuditService",rpc_method="ListAuditEvents",rpc_response_status_code="OK",le="0.01"} 50
rpc_server_duration_bucket{rpc_system="grpc",rpc_service="tessera.audit.v1.AuditService",rpc_method="ListAuditEvents",rpc_response_status_code="OK",le="0.025"} 100
rpc_server_duration_bucket{rpc_system="grpc",rpc_service="tessera.audit.v1.AuditService",rpc_method="ListAuditEvents",rpc_response_status_code="OK",le="+Inf"} 100
target_info{service_name="audit",note="a \\"quoted\\" \\\\ value\\nnext"} 1
`;

describe("exposition and the endpoint table", () => {
  it("parses samples with escaped label values and infinite bounds", () => {
    const samples = parseExposition(EXPOSITION);
    expect(samples).toHaveLength(10);
    expect(samples.at(-1)?.labels.note).toBe('a "quoted" \\ value\nnext');
    expect(samples.find((s) => s.labels.le === "+Inf")?.value).toBe(100);
  });

  it("sums an endpoint over systems and codes: requests, error and fault rates, percentiles", () => {
    const [row] = endpointRows(endpointCounters("audit", parseExposition(EXPOSITION)));
    expect(row).toMatchObject({
      process: "audit",
      endpoint: "tessera.audit.v1.AuditService/ListAuditEvents",
      requests: 100,
      errorRate: 0.05,
      faultRate: 0.02,
    });
    expect(row?.p50).toBeCloseTo(0.01, 10);
    expect(row?.p95).toBeCloseTo(0.0235, 10);
    expect([formatRate(row?.errorRate), formatSeconds(row?.p95), formatSeconds(undefined)]).toEqual([
      "5.00 %",
      "24 ms",
      "-",
    ]);
  });

  it("in watch mode shows only what happened between two scrapes, and survives a process restart", () => {
    const before = endpointCounters("audit", parseExposition(EXPOSITION));
    const after = endpointCounters(
      "audit",
      parseExposition(EXPOSITION.replace("} 90\n", "} 190\n").replace('le="+Inf"} 100', 'le="+Inf"} 200')),
    );
    expect(endpointRows(after, before)[0]).toMatchObject({ requests: 100, errorRate: 0 });
    // counters going backwards: the process restarted, the new totals are the interval's
    expect(endpointRows(before, after)[0]).toMatchObject({ requests: 100 });
  });
});
