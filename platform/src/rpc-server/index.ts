export {
  HEALTH_SERVICE_NAME,
  HealthRegistry,
  LIVENESS,
  READINESS,
  type ReadinessCheck,
  type ServingStatusValue,
} from "./health.ts";
export { REFLECTION_SERVICE_NAMES, reflectionService } from "./reflection.ts";
export { REQUEST_ID_HEADER, requestIdFrom } from "./request-id.ts";
export { requestTextInterceptor, textProblem, textViolations } from "./request-text.ts";
export { createRpcServer, type RpcServer, type RpcServerOptions, type ShutdownOutcome } from "./server.ts";
export type { ShutdownHook } from "./shutdown-hooks.ts";
export { installSignalHandlers, type SignalHandlerOptions } from "./signals.ts";
