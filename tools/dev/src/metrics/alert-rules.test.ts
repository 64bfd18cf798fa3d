import { readFileSync } from "node:fs";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { errorInterceptor, NotFound } from "@tessera/platform/errors";
import { createLogger } from "@tessera/platform/log";
import { initTelemetry, RPC_DURATION_BUCKETS, telemetryServerInterceptor } from "@tessera/platform/telemetry";
import { EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { describe, expect, it } from "vitest";
import { useOperationMetrics } from "../../../../gateway/graphql/src/metrics.ts";
import { build as buildRestEdge } from "../../../../gateway/rest/src/server.ts";
import { repoRoot } from "../paths.ts";
import { parseExposition } from "./exposition.ts";
import { checkExpr, checkRuleFile, loadRuleFile } from "./rules.ts";

const RULES = join(repoRoot, "observability/alerts/tessera.rules.yaml");

/**
 * Series of prometheus-nats-exporter run with `-jsz=all` (collector/jsz.go, system "jetstream"):
 * the alerts on consumer lag and dead letters read these; the kit does not emit them.
 */
const NATS_EXPORTER_METRICS = new Set([
  "jetstream_server_total_streams",
  "jetstream_server_total_consumers",
  "jetstream_stream_total_messages",
  "jetstream_stream_total_bytes",
  "jetstream_stream_first_seq",
  "jetstream_stream_last_seq",
  "jetstream_consumer_delivered_consumer_seq",
  "jetstream_consumer_delivered_stream_seq",
  "jetstream_consumer_num_ack_pending",
  "jetstream_consumer_num_redelivered",
  "jetstream_consumer_num_waiting",
  "jetstream_consumer_num_pending",
  "jetstream_consumer_ack_floor_stream_seq",
]);

/** Drives the gateways' own RED instruments: an OK and a failing GraphQL operation, an OK and a 404 REST request. */
async function exerciseGateways(): Promise<void> {
  const plugin = useOperationMetrics();
  for (const result of [{ data: {} }, { errors: [{ message: "x", extensions: { code: "INTERNAL_SERVER_ERROR" } }] }]) {
    const request = new Request("http://127.0.0.1/graphql");
    plugin.onParams?.({ params: { operationName: "Viewer" }, request } as never);
    await plugin.onResultProcess?.({ request, result } as never);
  }
  const edge = await buildRestEdge({
    logger: createLogger({ service: "rules-test", level: "silent" }),
    exchanger: {
      internalToken: () => Promise.reject(new Error("not used")),
      stats: () => ({ exchanges: 0, reused: 0, evicted: 0 }),
      close: async () => {},
    },
    projectsUrl: "http://127.0.0.1:9",
    idempotency: { begin: () => Promise.reject(new Error("not used")) },
  });
  try {
    expect((await edge.inject({ method: "GET", url: "/healthz" })).statusCode).toBe(200);
    expect((await edge.inject({ method: "GET", url: "/v1/nothing-here" })).statusCode).toBe(404);
  } finally {
    await edge.close();
  }
}

/**
 * The series names a kit process actually exposes after serving an OK call and a failing one, with
 * the GraphQL gateway's and the REST edge's instruments used in it too.
 */
async function kitSeries(): Promise<Set<string>> {
  const telemetry = await initTelemetry({ service: "rules-test", metricsPort: 0 });
  const server = http2.createServer(
    connectNodeAdapter({
      interceptors: [telemetryServerInterceptor(), errorInterceptor()],
      routes: (router) =>
        router.service(EchoService, {
          echo: (req) => ({ message: req.message }),
          fail: () => {
            throw new NotFound("nothing");
          },
        }),
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  try {
    await exerciseGateways();
    const { port } = server.address() as AddressInfo;
    const client = createClient(EchoService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
    await client.echo({ message: "hi" }, { timeoutMs: 5_000 });
    await client.fail({}, { timeoutMs: 5_000 }).catch(() => {});
    const res = await fetch(telemetry.metricsUrl ?? "", { signal: AbortSignal.timeout(5_000) });
    return new Set(parseExposition(await res.text()).map((s) => s.name));
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await telemetry.shutdown();
  }
}

describe("alert rules as code (observability/alerts/tessera.rules.yaml)", () => {
  const file = loadRuleFile(readFileSync(RULES, "utf8"));

  it("parses every expression with Prometheus' PromQL grammar, and every rule is well-formed", () => {
    const { problems } = checkRuleFile(file);
    expect(problems).toEqual([]);
    const alerts = file.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
    expect(alerts).toEqual(
      expect.arrayContaining([
        "TesseraEndpointLatencyAboveSLO",
        "TesseraEndpointErrorRateHigh",
        "TesseraEndpointErrorRateCritical",
        "TesseraGraphQLOperationLatencyAboveSLO",
        "TesseraGraphQLOperationErrorRateHigh",
        "TesseraGraphQLOperationErrorRateCritical",
        "TesseraRestRouteLatencyAboveSLO",
        "TesseraRestRouteErrorRateHigh",
        "TesseraRestRouteErrorRateCritical",
        "TesseraConsumerLagHigh",
        "TesseraDeadLettersGrowing",
      ]),
    );
  });

  it("the checker catches broken expressions (so a passing file means something)", () => {
    for (const bad of [
      "sum(rate(rpc_server_requests_total[5m]) by (rpc_method)",
      "rate(rpc_server_requests_total)",
      "nosuchfunction(rpc_server_requests_total)",
      "rpc_server_requests_total >",
      "histogram_quantile(0.95, sum by (le) (rate(rpc_server_duration_bucket[5m]))",
    ]) {
      expect(checkExpr(bad).problems, bad).not.toEqual([]);
    }
    expect(checkExpr("max_over_time(rate(x[1m])[10m:1m])").problems).toEqual([]);
  });

  it("references only series the kit and the gateways emit, the NATS exporter exports, or the file records", async () => {
    const { metrics, recorded } = checkRuleFile(file);
    const emitted = await kitSeries();
    const unknown = [...metrics].filter((m) => !emitted.has(m) && !NATS_EXPORTER_METRICS.has(m) && !recorded.has(m));
    expect(unknown).toEqual([]);
    // the RED series the alerts stand on are really there
    for (const name of ["rpc_server_duration_bucket", "rpc_server_requests_total", "rpc_server_errors_total"]) {
      expect(emitted.has(name), name).toBe(true);
      expect(metrics.has(name), name).toBe(true);
    }
    // the gateways' RED series too: GraphQL operations and REST routes
    for (const name of [
      "graphql_operation_duration_seconds_bucket",
      "graphql_operation_requests_total",
      "graphql_operation_errors_total",
      "http_server_duration_seconds_bucket",
      "http_server_requests_total",
      "http_server_errors_total",
    ]) {
      expect(emitted.has(name), name).toBe(true);
      expect(metrics.has(name), name).toBe(true);
    }
    // and the latency buckets resolve a P95 anywhere from 1 ms to 10 s
    expect(RPC_DURATION_BUCKETS[0]).toBeLessThanOrEqual(0.001);
    expect(RPC_DURATION_BUCKETS.at(-1)).toBeGreaterThanOrEqual(10);
  });
});
