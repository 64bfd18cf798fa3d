import { create } from "@bufbuild/protobuf";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, type TraceState, trace } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace";
import { createLogger } from "@tessera/platform/log";
import {
  initTelemetry,
  injectTraceContext,
  startConsumerSpan,
  type Telemetry,
  withExtractedContext,
} from "@tessera/platform/telemetry";
import { TraceContextSchema } from "@tessera/proto/tessera/common/v1/event_pb";
import { captureLogs } from "@tessera/test/harness";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

const spans = new InMemorySpanExporter();
const logs = captureLogs("telemetry-propagation");
const log = createLogger({ service: "telemetry-propagation", destination: logs.stream });
let telemetry: Telemetry;

beforeAll(async () => {
  telemetry = await initTelemetry({ service: "telemetry-propagation", traceExporter: spans, logger: log });
});
afterAll(async () => {
  await telemetry?.shutdown();
});
beforeEach(() => spans.reset());

/** Publishes "in" a producer span and returns that span's ids and what went on the wire. */
function publish() {
  return telemetry.tracer.startActiveSpan("tenant.created publish", { kind: SpanKind.PRODUCER }, (span) => {
    const headers = injectTraceContext();
    span.end();
    return { headers, traceId: span.spanContext().traceId, spanId: span.spanContext().spanId };
  });
}

describe("injectTraceContext", () => {
  it("writes the active span as a W3C traceparent", () => {
    const { headers, traceId, spanId } = publish();
    expect(headers.traceparent).toBe(`00-${traceId}-${spanId}-01`);
    expect(headers.tracestate).toBe("");
  });

  it("gives empty fields outside any span", () => {
    expect(injectTraceContext()).toEqual({ traceparent: "", tracestate: "" });
  });

  it("drops a tracestate longer than the event envelope allows, keeping the traceparent", () => {
    // The API's own TraceState stops at 512 characters; another implementation may not.
    const oversized: TraceState = {
      set: () => oversized,
      unset: () => oversized,
      get: () => undefined,
      serialize: () => `vendor=${"x".repeat(600)}`,
    };
    const ctx = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      traceFlags: TraceFlags.SAMPLED,
      traceState: oversized,
    });
    expect(injectTraceContext(ctx)).toEqual({
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      tracestate: "",
    });
  });
});

describe("continuing a trace from a message", () => {
  it("startConsumerSpan makes a CONSUMER child of the producer span, active for the handler and its logs", async () => {
    const produced = publish();
    // The envelope's proto message is a valid carrier as it is.
    const carrier = create(TraceContextSchema, produced.headers);
    const result = await startConsumerSpan("tenant.created process", carrier, async () => {
      log.info("consumed");
      return 42;
    });
    expect(result).toBe(42);
    const consumer = spans.getFinishedSpans().find((s) => s.name === "tenant.created process");
    expect(consumer?.kind).toBe(SpanKind.CONSUMER);
    expect(consumer?.spanContext().traceId).toBe(produced.traceId);
    expect(consumer?.parentSpanContext?.spanId).toBe(produced.spanId);
    expect(consumer?.parentSpanContext?.isRemote).toBe(true);
    const line = logs.lines().findLast((l) => l.msg === "consumed");
    expect(line?.trace_id).toBe(produced.traceId);
    expect(line?.span_id).toBe(consumer?.spanContext().spanId);
  });

  it("withExtractedContext makes spans started inside children of the remote span, tracestate included", () => {
    const carrier = {
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      tracestate: "tessera=t61rcWkgMzE",
    };
    const child = withExtractedContext(carrier, () =>
      telemetry.tracer.startActiveSpan("work", (span) => {
        const onward = injectTraceContext();
        span.end();
        return { span, onward };
      }),
    );
    expect(child.span.spanContext().traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(spans.getFinishedSpans()[0]?.parentSpanContext?.spanId).toBe("00f067aa0ba902b7");
    expect(child.onward.traceparent).toBe(`00-4bf92f3577b34da6a3ce929d0e0e4736-${child.span.spanContext().spanId}-01`);
    expect(child.onward.tracestate).toBe("tessera=t61rcWkgMzE");
  });

  it("starts a new trace when the carrier is missing, malformed or not made of strings", async () => {
    for (const carrier of [{}, { traceparent: "garbage" }, { traceparent: 42, tracestate: { a: 1 } }]) {
      await startConsumerSpan("orphan", carrier, () => undefined);
    }
    const orphans = spans.getFinishedSpans().filter((s) => s.name === "orphan");
    expect(orphans).toHaveLength(3);
    for (const s of orphans) expect(s.parentSpanContext).toBeUndefined();
    expect(new Set(orphans.map((s) => s.spanContext().traceId)).size).toBe(3);
  });

  it("records a failing handler on the consumer span and rethrows its error", async () => {
    const boom = new Error("handler failed");
    await expect(startConsumerSpan("failing", publish().headers, () => Promise.reject(boom))).rejects.toBe(boom);
    const failing = spans.getFinishedSpans().find((s) => s.name === "failing");
    expect(failing?.status).toEqual({ code: SpanStatusCode.ERROR, message: "handler failed" });
    expect(failing?.events.map((e) => e.name)).toContain("exception");
  });
});
