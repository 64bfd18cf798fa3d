export {
  HEALTH_SERVICE_NAME,
  HealthRegistry,
  LIVENESS,
  READINESS,
  type ReadinessCheck,
  type ServingStatusValue,
} from "./health.ts";
export { REQUEST_ID_HEADER, requestIdFrom } from "./request-id.ts";
export { createRpcServer, type RpcServer, type RpcServerOptions, type ShutdownOutcome } from "./server.ts";
export type { ShutdownHook } from "./shutdown-hooks.ts";
export { installSignalHandlers, type SignalHandlerOptions } from "./signals.ts";
