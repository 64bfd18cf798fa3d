export {
  CHART_NATS_PERMISSIONS,
  chartNatsPermissions,
  type NatsOptions,
  type NatsServerUser,
  natsServerBinary,
  natsServerConfig,
  natsUrlWithCredentials,
  platformNatsUsers,
  type RunningNats,
  startNats,
} from "./nats.ts";
export { freePort, waitForPort } from "./ports.ts";
export { type PostgresOptions, type RunningPostgres, startEmbeddedPostgres } from "./postgres.ts";
export { type InfraOptions, type InfraProvider, infraProviderFromEnv, type RunningInfra, startInfra } from "./stack.ts";
export { containerRuntimeUnavailableReason, startWithTestcontainers } from "./testcontainers.ts";
