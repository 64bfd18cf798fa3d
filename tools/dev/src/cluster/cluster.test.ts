import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubeApi } from "./api.ts";
import { DEFAULT_NODE_CAPACITY, type RunningCluster, startCluster, until } from "./cluster.ts";
import { runCluster } from "./command.ts";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("startCluster", () => {
  let cluster: RunningCluster;
  beforeAll(async () => {
    cluster = await startCluster();
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it("serves Kubernetes v1.37.2 with three Ready kwok nodes that declare cpu, memory, pods and ephemeral-storage", async () => {
    expect((await cluster.api.get<{ gitVersion: string }>("/version")).gitVersion).toBe("v1.37.2");
    const nodes = await cluster.api.list("/api/v1/nodes");
    expect(nodes.map((n) => n.metadata.name)).toEqual(cluster.nodes);
    expect(nodes).toHaveLength(3);
    for (const n of nodes) {
      expect(n.status.allocatable).toEqual(DEFAULT_NODE_CAPACITY);
      expect(n.metadata.labels?.["topology.kubernetes.io/zone"]).toMatch(/^zone-[abc]$/);
    }
  });

  it("authenticates every request and authorizes with RBAC", async () => {
    const anonymous = kubeApi({ server: cluster.server, ca: cluster.ca, token: "not-a-token" });
    try {
      expect((await anonymous.request("GET", "/api/v1/namespaces")).status).toBe(401);
    } finally {
      anonymous.close();
    }
    const review = await cluster.api.create<{ status: { allowed: boolean } }>(
      "/apis/authorization.k8s.io/v1/subjectaccessreviews",
      {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SubjectAccessReview",
        spec: {
          user: "system:serviceaccount:default:default",
          resourceAttributes: { verb: "list", resource: "secrets", namespace: "default" },
        },
      },
    );
    expect(review.status.allowed).toBe(false);
  });

  it("schedules a pod that requests ephemeral storage and kwok runs it; a Job's pod completes", async () => {
    const pod = await cluster.api.create("/api/v1/namespaces/default/pods", {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "sleeper" },
      spec: {
        containers: [
          {
            name: "c",
            image: "registry.invalid/never-pulled:1",
            resources: { requests: { cpu: "100m", memory: "64Mi", "ephemeral-storage": "1Gi" } },
          },
        ],
      },
    });
    const running = await until("the pod runs", async () => {
      const live = await cluster.api.get(`/api/v1/namespaces/default/pods/${pod.metadata.name}`);
      return live.status?.phase === "Running" ? live : undefined;
    });
    expect(cluster.nodes).toContain(running.spec.nodeName);
    await cluster.api.create("/apis/batch/v1/namespaces/default/jobs", {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "once" },
      spec: {
        template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "registry.invalid/x:1" }] } },
      },
    });
    await until("the Job completes", async () => {
      const job = await cluster.api.get("/apis/batch/v1/namespaces/default/jobs/once");
      return job.status?.succeeded === 1;
    });
  });

  it("stops every process and removes its folder", async () => {
    const pids = cluster.pids.map((p) => p.pid);
    expect(cluster.pids.map((p) => p.component)).toEqual([
      "etcd",
      "kube-apiserver",
      "kube-controller-manager",
      "kube-scheduler",
      "kwok",
    ]);
    expect(pids.every(alive)).toBe(true);
    await cluster.stop();
    expect(pids.filter(alive)).toEqual([]);
    expect(existsSync(cluster.dir)).toBe(false);
  }, 60_000);
});

describe("tessera cluster", () => {
  it("rejects unknown subcommands and arguments (exit 2) before starting anything", async () => {
    expect(await runCluster(["down"])).toBe(2);
    expect(await runCluster(["up", "--nodes", "0"])).toBe(2);
    expect(await runCluster(["up", "--bogus"])).toBe(2);
  });
});
