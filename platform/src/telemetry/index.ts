export { telemetryClientInterceptor } from "./client-interceptor.ts";
export { type TelemetryEnv, telemetryEnv, telemetryOptionsFromEnv } from "./config.ts";
export { initTelemetry, otlpTracesUrl, type Telemetry, type TelemetryOptions } from "./init.ts";
export { METRICS_PATH } from "./metrics-server.ts";
export {
  type ConsumerSpanOptions,
  extractTraceContext,
  injectTraceContext,
  MAX_TRACESTATE_LENGTH,
  startConsumerSpan,
  type TraceCarrier,
  type TraceHeaders,
  withExtractedContext,
} from "./propagation.ts";
export { grpcCodeName, RPC_DURATION_BUCKETS, RpcAttr, TELEMETRY_SCOPE } from "./rpc-attributes.ts";
export { recordServerRefusal, telemetryServerInterceptor } from "./server-interceptor.ts";
