import { type Counter, type Histogram, type MeterProvider, metrics } from "@opentelemetry/api";
import { RPC_DURATION_BUCKETS, TELEMETRY_SCOPE } from "./rpc-attributes.ts";

/** RED instruments of the server side of RPCs. */
export interface ServerRpcInstruments {
  readonly duration: Histogram;
  readonly requests: Counter;
  readonly errors: Counter;
}

/** Instruments of the client side of RPCs. */
export interface ClientRpcInstruments {
  readonly duration: Histogram;
}

interface Cached {
  server?: ServerRpcInstruments;
  client?: ClientRpcInstruments;
}

// Keyed by the global provider in force at call time: the metrics API has no proxy provider, so
// instruments made before initTelemetry (or before a re-init) would otherwise stay no-ops.
const cache = new WeakMap<MeterProvider, Cached>();

function entry(): { provider: MeterProvider; cached: Cached } {
  const provider = metrics.getMeterProvider();
  let cached = cache.get(provider);
  if (!cached) {
    cached = {};
    cache.set(provider, cached);
  }
  return { provider, cached };
}

/** The server RPC instruments of the current global meter provider. */
export function serverInstruments(): ServerRpcInstruments {
  const { provider, cached } = entry();
  if (!cached.server) {
    const meter = provider.getMeter(TELEMETRY_SCOPE);
    cached.server = {
      duration: meter.createHistogram("rpc.server.duration", {
        description: "Duration of inbound RPCs, from request to the end of the response (streams: last message).",
        unit: "s",
        advice: { explicitBucketBoundaries: [...RPC_DURATION_BUCKETS] },
      }),
      requests: meter.createCounter("rpc.server.requests", {
        description: "Inbound RPCs completed, by final status code.",
        unit: "{request}",
      }),
      errors: meter.createCounter("rpc.server.errors", {
        description: "Inbound RPCs that ended with a non-OK status, by status code.",
        unit: "{request}",
      }),
    };
  }
  return cached.server;
}

/** The client RPC instruments of the current global meter provider. */
export function clientInstruments(): ClientRpcInstruments {
  const { provider, cached } = entry();
  if (!cached.client) {
    const meter = provider.getMeter(TELEMETRY_SCOPE);
    cached.client = {
      duration: meter.createHistogram("rpc.client.duration", {
        description: "Duration of outbound RPCs as the caller sees them (streams: until the last message).",
        unit: "s",
        advice: { explicitBucketBoundaries: [...RPC_DURATION_BUCKETS] },
      }),
    };
  }
  return cached.client;
}
