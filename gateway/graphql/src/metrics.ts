import { type Counter, type Histogram, type MeterProvider, metrics } from "@opentelemetry/api";
import { RPC_DURATION_BUCKETS } from "@tessera/platform/telemetry";
import type { ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";
import { GraphQLError, getOperationAST } from "./graphql.ts";

/** Meter scope of the gateway's own instruments. */
export const GRAPHQL_METRICS_SCOPE = "tessera.graphql";

interface Instruments {
  duration: Histogram;
  requests: Counter;
  errors: Counter;
}

// per global provider, like the kit's RPC instruments: a provider installed after build() still counts
const cache = new WeakMap<MeterProvider, Instruments>();

function instruments(): Instruments {
  const provider = metrics.getMeterProvider();
  let found = cache.get(provider);
  if (!found) {
    const meter = provider.getMeter(GRAPHQL_METRICS_SCOPE);
    found = {
      // named with its unit, so Prometheus shows graphql_operation_duration_seconds
      duration: meter.createHistogram("graphql.operation.duration_seconds", {
        description: "Duration of GraphQL operations, from the request to the result (subscriptions: until set up).",
        unit: "s",
        advice: { explicitBucketBoundaries: [...RPC_DURATION_BUCKETS] },
      }),
      requests: meter.createCounter("graphql.operation.requests", {
        description: "GraphQL operations completed, by result (ok or error).",
      }),
      errors: meter.createCounter("graphql.operation.errors", {
        description: "GraphQL errors in operation results, by extensions.code.",
      }),
    };
    cache.set(provider, found);
  }
  return found;
}

/** Operation names become labels only while there are few of them: callers choose them. */
const MAX_OPERATION_NAMES = 200;
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

interface Pending {
  started: number;
  name: string;
  type: string;
}

/**
 * RED metrics per operation: `graphql_operation_requests_total` and the
 * `graphql_operation_duration_seconds` histogram (the kit's buckets) by `operation_name`,
 * `operation_type` and `result`, and `graphql_operation_errors_total` by `code`. Requests that fail
 * before an operation is known (parse, validation) count as `operation_type="unknown"`. Never a
 * tenant id in a label.
 */
export function useOperationMetrics(): Plugin {
  const pending = new WeakMap<Request, Pending>();
  const names = new Set<string>();
  const label = (name: string | null | undefined): string => {
    if (!name) return "anonymous";
    if (!NAME.test(name)) return "invalid";
    if (names.has(name)) return name;
    if (names.size >= MAX_OPERATION_NAMES) return "other";
    names.add(name);
    return name;
  };
  return {
    onParams({ params, request }) {
      pending.set(request, { started: performance.now(), name: label(params.operationName), type: "unknown" });
    },
    onParse({ context }) {
      return ({ result }) => {
        const entry = pending.get(context.request);
        if (!entry || result instanceof Error || !result || !("kind" in result)) return;
        const operation = getOperationAST(result, context.params.operationName);
        if (!operation) return;
        entry.type = operation.operation;
        entry.name = label(operation.name?.value ?? context.params.operationName);
      };
    },
    onResultProcess({ request, result }) {
      const entry = pending.get(request);
      if (!entry) return;
      pending.delete(request);
      const results: ExecutionResult[] = Array.isArray(result)
        ? result
        : Symbol.asyncIterator in Object(result)
          ? []
          : [result as ExecutionResult];
      const codes = results.flatMap((r) => (r.errors ?? []).map(codeOf));
      const attributes = { operation_name: entry.name, operation_type: entry.type };
      const { duration, requests, errors } = instruments();
      const outcome = { ...attributes, result: codes.length > 0 ? "error" : "ok" };
      requests.add(1, outcome);
      duration.record((performance.now() - entry.started) / 1_000, outcome);
      for (const code of codes) errors.add(1, { ...attributes, code });
    },
  };
}

function codeOf(error: unknown): string {
  const code = error instanceof GraphQLError || isErrorLike(error) ? error.extensions?.code : undefined;
  return typeof code === "string" && /^[A-Z_]{1,64}$/.test(code) ? code : "UNKNOWN";
}

function isErrorLike(value: unknown): value is { extensions?: Record<string, unknown> } {
  return typeof value === "object" && value !== null;
}
