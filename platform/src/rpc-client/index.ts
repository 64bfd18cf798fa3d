export { closeServiceClient, createServiceClient, type ServiceClientOptions } from "./client.ts";
export { propagationInterceptor } from "./propagation.ts";
export {
  backoffMs,
  DEFAULT_RETRY_POLICY,
  isRetryableError,
  isRetryableMethod,
  type RetryPolicy,
} from "./retry.ts";
export type { ServiceRoute } from "./routing.ts";
