export {
  type ClusterComponent,
  type ClusterOptions,
  DEFAULT_NODE_CAPACITY,
  type KubeApi,
  KubeApiError,
  type KubeObject,
  type RunningCluster,
  requireClusterBinaries,
  startCluster,
  until,
} from "./cluster.ts";
export { freshDatabase, type TestDatabase } from "./database.ts";
export { as, eventually, failure, fieldsOf, rejection } from "./grpc.ts";
export { type CapturedLogs, captureLogs } from "./logs.ts";
export { type EdgeIdentityClients, operatorIdentityClients } from "./operator.ts";
export {
  type ApiKeySeed,
  bearer,
  type PlatformService,
  type Seeder,
  startPlatform,
  type TenantSeed,
  type TestClient,
  type TestPlatform,
  type UserSeed,
} from "./platform.ts";
export { registerSecret } from "./secrets.ts";
export { migrateServiceDatabase, type ServiceDatabase, serviceDatabase } from "./service-database.ts";
export { type ServiceTestEnv, serviceTestEnv } from "./service-env.ts";
export { type RunningMain, type RunningService, runMain, startMain, stopMain } from "./service-process.ts";
