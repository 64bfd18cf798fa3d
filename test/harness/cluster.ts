/**
 * A real Kubernetes control plane for tests (etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler, kwok nodes), started on loopback from the binaries scripts/build-kube builds.
 * One per test file: `startCluster()` in beforeAll, `stop()` in afterAll. See
 * tools/dev/src/cluster/cluster.ts for what runs and what it does not do.
 */
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
} from "@tessera/dev/cluster";
