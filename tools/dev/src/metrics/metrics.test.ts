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

const EDGES = `graphql_operation_requests_total{operation_name="Viewer",operation_type="query",result="ok"} 96
graphql_operation_requests_total{operation_name="Viewer",operation_type="query",result="error"} 4
graphql_operation_errors_total{operation_name="Viewer",operation_type="query",code="FORBIDDEN"} 2
graphql_operation_errors_total{operation_name="Viewer",operation_type="query",code="INTERNAL_SERVER_ERROR"} 1
graphql_operation_errors_total{operation_name="Viewer",operation_type="query",code="UNAVAILABLE"} 1
graphql_operation_duration_seconds_bucket{operation_name="Viewer",operation_type="query",result="ok",le="0.05"} 96
graphql_operation_duration_seconds_bucket{operation_name="Viewer",operation_type="query",result="ok",le="+Inf"} 96
graphql_operation_duration_seconds_bucket{operation_name="Viewer",operation_type="query",result="error",le="0.05"} 4
graphql_operation_duration_seconds_bucket{operation_name="Viewer",operation_type="query",result="error",le="+Inf"} 4
http_server_requests_total{route="/v1/projects",method="GET",status_code="200"} 45
http_server_requests_total{route="/v1/projects",method="GET",status_code="404"} 3
http_server_requests_total{route="/v1/projects",method="GET",status_code="503"} 2
http_server_errors_total{route="/v1/projects",method="GET",status_code="404"} 3
http_server_errors_total{route="/v1/projects",method="GET",status_code="503"} 2
http_server_duration_seconds_bucket{route="/v1/projects",method="GET",status_code="200",le="0.1"} 45
http_server_duration_seconds_bucket{route="/v1/projects",method="GET",status_code="200",le="+Inf"} 45
http_server_duration_seconds_bucket{route="/v1/projects",method="GET",status_code="503",le="0.1"} 0
http_server_duration_seconds_bucket{route="/v1/projects",method="GET",status_code="503",le="+Inf"} 5
`;

describe("the endpoint table for the gateways", () => {
  it("shows GraphQL operations and REST routes as endpoints, with their own notion of errors and faults", () => {
    const rows = endpointRows([
      ...endpointCounters("graphql-gateway", parseExposition(EDGES)),
      ...endpointCounters("audit", parseExposition(EXPOSITION)),
    ]);
    expect(rows.map((r) => `${r.process} ${r.endpoint}`)).toEqual([
      "audit tessera.audit.v1.AuditService/ListAuditEvents",
      "graphql-gateway GET /v1/projects",
      "graphql-gateway graphql query Viewer",
    ]);
    // GraphQL: an operation with errors counts once (by result); faults are server-side codes only
    expect(rows[2]).toMatchObject({ requests: 100, errorRate: 0.04, faultRate: 0.02 });
    expect(rows[2]?.p95).toBeCloseTo(0.0475, 10);
    // REST: errors are 4xx and 5xx, faults 5xx
    expect(rows[1]).toMatchObject({ requests: 50, errorRate: 0.1, faultRate: 0.04 });
    expect(rows[1]?.p50).toBeCloseTo(0.0556, 3);
  });
});
