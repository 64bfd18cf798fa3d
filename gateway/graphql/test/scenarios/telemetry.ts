import { randomBytes } from "node:crypto";
import { SpanKind } from "@opentelemetry/api";
import { RPC_DURATION_BUCKETS } from "@tessera/platform/telemetry";
import { describe, expect, it } from "vitest";
import type { Env } from "./env.ts";

async function scrape(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return res.text();
}

/** One trace per request, and RED metrics per operation. */
export function telemetryScenarios(env: () => Env): void {
  describe("telemetry", () => {
    it("continues the caller's W3C trace from the request through every gRPC call it makes", async () => {
      const { gw, a, spans } = env();
      const traceId = randomBytes(16).toString("hex");
      const parentId = randomBytes(8).toString("hex");
      const res = await gw.gql(
        `query TracedBoard { viewer { user { id } } projects(first: 2) { edges { node { tasks(first: 2) { edges { node { id } } } } } } }`,
        {},
        a.tokens.member,
        { traceparent: `00-${traceId}-${parentId}-01` },
      );
      expect(res.body.errors).toBeUndefined();
      const trace = spans.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
      const server = trace.find((s) => s.kind === SpanKind.SERVER && s.name === "POST /graphql");
      expect(server?.parentSpanContext?.spanId).toBe(parentId);
      const operation = trace.find((s) => s.name === "query.TracedBoard");
      expect(operation?.parentSpanContext?.spanId).toBe(server?.spanContext().spanId);
      const clients = trace.filter((s) => s.kind === SpanKind.CLIENT).map((s) => s.name);
      expect(clients).toEqual(
        expect.arrayContaining([
          "tessera.identity.v1.UserService/GetViewer",
          "tessera.projects.v1.ProjectService/ListProjects",
        ]),
      );
      for (const span of trace.filter((s) => s.kind === SpanKind.CLIENT)) {
        expect(span.parentSpanContext?.spanId).toBe(operation?.spanContext().spanId);
      }
    });

    it("counts requests, errors by code and latency per operation, with the kit's buckets and no tenant ids", async () => {
      const { gw, a, metricsUrl } = env();
      await gw.gql(`query MetricsOk { projects(first: 1) { edges { cursor } } }`, {}, a.tokens.member);
      await gw.gql(`query MetricsDenied { projects(first: 1) { edges { cursor } } }`);
      const text = await scrape(metricsUrl);
      expect(text).toMatch(
        /graphql_operation_requests_total\{[^}]*operation_name="MetricsOk"[^}]*operation_type="query"[^}]*result="ok"[^}]*\} 1/,
      );
      const denied = text.split("\n").filter((l) => l.startsWith("graphql_operation_errors_total{"));
      expect(denied.find((l) => l.includes('operation_name="MetricsDenied"'))).toMatch(/code="UNAUTHENTICATED".*\} 1$/);
      const buckets = text
        .split("\n")
        .filter(
          (l) => l.startsWith("graphql_operation_duration_seconds_bucket{") && l.includes('operation_name="MetricsOk"'),
        )
        .map((l) => /le="([^"]+)"/.exec(l)?.[1]);
      expect(buckets).toEqual([...RPC_DURATION_BUCKETS.map(String), "+Inf"]);
      expect(text).not.toContain(a.tenant.id);
    });
  });
}
