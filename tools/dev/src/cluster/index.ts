export { type KubeApi, KubeApiError, type KubeList, type KubeObject, type KubeResponse, kubeApi } from "./api.ts";
export {
  type ClusterComponent,
  type ClusterOptions,
  clusterBinaries,
  DEFAULT_NODE_CAPACITY,
  type RunningCluster,
  requireClusterBinaries,
  startCluster,
  until,
} from "./cluster.ts";
