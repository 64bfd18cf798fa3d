import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  type KubeObject,
  type RunningCluster,
  registerSecret,
  requireClusterBinaries,
  runMain,
  serviceDatabase,
  startCluster,
  until,
} from "@tessera/test/harness";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it as vitestIt } from "vitest";
import {
  containerEnv,
  deletePolicies,
  deploymentAvailable,
  helmFor,
  inBatches,
  installCrds,
  jobComplete,
  LISTED_KINDS,
  objectPath,
  type Placement,
  pathOf,
  placementOf,
  releaseObjects,
  secretOf,
  table,
} from "./install-support.ts";
import { type K8sObject, parseYamlFiles, prepareCharts, repoRoot, requireTools, valueSets } from "./support.ts";

/**
 * The charts installed with the real helm on a real control plane (etcd, kube-apiserver with its
 * default admission, controller-manager, scheduler; kwok nodes): every value set of both charts,
 * then an upgrade, a rollback and an uninstall, and the guardrails enforced by the API server.
 * kwok runs no containers: a scheduled pod becomes Running and Ready, a Job's pod Succeeded.
 */

/** How long helm may wait for one release (hooks, rollout). */
const HELM_TIMEOUT = "90s";
/** Releases installed at once (two cores run the control plane too). */
const PARALLEL = 3;

let cluster: RunningCluster;
let charts: string;
let scratch: string;
let helm: ReturnType<typeof helmFor>;
let placements: Placement[] = [];
let setupError: unknown;
let clusterStartMs = 0;

/** A value set that names an existing namespace for the tenant (namespace.create=false): tenant chart only. */
const ownNamespaces = new Map<string, string>();

beforeAll(async () => {
  try {
    requireTools("helm", "python");
    requireClusterBinaries();
    const t0 = Date.now();
    const [started, prepared] = await Promise.allSettled([startCluster(), prepareCharts()]);
    // keep whatever started, so afterAll stops it even when the other failed
    if (started.status === "fulfilled") cluster = started.value;
    if (prepared.status === "fulfilled") charts = prepared.value;
    if (started.status === "rejected") throw started.reason;
    if (prepared.status === "rejected") throw prepared.reason;
    clusterStartMs = Date.now() - t0;
    scratch = mkdtempSync(join(tmpdir(), "tessera-install-"));
    helm = helmFor(cluster);
    await installCrds(cluster.api);

    const sets = valueSets(charts);
    const tenantValues = await parseYamlFiles(sets.filter((s) => s.chart === "tessera-tenant").flatMap((s) => s.files));
    for (const set of sets.filter((s) => s.chart === "tessera-tenant")) {
      const ns: { create?: boolean; name?: string } = {};
      for (const f of set.files)
        Object.assign(ns, (tenantValues[f]?.[0] as { namespace?: typeof ns } | undefined)?.namespace);
      if (ns.create === false && ns.name) ownNamespaces.set(set.name, ns.name);
    }
    placements = sets.map((s) => placementOf(s, (x) => ownNamespaces.get(x.name)));
  } catch (err) {
    setupError = err;
  }
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
  if (charts) rmSync(dirname(charts), { recursive: true, force: true });
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  if (helm) rmSync(helm.home, { recursive: true, force: true });
});

/** A test that fails (never skips) with the setup's error, e.g. "run scripts/bootstrap". */
function it(name: string, fn: () => unknown, timeoutMs?: number) {
  vitestIt(
    name,
    async () => {
      if (setupError) throw setupError;
      await fn();
    },
    timeoutMs,
  );
}

const placement = (chart: string, set: string): Placement => {
  const p = placements.find((x) => x.chart === chart && x.set.name === set);
  if (!p) throw new Error(`no value set ${chart}/ci/${set}-values.yaml`);
  return p;
};

/** `helm upgrade --install … --wait` of a placement, with extra arguments. */
const upgradeInstall = (p: Placement, extra: string[] = []) =>
  helm.helmOk(
    [
      "upgrade",
      "--install",
      p.release,
      join(charts, p.chart),
      "--namespace",
      p.namespace,
      "--create-namespace",
      "--wait",
      "--timeout",
      HELM_TIMEOUT,
      ...p.set.files.flatMap((f) => ["--values", f]),
      ...p.args,
      ...extra,
    ],
    150_000,
  );

const get = (o: { kind: string; metadata: { name: string; namespace?: string } }) =>
  cluster.api.request<KubeObject>("GET", objectPath(o));

/** What the install of one value set did and what was checked of it. */
interface Installed {
  p: Placement;
  manifest: K8sObject[];
  hooks: K8sObject[];
  seconds: number;
  checked: number;
  deployments: number;
  jobs: number;
  pdbs: number;
  hpas: number;
  problems: string[];
}
const installed = new Map<Placement, Installed>();

/** Every object of the release exists; hooks did what their policies say; workloads rolled out. */
async function check(p: Placement, seconds: number): Promise<Installed> {
  const { manifest, hooks } = await releaseObjects(helm.helmOk, scratch, p);
  const problems: string[] = [];
  let checked = 0;
  const of = (kind: string) => manifest.filter((o) => o.kind === kind);
  for (const o of manifest) {
    const res = await get(o);
    if (res.status === 200) checked++;
    else problems.push(`${o.kind}/${o.metadata.name} in ${o.metadata.namespace}: HTTP ${res.status}`);
  }
  let jobs = 0;
  for (const h of hooks) {
    const res = await get(h);
    const kept = !deletePolicies(h).includes("hook-succeeded");
    if (!kept) {
      // a hook deleted once it succeeded (the migrations' service accounts)
      if (res.status === 404) checked++;
      else problems.push(`hook ${h.kind}/${h.metadata.name} should be deleted after success: HTTP ${res.status}`);
      continue;
    }
    if (res.status !== 200) {
      problems.push(`hook ${h.kind}/${h.metadata.name}: HTTP ${res.status}`);
      continue;
    }
    if (h.kind === "Job") {
      if (jobComplete(res.body)) jobs++;
      else problems.push(`hook Job ${h.metadata.name} not complete: ${JSON.stringify(res.body.status)}`);
    }
    if (h.kind === "Namespace" && res.body.metadata.labels?.["pod-security.kubernetes.io/enforce"] !== "restricted")
      problems.push(`namespace ${h.metadata.name} does not enforce Pod Security "restricted"`);
    checked++;
  }
  // every Deployment rolled out, an HPA's minimum reached (its controller is in charge); every PDB
  // computes its budget over exactly its Deployment's pods (a Job's pod among them breaks the budget)
  const waits = [
    ...of("Deployment").map((d) => async () => {
      const hpa = of("HorizontalPodAutoscaler").find((h) => h.spec.scaleTargetRef.name === d.metadata.name);
      await until(`Deployment ${d.metadata.name} available`, async () => {
        const live = (await get(d)).body;
        return deploymentAvailable(live) && (!hpa || (live.spec?.replicas ?? 0) >= hpa.spec.minReplicas);
      });
    }),
    ...of("PodDisruptionBudget").map((pdb) => async () => {
      const target = of("Deployment").find(
        (d) => JSON.stringify(d.spec.selector.matchLabels) === JSON.stringify(pdb.spec.selector.matchLabels),
      );
      let last: unknown;
      await until(
        `PDB ${pdb.metadata.name} covers its Deployment's pods`,
        async () => {
          const status = (await get(pdb)).body.status ?? {};
          last = status.conditions;
          const replicas = target ? ((await get(target)).body.spec?.replicas ?? 0) : 0;
          return status.expectedPods > 0 && status.expectedPods === replicas;
        },
        20_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}: ${JSON.stringify(last)}`);
      });
    }),
  ];
  const outcomes = await Promise.allSettled(waits.map((w) => w()));
  for (const o of outcomes) {
    if (o.status === "fulfilled") checked++;
    else problems.push((o.reason as Error).message);
  }
  return {
    p,
    manifest,
    hooks,
    seconds,
    checked,
    deployments: of("Deployment").length,
    jobs,
    pdbs: of("PodDisruptionBudget").length,
    hpas: of("HorizontalPodAutoscaler").length,
    problems,
  };
}

describe("charts on a real control plane (kube-apiserver, controller-manager, scheduler, kwok nodes)", () => {
  it("installs every value set of both charts with helm upgrade --install --wait: hook Jobs complete, every Deployment available, PDBs and HPAs in place", async () => {
    // a set that installs into a namespace it does not create needs it first, labelled as NOTES says
    for (const ns of ownNamespaces.values()) {
      await cluster.api.create("/api/v1/namespaces", {
        metadata: {
          name: ns,
          labels: {
            "pod-security.kubernetes.io/enforce": "restricted",
            "app.kubernetes.io/part-of": "tessera",
          },
        },
      });
    }
    const results = await inBatches(placements, PARALLEL, async (p) => {
      const t0 = Date.now();
      await upgradeInstall(p);
      const result = await check(p, (Date.now() - t0) / 1000);
      installed.set(p, result);
      return result;
    });
    console.log(
      `\ncluster up in ${(clusterStartMs / 1000).toFixed(1)} s; per release: objects in the manifest and hooks, ` +
        "objects checked live (exist, hooks done, rolled out), and what they are\n" +
        table([
          [
            "chart / value set",
            "manifest",
            "hooks",
            "checked",
            "deployments",
            "jobs done",
            "PDBs",
            "HPAs",
            "install s",
          ],
          ...results.map((r) => [
            `${r.p.chart}/${r.p.set.name}`,
            r.manifest.length,
            r.hooks.length,
            r.checked,
            r.deployments,
            r.jobs,
            r.pdbs,
            r.hpas,
            r.seconds.toFixed(1),
          ]),
        ]),
    );
    expect(results.flatMap((r) => r.problems.map((x) => `${r.p.chart}/${r.p.set.name}: ${x}`))).toEqual([]);
    for (const r of results) {
      const where = `${r.p.chart}/${r.p.set.name}`;
      expect(r.deployments, where).toBeGreaterThan(0);
      expect(r.jobs, `${where}: migration Jobs (and identity's seed) completed`).toBeGreaterThan(0);
      expect(r.checked, where).toBeGreaterThanOrEqual(r.manifest.length + r.hooks.length + r.deployments);
      if (r.p.chart === "tessera-tenant" && r.p.set.name !== "free-plan") expect(r.hpas, where).toBe(r.deployments);
    }
    // the platform's seed ran after the install (post-install hook) with the gateways' credentials
    for (const r of results.filter((x) => x.p.chart === "tessera-platform")) {
      const seed = r.hooks.find(
        (h) => h.kind === "Job" && h.metadata.labels?.["app.kubernetes.io/component"] === "seed",
      );
      expect(seed?.metadata.annotations?.["helm.sh/hook"], `${r.p.set.name}: seed Job`).toBe(
        "post-install,post-upgrade",
      );
    }
  }, 300_000);

  it('refuses a pod that violates Pod Security "restricted" in a tenant namespace (and only there)', async () => {
    const p = placement("tessera-tenant", "silo");
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "privileged" },
      spec: {
        containers: [
          {
            name: "c",
            image: "registry.invalid/x:1",
            securityContext: { privileged: true },
            resources: { limits: { cpu: "100m", memory: "64Mi" } },
          },
        ],
      },
    };
    const res = await cluster.api.request<{ message?: string }>("POST", pathOf("Pod", p.workloadNamespace), pod);
    expect(res.status, JSON.stringify(res.body)).toBe(403);
    expect(res.body.message).toMatch(
      /violates PodSecurity "restricted:latest": privileged \(container "c" must not set/,
    );
    expect(res.body.message).toContain("runAsNonRoot != true");
    // the release's own namespace (helm --create-namespace, no Pod Security labels) takes the same pod
    const elsewhere = await cluster.api.request<KubeObject>("POST", pathOf("Pod", p.namespace), pod);
    expect(elsewhere.status, JSON.stringify(elsewhere.body)).toBe(201);
    await cluster.api.request("DELETE", pathOf("Pod", p.namespace, pod.metadata.name));
  });

  it("gives a pod without resources the LimitRange defaults of the tenant's plan", async () => {
    const ns = placement("tessera-tenant", "silo").workloadNamespace;
    const [limitRange] = await cluster.api.list<KubeObject>(pathOf("LimitRange", ns));
    const limits = limitRange?.spec.limits.find((l: { type: string }) => l.type === "Container");
    expect(limits?.default, "the chart's LimitRange").toBeDefined();
    const pod = await cluster.api.create<KubeObject>(pathOf("Pod", ns), {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "no-resources" },
      spec: {
        automountServiceAccountToken: false,
        securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: "RuntimeDefault" } },
        containers: [
          {
            name: "c",
            image: "registry.invalid/x:1",
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
          },
        ],
      },
    });
    expect(pod.spec.containers[0].resources).toEqual({ limits: limits.default, requests: limits.defaultRequest });
    // admitted by the quota too, scheduled onto a kwok node and Running
    const running = await until("the pod runs", async () => {
      const live = (await get(pod as K8sObject)).body;
      return live.status?.phase === "Running" ? live : undefined;
    });
    expect(running.spec.nodeName).toMatch(/^kwok-node-/);
    await cluster.api.request("DELETE", objectPath(pod as K8sObject));
  });

  it("leaves pods uncreated when a Deployment is scaled past the tenant's ResourceQuota, naming the quota in the events", async () => {
    const p = placement("tessera-tenant", "free-plan");
    const ns = p.workloadNamespace;
    const [quota] = await cluster.api.list<KubeObject>(pathOf("ResourceQuota", ns));
    const deployment = installed.get(p)?.manifest.find((o) => o.kind === "Deployment");
    if (!quota || !deployment) throw new Error(`no quota or Deployment in ${ns}`);
    const want = Number(quota.spec.hard.pods) + 5;
    const scale = (replicas: number) =>
      cluster.api.request(
        "PATCH",
        `${objectPath(deployment)}/scale`,
        { spec: { replicas } },
        "application/merge-patch+json",
      );
    expect((await scale(want)).status).toBe(200);
    try {
      const refused = await until(
        "the ReplicaSet reports pods refused by the quota",
        async () =>
          (await cluster.api.list<KubeObject & { reason?: string; message?: string }>(pathOf("Event", ns))).find(
            (e) => e.reason === "FailedCreate" && e.message?.includes(`exceeded quota: ${quota.metadata.name}`),
          ),
        30_000,
      );
      expect(refused.message).toMatch(/forbidden: exceeded quota: tessera-quota, requested: .+, used: .+, limited: .+/);
      const live = (await get(deployment)).body;
      expect(live.status.replicas, "pods the ReplicaSet could create").toBeLessThan(want);
      const used = (await get({ kind: "ResourceQuota", metadata: quota.metadata })).body.status;
      const full = Object.keys(used.hard).filter((k) => used.used[k] === used.hard[k]);
      expect(full.length, `quota ${JSON.stringify(used)} has a resource used up`).toBeGreaterThan(0);
    } finally {
      await scale(deployment.spec.replicas);
    }
  });

  it("runs identity's seed Job as the kubelet would (Secrets from the cluster, $(VAR) expanded): service credentials and the first platform admin", async () => {
    const p = placement("tessera-platform", "pool-default");
    const hooks = installed.get(p)?.hooks ?? [];
    const migrateJob = hooks.find((h) => h.kind === "Job" && h.metadata.name.endsWith("identity-migrate"));
    const seedJob = hooks.find(
      (h) => h.kind === "Job" && h.metadata.labels?.["app.kubernetes.io/component"] === "seed",
    );
    if (!migrateJob || !seedJob) throw new Error("no identity migration or seed Job");
    type Env = { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } };
    const seedEnv = seedJob.spec.template.spec.containers[0].env as Env[];
    const migrateEnv = migrateJob.spec.template.spec.containers[0].env as Env[];
    const clientsTemplate = JSON.parse(
      seedEnv.find((e) => e.name === "IDENTITY_SEED_SERVICE_CLIENTS")?.value ?? "[]",
    ) as Array<{ id: string; secret: string; audiences: string[]; roles: string[] }>;
    expect(clientsTemplate.map((c) => c.id)).toEqual(expect.arrayContaining(["graphql", "rest"]));

    // the Secrets NOTES asks the operator for, with what the test stands up
    const db = await serviceDatabase("identity_seed");
    const values: Record<string, string> = {
      DATABASE_URL: db.appUrl,
      MIGRATION_DATABASE_URL: db.ownerUrl,
      IDENTITY_SEED_PLATFORM_ADMIN_PASSWORD: randomBytes(18).toString("base64url"),
    };
    const clientSecrets = new Map<string, string>();
    const secrets = new Map<string, Record<string, string>>();
    for (const e of [...migrateEnv, ...seedEnv]) {
      const ref = e.valueFrom?.secretKeyRef;
      if (!ref) continue;
      const client = clientsTemplate.find((c) => c.secret === `$(${e.name})`);
      const value = client ? randomBytes(32).toString("hex") : values[e.name];
      if (value === undefined) throw new Error(`no test value for ${e.name} (${ref.name}/${ref.key})`);
      if (client) clientSecrets.set(client.id, value);
      secrets.set(ref.name, { ...secrets.get(ref.name), [ref.key]: value });
    }
    for (const v of [...Object.values(values), ...clientSecrets.values()]) registerSecret(v);
    for (const [name, data] of secrets)
      await cluster.api.create(pathOf("Secret", p.namespace), secretOf(p.namespace, name, data));
    try {
      const identityDir = join(repoRoot, "services/identity");
      const runJob = async (job: K8sObject, override: Record<string, string> = {}) => {
        const c = (await get(job)).body.spec.template.spec.containers[0];
        const env = { ...(await containerEnv(cluster.api, p.namespace, c)), ...override };
        const proc = runMain(join(identityDir, c.command[1]), env, `identity-${c.name}`);
        const { code } = await proc.exited;
        expect(code, `${job.metadata.name}: ${proc.stderr()}${proc.stdout()}`).toBe(0);
        return env;
      };
      // the test database's own app role stands in for the chart's conventional one
      await runJob(migrateJob, { DATABASE_APP_ROLE: db.roles.app });
      const env = await runJob(seedJob);
      expect(env.IDENTITY_SEED_SERVICE_CLIENTS).not.toContain("$(");

      const client = new pg.Client({ connectionString: db.adminUrl });
      await client.connect();
      try {
        const rows = (await client.query("select id, secret_hash, audiences, roles from service_clients order by id"))
          .rows as Array<{ id: string; secret_hash: string; audiences: string[]; roles: string[] }>;
        expect(rows.map((r) => r.id)).toEqual([...clientSecrets.keys()].sort());
        const { createPasswordHasher } = await import(join(identityDir, "src/domain/passwords.ts"));
        const hasher = await createPasswordHasher({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });
        for (const r of rows) {
          const want = clientsTemplate.find((c) => c.id === r.id);
          expect(await hasher.verify(r.secret_hash, clientSecrets.get(r.id) ?? ""), `${r.id}'s secret`).toBe(true);
          expect(r.audiences.sort()).toEqual([...(want?.audiences ?? [])].sort());
          expect(r.audiences).toEqual(expect.arrayContaining(["identity", "tenancy"]));
          expect(r.roles).toEqual(want?.roles);
        }
        const admin = (await client.query("select email, platform_roles from users")).rows;
        expect(admin).toEqual([{ email: "admin@tessera.example.com", platform_roles: ["platform-admin"] }]);
      } finally {
        await client.end();
      }
    } finally {
      await db.drop();
    }
  }, 120_000);

  it("upgrades with changed values (hooks run again), rolls back, and the cluster follows", async () => {
    const platform = placement("tessera-platform", "pool-default");
    const tenant = placement("tessera-tenant", "silo");
    const deploymentOf = (p: Placement, component: string) => {
      const d = installed
        .get(p)
        ?.manifest.find((o) => o.kind === "Deployment" && o.metadata.labels?.["app.kubernetes.io/name"] === component);
      if (!d) throw new Error(`no Deployment ${component} in ${p.release}`);
      return d;
    };
    const tenancy = deploymentOf(platform, "tenancy");
    const projects = deploymentOf(tenant, "projects");
    const hpa = installed.get(tenant)?.manifest.find((o) => o.kind === "HorizontalPodAutoscaler");
    if (!hpa) throw new Error("no HPA in the silo tenant");
    const jobsBefore = await Promise.all(
      (installed.get(platform)?.hooks ?? [])
        .filter((h) => h.kind === "Job")
        .map(async (h) => ({ job: h, uid: (await get(h)).body.metadata.uid })),
    );
    const replicasOf = async (d: K8sObject) => (await get(d)).body;
    const rolledOut = (d: K8sObject, replicas: number) =>
      until(`${d.metadata.name} at ${replicas} available replicas`, async () => {
        const live = await replicasOf(d);
        return live.spec.replicas === replicas && deploymentAvailable(live);
      });

    await Promise.all([
      upgradeInstall(platform, ["--set", "tenancy.replicas=3"]),
      upgradeInstall(tenant, ["--set", "projects.autoscaling.minReplicas=3"]),
    ]);
    await rolledOut(tenancy, 3);
    expect((await get(hpa)).body.spec.minReplicas).toBe(3);
    await rolledOut(projects, 3);
    // pre-upgrade migrations and the post-upgrade seed ran again: new Jobs, complete
    expect(jobsBefore.length).toBe(5);
    for (const { job, uid } of jobsBefore) {
      const res = await get(job);
      const where = `${job.metadata.name} after the upgrade`;
      expect(res.status, where).toBe(200);
      expect(res.body.metadata.uid, where).not.toBe(uid);
      expect(jobComplete(res.body), where).toBe(true);
    }

    await Promise.all(
      [platform, tenant].map((p) =>
        helm.helmOk(["rollback", p.release, "1", "-n", p.namespace, "--wait", "--timeout", HELM_TIMEOUT], 150_000),
      ),
    );
    await rolledOut(tenancy, 2);
    expect((await get(hpa)).body.spec.minReplicas).toBe(2);
    for (const p of [platform, tenant]) {
      const history = JSON.parse(await helm.helmOk(["history", p.release, "-n", p.namespace, "-o", "json"])) as Array<{
        revision: number;
        status: string;
        description: string;
      }>;
      expect(
        history.map((h) => [h.revision, h.status]),
        p.release,
      ).toEqual([
        [1, "superseded"],
        [2, "superseded"],
        [3, "deployed"],
      ]);
      expect(history[2]?.description).toBe("Rollback to 1");
    }
  }, 240_000);

  it("uninstalls every release: what the chart keeps on purpose (namespaces it created, hook Jobs, ExternalSecrets) remains, nothing else", async () => {
    const rows: Array<Array<string | number>> = [["chart / value set", "removed", "left on purpose", "what is left"]];
    const problems: string[] = [];
    await inBatches(placements, PARALLEL, async (p) => {
      const before = installed.get(p);
      if (!before) throw new Error(`${p.release} was not installed`);
      await helm.helmOk(["uninstall", p.release, "-n", p.namespace, "--wait", "--timeout", HELM_TIMEOUT], 150_000);
      // hooks whose policy keeps them: Jobs (their logs, until ttlSecondsAfterFinished), the namespace the
      // chart created (hook-failed: never deleted), ExternalSecrets (their Secrets are Retain)
      const kept = before.hooks.filter((h) => !deletePolicies(h).includes("hook-succeeded"));
      const keptKeys = new Set(kept.map((h) => `${h.kind}/${h.metadata.namespace ?? ""}/${h.metadata.name}`));
      const keptJobUids = new Set<string>();
      for (const h of kept.filter((x) => x.kind === "Job")) {
        const res = await get(h);
        if (res.status === 200 && res.body.metadata.uid) keptJobUids.add(res.body.metadata.uid);
      }
      const namespaces = [...new Set([p.namespace, p.workloadNamespace])];
      const selector = encodeURIComponent(`app.kubernetes.io/instance=${p.release}`);
      const leftovers = async () => {
        const found: KubeObject[] = [];
        for (const kind of LISTED_KINDS) {
          const paths = kind === "Namespace" ? [pathOf(kind)] : namespaces.map((ns) => pathOf(kind, ns));
          for (const path of paths)
            for (const o of await cluster.api.list<KubeObject>(`${path}?labelSelector=${selector}`))
              if (kind !== "Namespace" || namespaces.includes(o.metadata.name)) found.push({ ...o, kind });
        }
        return found;
      };
      const unexpected = (o: KubeObject) =>
        !keptKeys.has(`${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`) &&
        // a kept Job's pods stay with it
        !(o.kind === "Pod" && o.metadata.ownerReferences?.some((r) => r.kind === "Job" && keptJobUids.has(r.uid)));
      let left: KubeObject[] = [];
      try {
        left = await until(
          `${p.release} in ${p.namespace}: only kept objects left`,
          async () => {
            const found = await leftovers();
            return found.some(unexpected) ? undefined : found;
          },
          30_000,
        );
      } catch (err) {
        const found = await leftovers();
        problems.push(
          `${(err as Error).message}: ${found
            .filter(unexpected)
            .map((o) => `${o.kind}/${o.metadata.name}`)
            .join(", ")}`,
        );
        return;
      }
      const gone = await Promise.all(before.manifest.map(async (o) => (await get(o)).status === 404));
      const stillThere = before.manifest.filter((_, i) => !gone[i]);
      if (stillThere.length > 0)
        problems.push(`${p.release}: ${stillThere.map((o) => `${o.kind}/${o.metadata.name}`).join(", ")} not deleted`);
      for (const h of kept)
        if (!left.some((o) => o.kind === h.kind && o.metadata.name === h.metadata.name))
          problems.push(`${p.release}: kept hook ${h.kind}/${h.metadata.name} is gone`);
      const byKind = new Map<string, number>();
      for (const o of left) byKind.set(o.kind ?? "?", (byKind.get(o.kind ?? "?") ?? 0) + 1);
      rows.push([
        `${p.chart}/${p.set.name}`,
        gone.filter(Boolean).length,
        left.length,
        [...byKind].map(([k, n]) => `${n} ${k}`).join(", "),
      ]);
    });
    console.log(`\nafter helm uninstall --wait\n${table(rows)}`);
    expect(problems).toEqual([]);
  }, 240_000);
});
