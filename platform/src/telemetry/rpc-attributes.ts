import { Code, ConnectError } from "@connectrpc/connect";
import type { Attributes, TextMapGetter, TextMapSetter } from "@opentelemetry/api";

/** Instrumentation scope of every span and instrument the kit creates. */
export const TELEMETRY_SCOPE = "@tessera/platform/telemetry";

/** Attribute keys used on RPC spans and metrics (OpenTelemetry RPC semantic conventions). */
export const RpcAttr = {
  system: "rpc.system",
  service: "rpc.service",
  method: "rpc.method",
  /** Numeric gRPC status code, on spans. */
  grpcStatusCode: "rpc.grpc.status_code",
  /** gRPC status code name ("OK", "NOT_FOUND"), on spans and metrics. */
  statusCode: "rpc.response.status_code",
} as const;

/**
 * Histogram buckets in seconds: fine enough to resolve a P95 anywhere between 1 ms and 10 s.
 * Alert rules in the charts rely on these boundaries.
 */
export const RPC_DURATION_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

const codeNames: Record<number, string> = {
  0: "OK",
  [Code.Canceled]: "CANCELLED",
  [Code.Unknown]: "UNKNOWN",
  [Code.InvalidArgument]: "INVALID_ARGUMENT",
  [Code.DeadlineExceeded]: "DEADLINE_EXCEEDED",
  [Code.NotFound]: "NOT_FOUND",
  [Code.AlreadyExists]: "ALREADY_EXISTS",
  [Code.PermissionDenied]: "PERMISSION_DENIED",
  [Code.ResourceExhausted]: "RESOURCE_EXHAUSTED",
  [Code.FailedPrecondition]: "FAILED_PRECONDITION",
  [Code.Aborted]: "ABORTED",
  [Code.OutOfRange]: "OUT_OF_RANGE",
  [Code.Unimplemented]: "UNIMPLEMENTED",
  [Code.Internal]: "INTERNAL",
  [Code.Unavailable]: "UNAVAILABLE",
  [Code.DataLoss]: "DATA_LOSS",
  [Code.Unauthenticated]: "UNAUTHENTICATED",
};

/** The gRPC name of a status code (0 = "OK"), as gRPC tooling and dashboards spell it. */
export function grpcCodeName(code: number): string {
  return codeNames[code] ?? "UNKNOWN";
}

/**
 * The status a server sends for what a handler threw. Connect's handlers turn anything that is
 * not a ConnectError into INTERNAL ("internal error"), whatever the protocol.
 */
export function serverStatusOf(err: unknown): Code {
  return err instanceof ConnectError ? err.code : Code.Internal;
}

/** The status a client sees for what a call threw (Connect's own rule: abort = CANCELED, else UNKNOWN). */
export function clientStatusOf(err: unknown): Code {
  return ConnectError.from(err).code;
}

/** Which RPC protocol a request uses, from its content type (the port serves all three). */
export function rpcSystemOf(header: Headers): string {
  const contentType = header.get("content-type") ?? "";
  return contentType.startsWith("application/grpc") ? "grpc" : "connect_rpc";
}

/** What identifies an RPC in span names and metric attributes (bounded cardinality). */
export interface RpcIdentity {
  readonly spanName: string;
  readonly attributes: Attributes;
}

/** Span name `<package.Service>/<Method>` and the rpc.* attributes of a call. */
export function rpcIdentity(serviceTypeName: string, methodName: string, header: Headers): RpcIdentity {
  return {
    spanName: `${serviceTypeName}/${methodName}`,
    attributes: {
      [RpcAttr.system]: rpcSystemOf(header),
      [RpcAttr.service]: serviceTypeName,
      [RpcAttr.method]: methodName,
    },
  };
}

/** Reads propagation fields from Fetch API Headers (how Connect exposes request headers). */
export const headersGetter: TextMapGetter<Headers> = {
  keys: (carrier) => [...carrier.keys()],
  get: (carrier, key) => carrier.get(key) ?? undefined,
};

/** Writes propagation fields into Fetch API Headers. */
export const headersSetter: TextMapSetter<Headers> = {
  set: (carrier, key, value) => carrier.set(key, value),
};
