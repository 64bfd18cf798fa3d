import type { Client, ConnectRouter } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { runWithContext } from "@tessera/platform/context";
import { errorInterceptor, NotFound } from "@tessera/platform/errors";
import { createLogger } from "@tessera/platform/log";
import { initTelemetry, RpcAttr, type Telemetry, telemetryServerInterceptor } from "@tessera/platform/telemetry";
import { EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { captureLogs } from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  echoClient,
  parsePrometheus,
  scrape,
  startServer,
  sumOf,
  type TestServer,
  tenantFromHeader,
} from "./support.ts";

const TENANT = "5b0c7a52-3f6e-4d1a-9c2e-7e1d2f3a4b5c";
const ECHO = "tessera.testing.v1.EchoService/Echo";
const FAIL = "tessera.testing.v1.EchoService/Fail";
const COUNT_TO = "tessera.testing.v1.EchoService/CountTo";
const SECRET = "Bearer sk9Zq8Xw7Vu6Ts5Rr4Qp";

const spans = new InMemorySpanExporter();
const logs = captureLogs("telemetry-rpc");
const log = createLogger({ service: "telemetry-test", destination: logs.stream });

let telemetry: Telemetry;
let serviceA: TestServer;
let serviceB: TestServer;
let bare: TestServer;
let clientA: Client<typeof EchoService>;
let clientB: Client<typeof EchoService>;
let clientBare: Client<typeof EchoService>;
/** Released by the streaming test to let CountTo send its last number (a cancelled call releases it too). */
let releaseLast: () => void = () => {};

function routesB(router: ConnectRouter): void {
  router.service(EchoService, {
    echo: (req) => ({ message: req.message }),
    fail(req) {
      if (req.kind === "NotFound") throw new NotFound(req.message || "no such thing");
      throw new Error(`crashed while holding ${SECRET}`);
    },
    async *countTo(req, call) {
      log.info("counting");
      for (let n = 1; n <= req.count; n++) {
        if (req.count === 13 && n === 2) throw new ConnectError("unlucky", Code.ResourceExhausted);
        if (n === req.count && (req.count === 3 || req.count === 4))
          await new Promise<void>((resolve) => {
            releaseLast = resolve;
            call.signal.addEventListener("abort", () => resolve(), { once: true });
          });
        yield { number: n };
      }
    },
  });
}

function routesA(router: ConnectRouter): void {
  router.service(EchoService, {
    async echo(req) {
      log.info("forwarding echo");
      const res = await clientB.echo({ message: req.message });
      return { message: res.message, tenantId: TENANT };
    },
    async fail(req) {
      await clientB.fail(req);
      return {};
    },
  });
}

const finished = (name: string, kind: SpanKind) =>
  spans.getFinishedSpans().filter((s) => s.name === name && s.kind === kind);

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

beforeAll(async () => {
  telemetry = await initTelemetry({ service: "telemetry-test", traceExporter: spans, metricsPort: 0, logger: log });
  const interceptors = [telemetryServerInterceptor(), tenantFromHeader(), errorInterceptor(log)];
  serviceB = await startServer(routesB, interceptors);
  serviceA = await startServer(routesA, interceptors);
  // No error mapping at all: what the telemetry interceptor records must still match what Connect sends.
  bare = await startServer(routesB, [telemetryServerInterceptor()]);
  clientA = echoClient(serviceA.baseUrl);
  clientB = echoClient(serviceB.baseUrl);
  clientBare = echoClient(bare.baseUrl);
});

afterAll(async () => {
  await Promise.all([serviceA?.stop(), serviceB?.stop(), bare?.stop()]);
  await telemetry?.shutdown();
});

describe("traces across two gRPC hops", () => {
  it("keeps one trace id from the caller through service A to service B, each span the child of the previous", async () => {
    spans.reset();
    const res = await runWithContext({ tenantId: TENANT }, () => clientA.echo({ message: "hello" }));
    expect(res.message).toBe("hello");

    await vi.waitFor(() => expect(spans.getFinishedSpans()).toHaveLength(4));
    const clientSpans = finished(ECHO, SpanKind.CLIENT);
    const serverSpans = finished(ECHO, SpanKind.SERVER);
    const root = clientSpans.find((s) => s.parentSpanContext === undefined);
    expect(root).toBeDefined();
    const serverA = serverSpans.find((s) => parentOf(s) === root?.spanContext().spanId);
    const clientAtoB = clientSpans.find((s) => parentOf(s) === serverA?.spanContext().spanId);
    const serverB = serverSpans.find((s) => parentOf(s) === clientAtoB?.spanContext().spanId);
    expect([serverA, clientAtoB, serverB].every((s) => s !== undefined)).toBe(true);

    const traceIds = new Set(spans.getFinishedSpans().map((s) => s.spanContext().traceId));
    expect(traceIds.size).toBe(1);
    expect(serverB?.parentSpanContext?.isRemote).toBe(true);
    expect(serverB?.attributes).toMatchObject({
      [RpcAttr.system]: "grpc",
      [RpcAttr.service]: "tessera.testing.v1.EchoService",
      [RpcAttr.method]: "Echo",
      [RpcAttr.grpcStatusCode]: 0,
    });
    expect(serverB?.status.code).toBe(SpanStatusCode.UNSET);
    for (const s of [root, clientAtoB]) {
      expect(s?.attributes[RpcAttr.statusCode]).toBe("OK");
      expect(s?.status.code).toBe(SpanStatusCode.UNSET);
    }
  });

  it("makes the server span active in the handler, so its log line carries the trace id and the tenant", async () => {
    spans.reset();
    await runWithContext({ tenantId: TENANT }, () => clientA.echo({ message: "log me" }));
    await vi.waitFor(() => expect(finished(ECHO, SpanKind.SERVER)).toHaveLength(2));
    const root = finished(ECHO, SpanKind.CLIENT).find((s) => s.parentSpanContext === undefined);
    const serverA = finished(ECHO, SpanKind.SERVER).find((s) => parentOf(s) === root?.spanContext().spanId);
    const line = logs.lines().findLast((l) => l.msg === "forwarding echo");
    expect(line).toMatchObject({
      service: "telemetry-test",
      tenant_id: TENANT,
      trace_id: serverA?.spanContext().traceId,
      span_id: serverA?.spanContext().spanId,
    });
  });

  it("records the final status on every hop: NOT_FOUND is the caller's error, a crash is the server's", async () => {
    spans.reset();
    const notFound = await clientA.fail({ kind: "NotFound", message: "no such project" }).catch((e: unknown) => e);
    expect(ConnectError.from(notFound).code).toBe(Code.NotFound);
    await vi.waitFor(() => expect(finished(FAIL, SpanKind.SERVER)).toHaveLength(2));
    for (const s of finished(FAIL, SpanKind.SERVER)) {
      expect(s.attributes[RpcAttr.grpcStatusCode]).toBe(Code.NotFound);
      expect(s.attributes[RpcAttr.statusCode]).toBe("NOT_FOUND");
      expect(s.status.code).toBe(SpanStatusCode.UNSET);
    }
    for (const s of finished(FAIL, SpanKind.CLIENT)) expect(s.status.code).toBe(SpanStatusCode.ERROR);

    spans.reset();
    const crash = await clientB.fail({ kind: "Crash" }).catch((e: unknown) => e);
    expect(ConnectError.from(crash).code).toBe(Code.Internal);
    await vi.waitFor(() => expect(finished(FAIL, SpanKind.SERVER)).toHaveLength(1));
    const [server] = finished(FAIL, SpanKind.SERVER);
    expect(server?.attributes[RpcAttr.statusCode]).toBe("INTERNAL");
    expect(server?.status.code).toBe(SpanStatusCode.ERROR);
    expect(server?.events.some((e) => e.name === "exception")).toBe(true);
    expect(JSON.stringify(spans.getFinishedSpans().map((s) => [s.events, s.status]))).not.toContain(
      "sk9Zq8Xw7Vu6Ts5Rr4Qp",
    );
  });

  it("counts a plain Error from a handler without error mapping as INTERNAL, as Connect sends it", async () => {
    spans.reset();
    const err = await clientBare.fail({ kind: "Crash" }).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.Internal);
    await vi.waitFor(() => expect(finished(FAIL, SpanKind.SERVER)).toHaveLength(1));
    expect(finished(FAIL, SpanKind.SERVER)[0]?.attributes[RpcAttr.statusCode]).toBe("INTERNAL");
  });
});

describe("server streaming", () => {
  it("ends the server span when the stream ends, not when it starts, and keeps it active in the generator", async () => {
    spans.reset();
    const received: number[] = [];
    const stream = clientB.countTo({ count: 3 })[Symbol.asyncIterator]();
    const first = await stream.next();
    if (!first.done) received.push(first.value.number);
    // The handler is parked before its last number: the call is still running, so is its span.
    expect(finished(COUNT_TO, SpanKind.SERVER)).toHaveLength(0);
    releaseLast();
    for (let r = await stream.next(); !r.done; r = await stream.next()) received.push(r.value.number);
    expect(received).toEqual([1, 2, 3]);

    await vi.waitFor(() => expect(finished(COUNT_TO, SpanKind.SERVER)).toHaveLength(1));
    const [server] = finished(COUNT_TO, SpanKind.SERVER);
    expect(server?.attributes[RpcAttr.statusCode]).toBe("OK");
    const line = logs.lines().findLast((l) => l.msg === "counting");
    expect(line?.trace_id).toBe(server?.spanContext().traceId);
  });

  it("records a stream the client abandoned as CANCELLED on both sides", async () => {
    spans.reset();
    for await (const m of clientB.countTo({ count: 4 })) {
      expect(m.number).toBe(1);
      break;
    }
    // No release: the handler resumes when it sees the cancellation, and finishes normally.
    await vi.waitFor(() => expect(finished(COUNT_TO, SpanKind.SERVER)).toHaveLength(1));
    expect(finished(COUNT_TO, SpanKind.SERVER)[0]?.attributes[RpcAttr.statusCode]).toBe("CANCELLED");
    expect(finished(COUNT_TO, SpanKind.CLIENT)[0]?.attributes[RpcAttr.statusCode]).toBe("CANCELLED");
  });

  it("records an error raised in the middle of a stream with its code", async () => {
    spans.reset();
    const got: number[] = [];
    const err = await (async () => {
      for await (const m of clientB.countTo({ count: 13 })) got.push(m.number);
    })().catch((e: unknown) => e);
    expect(got).toEqual([1]);
    expect(ConnectError.from(err).code).toBe(Code.ResourceExhausted);
    await vi.waitFor(() => expect(finished(COUNT_TO, SpanKind.SERVER)).toHaveLength(1));
    expect(finished(COUNT_TO, SpanKind.SERVER)[0]?.attributes[RpcAttr.statusCode]).toBe("RESOURCE_EXHAUSTED");
    expect(finished(COUNT_TO, SpanKind.CLIENT)[0]?.status.code).toBe(SpanStatusCode.ERROR);
  });
});

describe("RED metrics on /metrics", () => {
  it("serves duration buckets, requests by method and errors by code, and never a tenant id", async () => {
    const url = telemetry.metricsUrl ?? "";
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const before = parsePrometheus(await scrape(url));

    await runWithContext({ tenantId: TENANT }, async () => {
      for (let i = 0; i < 3; i++) await clientA.echo({ message: `m${i}` });
      for (let i = 0; i < 2; i++) await clientA.fail({ kind: "NotFound" }).catch(() => undefined);
      await clientB.fail({ kind: "Crash" }).catch(() => undefined);
    });

    const text = await scrape(url);
    const after = parsePrometheus(text);
    const delta = (name: string, match: Record<string, string>) =>
      sumOf(after, name, match) - sumOf(before, name, match);

    // Each call to A's Echo is two server-side Echo calls in this process: A's and B's.
    expect(delta("rpc_server_requests_total", { rpc_method: "Echo", rpc_response_status_code: "OK" })).toBe(6);
    expect(delta("rpc_server_requests_total", { rpc_method: "Fail" })).toBe(5);
    expect(delta("rpc_server_errors_total", { rpc_method: "Fail", rpc_response_status_code: "NOT_FOUND" })).toBe(4);
    expect(delta("rpc_server_errors_total", { rpc_method: "Fail", rpc_response_status_code: "INTERNAL" })).toBe(1);
    expect(delta("rpc_server_errors_total", { rpc_method: "Echo" })).toBe(0);
    expect(
      delta("rpc_server_duration_count", { rpc_method: "Echo", rpc_service: "tessera.testing.v1.EchoService" }),
    ).toBe(6);
    expect(delta("rpc_client_duration_count", { rpc_method: "Echo", rpc_system: "grpc" })).toBe(6);

    const echoBuckets = after.filter(
      (s) =>
        s.name === "rpc_server_duration_bucket" &&
        s.labels.rpc_method === "Echo" &&
        s.labels.rpc_response_status_code === "OK",
    );
    expect(echoBuckets.map((s) => s.labels.le)).toEqual([
      "0.001",
      "0.0025",
      "0.005",
      "0.01",
      "0.025",
      "0.05",
      "0.1",
      "0.25",
      "0.5",
      "1",
      "2.5",
      "5",
      "10",
      "+Inf",
    ]);
    expect(text).toContain("# UNIT rpc_server_duration s");

    expect(text).not.toContain(TENANT);
    expect(text.toLowerCase()).not.toContain("tenant");
  });

  it("answers only GET /metrics on the metrics port", async () => {
    const base = new URL(telemetry.metricsUrl ?? "");
    const other = await fetch(new URL("/", base), { signal: AbortSignal.timeout(5_000) });
    expect(other.status).toBe(404);
    const post = await fetch(base, { method: "POST", body: "x", signal: AbortSignal.timeout(5_000) });
    expect(post.status).toBe(405);
  });
});
