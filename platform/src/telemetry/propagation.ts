import {
  type Attributes,
  type Context,
  context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from "@opentelemetry/api";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import { scrubLine } from "../log/index.ts";
import { TELEMETRY_SCOPE } from "./rpc-attributes.ts";

/**
 * W3C trace context of the active span, as an event envelope or message headers carry it.
 * (A type alias, not an interface, so it is itself a {@link TraceCarrier}.)
 */
export type TraceHeaders = {
  /** `00-<trace id>-<span id>-<flags>`; empty when no span is active. */
  traceparent: string;
  /** Vendor state; empty when there is none. */
  tracestate: string;
};

/**
 * Anything holding propagation fields by name: a plain record of NATS headers, or the
 * `trace_context` message of an event envelope. Only string (or string-array) values are read.
 */
export type TraceCarrier = { readonly [key: string]: unknown };

/** The envelope's limit on tracestate (tessera.common.v1.TraceContext); W3C lets us drop it. */
export const MAX_TRACESTATE_LENGTH = 512;
/** Length of a version-00 traceparent; anything else cannot be carried by the envelope. */
const TRACEPARENT_LENGTH = 55;

// These helpers use the W3C propagators directly rather than the global one, so an event keeps
// its trace even in a process whose global propagator was configured differently (or not at all).
const traceContext = new W3CTraceContextPropagator();
const extractor = new CompositePropagator({ propagators: [traceContext, new W3CBaggagePropagator()] });

const carrierGetter: TextMapGetter<TraceCarrier> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    if (typeof value === "string") return value;
    if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value as string[];
    return undefined;
  },
};

/** The W3C trace context of the active (or given) context, for a message about to be published. */
export function injectTraceContext(ctx: Context = context.active()): TraceHeaders {
  const fields: Record<string, string> = {};
  traceContext.inject(ctx, fields, {
    set: (carrier, key, value) => {
      carrier[key] = value;
    },
  });
  const traceparent = fields.traceparent ?? "";
  if (traceparent.length > TRACEPARENT_LENGTH) return { traceparent: "", tracestate: "" };
  const tracestate = fields.tracestate ?? "";
  return {
    traceparent,
    tracestate: tracestate.length > MAX_TRACESTATE_LENGTH ? "" : tracestate,
  };
}

/**
 * The context a message's carrier describes: its remote parent span and baggage. A missing or
 * malformed traceparent yields the root context (the work then starts a new trace).
 */
export function extractTraceContext(carrier: TraceCarrier): Context {
  return extractor.extract(ROOT_CONTEXT, carrier, carrierGetter);
}

/** Runs fn with the carrier's trace context active, so spans started inside continue that trace. */
export function withExtractedContext<T>(carrier: TraceCarrier, fn: () => T): T {
  return context.with(extractTraceContext(carrier), fn);
}

/** Options of a consumer span. */
export interface ConsumerSpanOptions {
  /** Low-cardinality attributes, e.g. messaging.destination.name; never secrets or payloads. */
  attributes?: Attributes;
}

/**
 * Continues the producer's trace for one consumed message: starts a CONSUMER span named `name`
 * as a child of the carrier's span, runs fn with it active (so logs and outgoing calls carry
 * the trace), records a thrown error on it, and ends it when fn settles.
 */
export async function startConsumerSpan<T>(
  name: string,
  carrier: TraceCarrier,
  fn: (span: Span) => T | Promise<T>,
  options: ConsumerSpanOptions = {},
): Promise<T> {
  const parent = extractTraceContext(carrier);
  const span = trace
    .getTracer(TELEMETRY_SCOPE)
    .startSpan(
      name,
      { kind: SpanKind.CONSUMER, ...(options.attributes ? { attributes: options.attributes } : {}) },
      parent,
    );
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    const message = scrubLine(err instanceof Error ? err.message : String(err));
    span.recordException(err instanceof Error ? { name: err.name, message } : { message });
    span.setStatus({ code: SpanStatusCode.ERROR, message });
    throw err;
  } finally {
    span.end();
  }
}
