import { type ChildProcess, spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import { accessSync, closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForPort } from "../infra/ports.ts";
import { repoRoot } from "../paths.ts";
import { type KubeApi, kubeApi } from "./api.ts";

/** The binaries scripts/build-kube puts into .tools/bin. */
export const clusterBinaries = {
  etcd: join(repoRoot, ".tools/bin/etcd"),
  kubeApiserver: join(repoRoot, ".tools/bin/kube-apiserver"),
  kubeControllerManager: join(repoRoot, ".tools/bin/kube-controller-manager"),
  kubeScheduler: join(repoRoot, ".tools/bin/kube-scheduler"),
  kwok: join(repoRoot, ".tools/bin/kwok"),
} as const;

/** kwok's "fast" node and pod stages (test/fixtures/kwok, copied from the kwok module). */
export const kwokStagesDir = join(repoRoot, "test/fixtures/kwok");

/** What every simulated node declares (capacity = allocatable). */
export const DEFAULT_NODE_CAPACITY = {
  cpu: "16",
  memory: "64Gi",
  pods: "110",
  "ephemeral-storage": "200Gi",
} as const;

const ZONES = ["zone-a", "zone-b", "zone-c"];
const KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node";

export interface ClusterOptions {
  /** Simulated nodes (kwok), 3 by default, spread over three zones. */
  nodes?: number;
  /** Capacity and allocatable of each node. */
  nodeCapacity?: Record<string, string>;
  /** Everything must be up (nodes Ready) within this long. */
  startTimeoutMs?: number;
  /** Each log line of a component (by default they go to `<dir>/logs/<component>.log` only). */
  onLog?: (component: string, line: string) => void;
}

/** A running control plane. */
export interface RunningCluster {
  /** Its own folder (etcd data, certificates, kubeconfigs, logs); removed by stop(). */
  dir: string;
  /** Admin kubeconfig (user `tessera-admin`, group system:masters), self-contained. */
  kubeconfig: string;
  /** The API server's URL (https://127.0.0.1:<port>). */
  server: string;
  /** CA bundle (PEM) the API server's certificate verifies against. */
  ca: string;
  /** The admin's bearer token. */
  token: string;
  /** A client of the API server as the admin. */
  api: KubeApi;
  /** Names of the simulated nodes. */
  nodes: string[];
  /** Component log files (for failure reports). */
  logFile(component: ClusterComponent): string;
  /** Process ids of the components, in start order. */
  pids: Array<{ component: ClusterComponent; pid: number }>;
  /** Stops every process (SIGTERM, SIGKILL after 10 s) in reverse start order and removes `dir`. */
  stop(): Promise<void>;
}

export type ClusterComponent = "etcd" | "kube-apiserver" | "kube-controller-manager" | "kube-scheduler" | "kwok";

/** Throws (saying how to get them) when a binary is missing. */
export function requireClusterBinaries(): void {
  const missing = Object.values(clusterBinaries).filter((bin) => {
    try {
      accessSync(bin, constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0)
    throw new Error(
      `missing ${missing.join(", ")}: run scripts/bootstrap (scripts/build-kube builds etcd, the Kubernetes control ` +
        "plane and kwok into .tools/bin with go, ~10 min the first time)",
    );
}

interface Proc {
  name: ClusterComponent;
  child: ChildProcess;
  exited: Promise<void>;
  logFile: string;
}

/** The last lines of a file, for error messages. */
async function tail(file: string, lines = 25): Promise<string> {
  try {
    return (await readFile(file, "utf8")).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

function kubeconfigFor(server: string, ca: string, user: string, token: string): string {
  return `${JSON.stringify(
    {
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        { name: "tessera", cluster: { server, "certificate-authority-data": Buffer.from(ca).toString("base64") } },
      ],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: "tessera", context: { cluster: "tessera", user, namespace: "default" } }],
      "current-context": "tessera",
    },
    null,
    2,
  )}\n`;
}

/** The CA certificates of a PEM bundle. */
function caCertificates(pem: string): string {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
  const cas = blocks.filter((b) => new X509Certificate(b).ca);
  if (cas.length === 0) throw new Error("kube-apiserver's certificate bundle holds no CA");
  return cas.map((b) => (b.endsWith("\n") ? b : `${b}\n`)).join("");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts a Kubernetes control plane on loopback, built from source by scripts/build-kube: etcd,
 * kube-apiserver (token auth, Node and RBAC authorization, the default admission plugins with
 * PodSecurity and ResourceQuota, service-account tokens), kube-controller-manager (every controller
 * but node IPAM), kube-scheduler and kwok, which simulates the nodes and the pods scheduled on them.
 * No container runtime (images never run) and no CNI (NetworkPolicies are stored, not enforced).
 */
export async function startCluster(options: ClusterOptions = {}): Promise<RunningCluster> {
  requireClusterBinaries();
  const started = Date.now();
  const deadline = started + (options.startTimeoutMs ?? 90_000);
  const dir = mkdtempSync(join(tmpdir(), "tessera-cluster-"));
  const pki = join(dir, "pki");
  const logs = join(dir, "logs");
  mkdirSync(pki);
  mkdirSync(logs);
  const procs: Proc[] = [];
  let stopped = false;

  const killAll = () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
  };
  // a test worker that dies must not leave a control plane behind
  process.once("exit", killAll);

  const launch = (name: ClusterComponent, bin: string, args: string[]): Proc => {
    const logFile = join(logs, `${name}.log`);
    const fd = openSync(logFile, "a");
    const child = spawn(bin, args, {
      cwd: dir,
      env: { ...process.env, HOME: dir },
      stdio: ["ignore", options.onLog ? "pipe" : fd, options.onLog ? "pipe" : fd],
      detached: true,
    });
    closeSync(fd);
    if (options.onLog) {
      const onLog = options.onLog;
      const forward = (chunk: Buffer) => {
        for (const line of chunk.toString().split("\n")) if (line) onLog(name, line);
        void writeFile(logFile, chunk, { flag: "a" }).catch(() => {});
      };
      child.stdout?.on("data", forward);
      child.stderr?.on("data", forward);
    }
    const exited = new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.once("error", () => resolve());
    });
    const proc = { name, child, exited, logFile };
    procs.push(proc);
    return proc;
  };

  /** Rejects when a component exits while the cluster is starting. */
  const crashed = () =>
    Promise.race(
      procs.map((p) =>
        p.exited.then(async () => {
          if (stopped) return new Promise<never>(() => {});
          throw new Error(
            `${p.name} exited (code ${p.child.exitCode}, signal ${p.child.signalCode}):\n${await tail(p.logFile)}`,
          );
        }),
      ),
    );

  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    for (const p of [...procs].reverse()) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
      p.child.kill("SIGTERM");
      const timer = setTimeout(() => p.child.kill("SIGKILL"), 10_000);
      await p.exited;
      clearTimeout(timer);
    }
    process.removeListener("exit", killAll);
  };

  let api: KubeApi | undefined;
  try {
    // credentials: service-account signing key, one bearer token per component
    const sa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const saKey = join(pki, "sa.key");
    const saPub = join(pki, "sa.pub");
    await writeFile(saKey, sa.privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    await writeFile(saPub, sa.publicKey.export({ type: "spki", format: "pem" }));
    const token = () => randomBytes(24).toString("hex");
    const tokens = {
      admin: token(),
      controllerManager: token(),
      scheduler: token(),
      kwok: token(),
    };
    await writeFile(
      join(pki, "tokens.csv"),
      [
        `${tokens.admin},tessera-admin,tessera-admin,"system:masters"`,
        `${tokens.controllerManager},system:kube-controller-manager,system:kube-controller-manager`,
        `${tokens.scheduler},system:kube-scheduler,system:kube-scheduler`,
        // kwok writes node and pod status and node leases of every simulated node
        `${tokens.kwok},kwok,kwok,"system:masters"`,
        "",
      ].join("\n"),
      { mode: 0o600 },
    );

    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;
    launch("etcd", clusterBinaries.etcd, [
      "--name=tessera",
      `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=tessera=${peerUrl}`,
      // a throwaway store: no fsync
      "--unsafe-no-fsync",
      "--log-level=warn",
    ]);
    await Promise.race([waitForPort(etcdClient, Math.max(1_000, deadline - Date.now())), crashed()]);

    const server = `https://127.0.0.1:${apiPort}`;
    launch("kube-apiserver", clusterBinaries.kubeApiserver, [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--cert-dir=${pki}`,
      // the `kubernetes` Service's endpoints would be a loopback address, which the reconciler refuses
      "--endpoint-reconciler-type=none",
      `--token-auth-file=${join(pki, "tokens.csv")}`,
      "--anonymous-auth=false",
      "--authorization-mode=Node,RBAC",
      // as kubeadm sets it: privileged pods are Pod Security's to refuse, per namespace
      "--allow-privileged=true",
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      "--service-cluster-ip-range=10.96.0.0/16",
      "--profiling=false",
      "--v=0",
    ]);
    // the API server writes its self-signed certificate (followed by its CA) into --cert-dir
    const certFile = join(pki, "apiserver.crt");
    const apiDone = Promise.race([
      (async () => {
        while (!existsSync(certFile)) {
          if (Date.now() > deadline) throw new Error("kube-apiserver wrote no certificate");
          await sleep(100);
        }
        await waitForPort(apiPort, Math.max(1_000, deadline - Date.now()));
      })(),
      crashed(),
    ]);
    await apiDone;
    // keep its CA only: the controller-manager publishes --root-ca-file as a trust bundle, which must hold CAs
    const ca = caCertificates(await readFile(certFile, "utf8"));
    const caFile = join(pki, "ca.crt");
    await writeFile(caFile, ca);
    api = kubeApi({ server, ca, token: tokens.admin });
    const client = api;
    await Promise.race([
      (async () => {
        for (;;) {
          const res = await client.request("GET", "/readyz").catch(() => ({ status: 0 }));
          if (res.status === 200) return;
          if (Date.now() > deadline)
            throw new Error(`kube-apiserver not ready:\n${await tail(join(logs, "kube-apiserver.log"))}`);
          await sleep(200);
        }
      })(),
      crashed(),
    ]);

    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(kubeconfig, kubeconfigFor(server, ca, "tessera-admin", tokens.admin), { mode: 0o600 });
    const componentConfig = async (name: string, user: string, tok: string) => {
      const file = join(pki, `${name}.kubeconfig`);
      await writeFile(file, kubeconfigFor(server, ca, user, tok), { mode: 0o600 });
      return file;
    };
    const kcmConfig = await componentConfig(
      "kube-controller-manager",
      "system:kube-controller-manager",
      tokens.controllerManager,
    );
    const schedConfig = await componentConfig("kube-scheduler", "system:kube-scheduler", tokens.scheduler);
    const kwokConfig = await componentConfig("kwok", "kwok", tokens.kwok);

    launch("kube-controller-manager", clusterBinaries.kubeControllerManager, [
      `--kubeconfig=${kcmConfig}`,
      `--authentication-kubeconfig=${kcmConfig}`,
      `--authorization-kubeconfig=${kcmConfig}`,
      // node IPAM needs a cluster CIDR; kwok assigns pod IPs itself
      "--controllers=*,-nodeipam",
      "--use-service-account-credentials=true",
      `--service-account-private-key-file=${saKey}`,
      `--root-ca-file=${caFile}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      "--secure-port=0",
      "--profiling=false",
      "--v=0",
    ]);
    launch("kube-scheduler", clusterBinaries.kubeScheduler, [
      `--kubeconfig=${schedConfig}`,
      `--authentication-kubeconfig=${schedConfig}`,
      `--authorization-kubeconfig=${schedConfig}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      "--secure-port=0",
      "--profiling=false",
      "--v=0",
    ]);
    const stages = readdirSync(kwokStagesDir)
      .filter((f) => f.endsWith(".yaml"))
      .sort()
      .map((f) => `--config=${join(kwokStagesDir, f)}`);
    launch("kwok", clusterBinaries.kwok, [
      `--kubeconfig=${kwokConfig}`,
      ...stages,
      `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
      "--node-lease-duration-seconds=40",
      "--cidr=10.244.0.0/16",
      "--node-ip=10.240.0.1",
    ]);

    const capacity = options.nodeCapacity ?? DEFAULT_NODE_CAPACITY;
    const nodes = Array.from({ length: options.nodes ?? 3 }, (_, i) => `kwok-node-${i}`);
    for (const [i, name] of nodes.entries()) {
      await client.create("/api/v1/nodes", {
        apiVersion: "v1",
        kind: "Node",
        metadata: {
          name,
          annotations: { [KWOK_NODE_ANNOTATION]: "fake", "node.alpha.kubernetes.io/ttl": "0" },
          labels: {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "topology.kubernetes.io/zone": ZONES[i % ZONES.length],
            type: "kwok",
          },
        },
        status: { capacity, allocatable: capacity },
      });
    }

    // up: every node Ready without the not-ready taint (kwok + node lifecycle controller), and the
    // service-account controller has given `default` its account
    const isUp = async () => {
      const list = await client.list("/api/v1/nodes");
      const ready = list.filter(
        (n) =>
          n.status?.conditions?.some(
            (c: { type: string; status: string }) => c.type === "Ready" && c.status === "True",
          ) && !(n.spec?.taints ?? []).some((t: { key: string }) => t.key.startsWith("node.kubernetes.io/")),
      );
      if (ready.length < nodes.length) return false;
      const sa = await client.request("GET", "/api/v1/namespaces/default/serviceaccounts/default");
      return sa.status === 200;
    };
    await Promise.race([
      (async () => {
        while (!(await isUp())) {
          if (Date.now() > deadline)
            throw new Error(
              `nodes not Ready within the deadline:\n${await tail(join(logs, "kwok.log"))}\n${await tail(join(logs, "kube-controller-manager.log"))}`,
            );
          await sleep(200);
        }
      })(),
      crashed(),
    ]);

    return {
      dir,
      kubeconfig,
      server,
      ca,
      token: tokens.admin,
      api: client,
      nodes,
      logFile: (component) => join(logs, `${component}.log`),
      pids: procs.flatMap((p) => (p.child.pid === undefined ? [] : [{ component: p.name, pid: p.child.pid }])),
      async stop() {
        client.close();
        await stopAll();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    api?.close();
    await stopAll();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Polls `check` until it returns a value other than undefined/false, or throws after timeoutMs. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${(last as Error).message})` : ""}`);
    await sleep(intervalMs);
  }
}
