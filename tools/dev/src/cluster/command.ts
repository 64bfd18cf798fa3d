import { join } from "node:path";
import { displayPath, repoRoot } from "../paths.ts";
import { startCluster } from "./cluster.ts";

const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

const USAGE = `usage: ./tessera cluster up [--check] [--nodes n]

  Starts a Kubernetes control plane on loopback (etcd, kube-apiserver, kube-controller-manager,
  kube-scheduler, built from source by scripts/build-kube) with kwok simulating the nodes, prints
  its kubeconfig, and stops it (removing everything) on Ctrl-C.
  --check      start, print, stop (smoke test)
  --nodes n    simulated nodes (default 3)`;

/** `./tessera cluster <subcommand>`. */
export async function runCluster(args: readonly string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "up") {
    console.error(
      sub === undefined || sub === "help" || sub === "--help" ? USAGE : `unknown: cluster ${sub}\n\n${USAGE}`,
    );
    return sub === "help" || sub === "--help" ? 0 : 2;
  }
  let check = false;
  let nodes = 3;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === "--check") check = true;
    else if (a === "--nodes" && /^[1-9]\d?$/.test(rest[i + 1] ?? "")) nodes = Number(rest[++i]);
    else {
      console.error(`tessera cluster up: unknown argument ${a}\n\n${USAGE}`);
      return 2;
    }
  }

  let signalled: (s: NodeJS.Signals) => void = () => {};
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => {
    signalled = resolve;
  });
  const onSignal = (s: NodeJS.Signals) => signalled(s);
  for (const s of SIGNALS) process.on(s, onSignal);

  const t0 = Date.now();
  console.log("starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok…");
  const cluster = await startCluster({ nodes });
  try {
    const version = (await cluster.api.get<{ gitVersion: string }>("/version")).gitVersion;
    console.log(
      [
        "",
        `Kubernetes ${version} is up in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${nodes} simulated node(s): ${cluster.nodes.join(", ")}`,
        `  server      ${cluster.server}`,
        `  kubeconfig  ${cluster.kubeconfig}   (admin: group system:masters)`,
        `  logs        ${cluster.dir}/logs/`,
        "",
        "Use it from another shell:",
        `  export KUBECONFIG=${cluster.kubeconfig}`,
        `  ${displayPath(join(repoRoot, ".tools/bin/helm"))} upgrade --install tessera charts/tessera-platform -n tessera-system --create-namespace --wait`,
        "",
        "What it is not: there is no container runtime (pods are Running and Jobs Complete as kwok says so;",
        "images are never pulled or run) and no CNI (NetworkPolicies are stored, not enforced); Services get",
        "cluster IPs but nothing routes them. Everything is deleted when it stops.",
        "",
        check ? "--check: stopping." : "Ctrl-C stops it.",
      ].join("\n"),
    );
    if (!check) console.log(`\n${await stopRequested}: stopping…`);
  } finally {
    await cluster.stop();
    for (const s of SIGNALS) process.off(s, onSignal);
  }
  console.log("stopped; removed", cluster.dir);
  return 0;
}
