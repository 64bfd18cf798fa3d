import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { trace } from "@opentelemetry/api";
import { parseConfig, z } from "@tessera/platform/config";
import { createLogger } from "@tessera/platform/log";
import { initTelemetry, type Telemetry, telemetryEnv, telemetryOptionsFromEnv } from "@tessera/platform/telemetry";
import { captureLogs } from "@tessera/test/harness";
import { afterEach, describe, expect, it } from "vitest";

const logs = captureLogs("telemetry-lifecycle");
const log = createLogger({ service: "telemetry-lifecycle", destination: logs.stream });

let current: Telemetry | undefined;
async function init(options: Omit<Parameters<typeof initTelemetry>[0], "service" | "logger"> = {}) {
  current = await initTelemetry({ service: "telemetry-lifecycle", logger: log, ...options });
  return current;
}
afterEach(async () => {
  await current?.shutdown();
  current = undefined;
});

interface Received {
  readonly path: string;
  readonly contentType: string;
  readonly body: Buffer;
}

/** A stand-in OTLP/HTTP collector on loopback; `answer: false` accepts requests and never replies. */
async function collector(answer: boolean): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({
        path: req.url ?? "",
        contentType: req.headers["content-type"] ?? "",
        body: Buffer.concat(chunks),
      });
      if (answer) res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, server };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe("initTelemetry", () => {
  it("rejects invalid options with every problem named, and leaves nothing registered", async () => {
    await expect(
      initTelemetry({ service: " ", metricsPort: 70_000, otlpEndpoint: "ftp://collector", otlpTimeoutMs: -1 }),
    ).rejects.toThrow(/service must be a non-empty name.*metricsPort.*70000.*otlpTimeoutMs.*otlpEndpoint/);
    // Nothing half-registered: a valid init right after works.
    const telemetry = await init();
    expect(telemetry.metricsUrl).toBeUndefined();
  });

  it("reports a metrics port already in use, then can be initialised again", async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", () => resolve()));
    const port = (busy.address() as AddressInfo).port;
    try {
      await expect(init({ metricsPort: port })).rejects.toThrow(
        `cannot serve /metrics on 127.0.0.1:${port}: EADDRINUSE`,
      );
      current = undefined;
      const telemetry = await init({ metricsPort: 0 });
      expect(telemetry.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    } finally {
      await close(busy);
    }
  });

  it("refuses a second initialisation until the first is shut down; shutdown is idempotent", async () => {
    const first = await init();
    await expect(initTelemetry({ service: "again" })).rejects.toThrow(/already initialised/);
    await Promise.all([first.shutdown(), first.shutdown()]);
    const second = await init();
    expect(second).not.toBe(first);
  });

  it("creates sampled spans without any exporter, so logs still carry trace ids", async () => {
    const telemetry = await init();
    const traceId = telemetry.tracer.startActiveSpan("job", (span) => {
      log.info("inside job");
      span.end();
      return span.spanContext().traceId;
    });
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(traceId).not.toBe("0".repeat(32));
    expect(logs.lines().findLast((l) => l.msg === "inside job")?.trace_id).toBe(traceId);
  });
});

describe("OTLP/HTTP trace export", () => {
  it("sends spans to <endpoint>/v1/traces and flushes them on shutdown", async () => {
    const otlp = await collector(true);
    try {
      const telemetry = await init({ otlpEndpoint: otlp.url });
      const span = telemetry.tracer.startSpan("exported");
      span.end();
      const traceId = span.spanContext().traceId;
      await telemetry.shutdown();

      const traces = otlp.received.filter((r) => r.path === "/v1/traces");
      expect(traces.length).toBeGreaterThan(0);
      const sent = Buffer.concat(traces.map((r) => r.body));
      // JSON carries the id as hex, protobuf as raw bytes: either way it must be there.
      expect(sent.includes(traceId) || sent.includes(Buffer.from(traceId, "hex"))).toBe(true);
      expect(sent.includes("telemetry-lifecycle")).toBe(true);
    } finally {
      await close(otlp.server);
    }
  });

  it("does not let a collector that never answers hold up shutdown", { timeout: 15_000 }, async () => {
    const otlp = await collector(false);
    try {
      const telemetry = await init({ otlpEndpoint: otlp.url, otlpTimeoutMs: 300 });
      telemetry.tracer.startSpan("stuck").end();
      await telemetry.shutdown();
      expect(otlp.received.some((r) => r.path === "/v1/traces")).toBe(true);
      expect(trace.getTracerProvider().getTracer("x").startSpan("after").isRecording()).toBe(false);
    } finally {
      await close(otlp.server);
    }
  });
});

describe("telemetryEnv", () => {
  const schema = z.object(telemetryEnv);

  it("maps the documented variables to initTelemetry options", () => {
    const config = parseConfig("svc", schema, {
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel-collector:4318",
      METRICS_PORT: "9100",
      METRICS_HOST: "0.0.0.0",
    });
    expect(telemetryOptionsFromEnv("projects", config, "1.2.3")).toEqual({
      service: "projects",
      version: "1.2.3",
      otlpEndpoint: "http://otel-collector:4318",
      otlpTimeoutMs: 5000,
      metricsPort: 9100,
      metricsHost: "0.0.0.0",
    });
    expect(telemetryOptionsFromEnv("projects", parseConfig("svc", schema, {}))).toEqual({
      service: "projects",
      otlpTimeoutMs: 5000,
      metricsPort: 9464,
      metricsHost: "127.0.0.1",
    });
  });

  it("names each bad variable", () => {
    expect(() => parseConfig("svc", schema, { METRICS_PORT: "http", OTEL_EXPORTER_OTLP_ENDPOINT: "nope" })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT[\s\S]*METRICS_PORT|METRICS_PORT[\s\S]*OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
  });
});
