import { cpSync, existsSync, lstatSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { getPlan, PLANS, UNLIMITED } from "@tessera/platform/plans";
import { afterAll, beforeAll, describe, expect, it as vitestIt } from "vitest";
import {
  APP_CHARTS,
  type ChartName,
  type Container,
  chartsDir,
  containersOf,
  envValue,
  type K8sObject,
  parseYamlFiles,
  podSpecOf,
  prepareCharts,
  RELEASES,
  type Rendered,
  renderAll,
  repoRoot,
  requireTools,
  run,
  runOk,
  template,
  tools,
  type ValueSet,
  valueSets,
} from "./support.ts";

const KUBE_VERSIONS = ["1.33.0", "1.37.0"];
const REQUIRED_SETS: Record<ChartName, string[]> = {
  "tessera-platform": ["pool-default", "eks", "aks", "monitoring", "external-secrets"],
  "tessera-tenant": ["silo", "eks", "aks", "monitoring", "external-secrets"],
};
/** Volume sources Pod Security "restricted" allows. */
const RESTRICTED_VOLUMES = new Set([
  "configMap",
  "csi",
  "downwardAPI",
  "emptyDir",
  "ephemeral",
  "persistentVolumeClaim",
  "projected",
  "secret",
]);

let dir: string;
let rendered: Rendered[];

const objectsOf = (chart: ChartName, set: string): K8sObject[] => {
  const r = rendered.find((x) => x.chart === chart && x.name === set);
  if (!r) throw new Error(`no value set ${chart}/ci/${set}-values.yaml`);
  return r.objects;
};
const ref = (r: Rendered, o: K8sObject) => `${r.chart}/${r.name}: ${o.kind}/${o.metadata.name}`;
const isHook = (o: K8sObject) => o.metadata.annotations?.["helm.sh/hook"] !== undefined;

let setupError: unknown;

/** The platform's pool-default set with tenancy's helm compute driver on, rendered (and parsed) into `file`. */
async function renderHelmCompute(file: string, extra: string[] = []): Promise<{ file: string; objects: K8sObject[] }> {
  const set = valueSets(dir).find((s) => s.chart === "tessera-platform" && s.name === "pool-default");
  if (!set) throw new Error("no tessera-platform/ci/pool-default-values.yaml");
  writeFileSync(file, await template(dir, set, ["--set", "tenancy.compute.driver=helm", ...extra]));
  return { file, objects: ((await parseYamlFiles([file]))[file] ?? []) as K8sObject[] };
}
/** The pool-default set with the helm compute driver on. */
let helmCompute: { file: string; objects: K8sObject[] };

beforeAll(async () => {
  try {
    requireTools("helm", "python", "kubernetesValidate", "checkov");
    dir = await prepareCharts();
    rendered = await renderAll(dir);
    // beside the ci sets' files, so the checkov test reads it too
    helmCompute = await renderHelmCompute(
      join(dirname(rendered[0]?.file ?? dir), "tessera-platform-helm-compute.yaml"),
    );
  } catch (err) {
    setupError = err;
  }
}, 120_000);

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

afterAll(() => {
  if (dir) rmSync(dirname(dir), { recursive: true, force: true });
});

describe("charts: lint and render", () => {
  it("has the required value sets in ci/ and each renders objects", () => {
    for (const chart of APP_CHARTS) {
      const names = rendered.filter((r) => r.chart === chart).map((r) => r.name);
      expect(names, `${chart}/ci`).toEqual(expect.arrayContaining(REQUIRED_SETS[chart]));
    }
    for (const r of rendered) expect(r.objects.length, `${r.chart}/${r.name}`).toBeGreaterThan(5);
  });

  it("passes helm lint --strict with every value set (and the library chart)", async () => {
    const results = await Promise.all(
      valueSets(dir).map(async (set) => {
        const r = await run(tools.helm, [
          "lint",
          "--strict",
          "--kube-version",
          "1.33.0",
          join(dir, set.chart),
          ...set.files.flatMap((f) => ["--values", f]),
        ]);
        return { set: `${set.chart}/${set.name}`, ...r };
      }),
    );
    for (const r of results) expect(r.code, `${r.set}\n${r.stdout}${r.stderr}`).toBe(0);
    const lib = await run(tools.helm, ["lint", "--strict", join(dir, "tessera-lib")]);
    expect(lib.code, lib.stdout + lib.stderr).toBe(0);
  });

  it("rejects values its values.schema.json forbids", async () => {
    const bad = await run(tools.helm, ["template", "x", join(dir, "tessera-platform"), "--set", "tenancy.port=abc"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("/tenancy/port");
    const noTenant = await run(tools.helm, ["template", "x", join(dir, "tessera-tenant")]);
    expect(noTenant.code).not.toBe(0);
    expect(noTenant.stderr).toContain("/tenant/id");
  });

  it("validates every rendered object against the Kubernetes 1.33 and 1.37 schemas (strict), custom resources against their CRD schemas", async () => {
    const r = await run(
      tools.python,
      [
        join(repoRoot, "test/charts/manifests.py"),
        "validate",
        join(repoRoot, "test/charts/crd-schemas"),
        KUBE_VERSIONS.join(","),
        ...rendered.map((x) => x.file),
      ],
      { timeoutMs: 120_000 },
    );
    const results = r.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { file: string; object: string; version: string; ok: boolean; error?: string });
    const failures = results.filter((x) => !x.ok).map((x) => `${x.file} ${x.object} (${x.version}): ${x.error}`);
    expect(failures, r.stderr).toEqual([]);
    const total = rendered.reduce((n, x) => n + x.objects.length, 0);
    expect(results).toHaveLength(total * KUBE_VERSIONS.length);
    expect(r.code).toBe(0);
    // the CRD kinds really were checked by their schemas
    expect(new Set(results.filter((x) => x.object.startsWith("ServiceMonitor/")).map((x) => x.ok))).toEqual(
      new Set([true]),
    );
  }, 120_000);

  it("has validators that reject what the API server would (unknown fields, wrong types, unknown kinds)", async () => {
    const file = join(dirname(dir), "broken.yaml");
    writeFileSync(
      file,
      [
        "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: n}\nspec: {ports: [{port: 80}], bogus: 1}",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b, namespace: n}\nspec: {replicas: two, selector: {}, template: {spec: {containers: []}}}",
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: c, namespace: n}\nspec: {selector: {}, endpoints: [{port: m, scheme: ftp}]}",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: d, namespace: n}\nspec: {}",
      ].join("\n---\n"),
    );
    const r = await run(tools.python, [
      join(repoRoot, "test/charts/manifests.py"),
      "validate",
      join(repoRoot, "test/charts/crd-schemas"),
      "1.33.0",
      file,
    ]);
    expect(r.code).toBe(1);
    const failed = r.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { object: string; ok: boolean })
      .filter((x) => !x.ok)
      .map((x) => x.object);
    expect(failed).toEqual(["Service/a", "Deployment/b", "ServiceMonitor/c", "Widget/d"]);
  });

  it("passes checkov over every rendered value set, each skipped check justified in charts/checkov-skips.yaml", async () => {
    const skipsFile = join(chartsDir, "checkov-skips.yaml");
    const skips = ((await parseYamlFiles([skipsFile]))[skipsFile]?.[0] ?? []) as Array<{ id: string; reason: string }>;
    for (const s of skips) expect(s.reason?.length ?? 0, `reason for ${s.id}`).toBeGreaterThan(80);
    const renderedDir = dirname(rendered[0]?.file ?? "");
    // run without --skip-check: every finding must be a justified skip, and every skip must still find something
    const r = await run(
      tools.checkov,
      [
        "--directory",
        renderedDir,
        "--framework",
        "kubernetes",
        "--output",
        "json",
        "--quiet",
        "--compact",
        "--skip-download",
      ],
      { timeoutMs: 240_000 },
    );
    const parsed = JSON.parse(r.stdout) as unknown;
    const reports = (Array.isArray(parsed) ? parsed : [parsed]) as Array<{
      summary: { passed: number; failed: number; resource_count: number };
      results?: { failed_checks?: Array<{ check_id: string; resource: string; file_path: string }> };
    }>;
    const findings = reports.flatMap((x) => x.results?.failed_checks ?? []);
    const skipped = new Set(skips.map((s) => s.id));
    const unjustified = findings
      .filter((f) => !skipped.has(f.check_id))
      .map((f) => `${f.check_id} ${f.resource} ${f.file_path}`);
    expect(unjustified, r.stderr).toEqual([]);
    // checkov counts each object (and each container) as a resource: every rendered object was read
    expect(reports.reduce((n, x) => n + x.summary.resource_count, 0)).toBeGreaterThanOrEqual(
      rendered.reduce((n, x) => n + x.objects.length, 0),
    );
    expect(reports.reduce((n, x) => n + x.summary.passed, 0)).toBeGreaterThan(1000);
    const found = new Set(findings.map((f) => f.check_id));
    for (const s of skips) expect(found.has(s.id), `skip ${s.id} matches nothing any more: remove it`).toBe(true);
  }, 240_000);

  it("prints NOTES that tell the operator what to do next", async () => {
    for (const chart of APP_CHARTS) {
      const set = valueSets(dir).find((s) => s.chart === chart && REQUIRED_SETS[chart][0] === s.name);
      if (!set) throw new Error(`no default set for ${chart}`);
      const { release, namespace } = RELEASES[chart];
      const out = await runOk(tools.helm, [
        "install",
        release,
        join(dir, chart),
        "--namespace",
        namespace,
        "--dry-run=client",
        ...set.files.flatMap((f) => ["--values", f]),
      ]);
      const notes = out.slice(out.indexOf("NOTES:"));
      expect(notes, chart).toContain("What to do next");
      expect(notes, chart).toMatch(/kubectl -n \S+ (get jobs|rollout status)/);
      expect(notes, chart).toContain("DATABASE_URL");
    }
  });
});

describe("charts: structure", () => {
  /**
   * Values without a `# --` comment (helm-docs style). A key with a value on its line must have one; a
   * documented map key documents its whole block (quota, resources); an undocumented map key is a
   * group, and then each of its keys needs its own comment. List items are the list's value.
   */
  function undocumentedKeys(file: string): string[] {
    const missing: string[] = [];
    const stack: Array<{ indent: number; key: string; covered: boolean }> = [];
    let documented = false;
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const comment = line.match(/^\s*#\s?(.*)$/);
      if (comment) {
        if (comment[1]?.startsWith("-- ")) documented = true;
        continue;
      }
      if (line.trim() === "") continue;
      const indent = line.length - line.trimStart().length;
      while (stack.length > 0 && (stack.at(-1)?.indent ?? 0) >= indent) stack.pop();
      const covered = stack.some((s) => s.covered);
      const path = (k: string) => [...stack.map((s) => s.key), k].join(".");
      const key = line.match(/^\s*([A-Za-z0-9_.\-/]+):(.*)$/);
      if (key && !line.trimStart().startsWith("- ")) {
        const inline = (key[2] ?? "").trim() !== "";
        if (inline && !covered && !documented) missing.push(path(key[1] as string));
        stack.push({ indent, key: key[1] as string, covered: covered || documented || inline });
      } else {
        // a list is the value of the key above it: that key needs the comment
        const parent = stack.at(-1);
        if (parent && !covered) {
          missing.push(stack.map((s) => s.key).join("."));
          parent.covered = true;
        }
        stack.push({ indent, key: "-", covered: true });
      }
      documented = false;
    }
    return missing;
  }

  it("documents every value with a `# --` comment", () => {
    for (const chart of APP_CHARTS) {
      for (const file of ["values.yaml", "values-eks.yaml", "values-aks.yaml"]) {
        expect(undocumentedKeys(join(chartsDir, chart, file)), `${chart}/${file}`).toEqual([]);
      }
    }
  });

  it("mirrors each component values block in templates/<component>/, and has _helpers.tpl, NOTES.txt, values.schema.json", async () => {
    for (const chart of APP_CHARTS) {
      const base = join(chartsDir, chart);
      for (const f of ["templates/_helpers.tpl", "templates/NOTES.txt", "values.schema.json", "Chart.yaml"])
        expect(existsSync(join(base, f)), `${chart}/${f}`).toBe(true);
      JSON.parse(readFileSync(join(base, "values.schema.json"), "utf8"));
      const values = (await parseYamlFiles([join(base, "values.yaml")]))[join(base, "values.yaml")]?.[0] as Record<
        string,
        Record<string, unknown>
      >;
      const components = Object.entries(values)
        .filter(([, v]) => v && typeof v === "object" && "kind" in v && "port" in v)
        .map(([k]) => k);
      expect(components.length, chart).toBeGreaterThan(0);
      for (const c of components) expect(existsSync(join(base, "templates", c)), `${chart}/templates/${c}/`).toBe(true);
    }
  });

  it("keeps the component defaults of both charts in the same shape", async () => {
    const files = APP_CHARTS.map((c) => join(chartsDir, c, "values.yaml"));
    const parsed = await parseYamlFiles(files);
    const paths = (o: unknown, prefix = ""): string[] =>
      o && typeof o === "object" && !Array.isArray(o)
        ? Object.entries(o).flatMap(([k, v]) => [`${prefix}${k}`, ...paths(v, `${prefix}${k}.`)])
        : [];
    const [a, b] = files.map((f) => paths((parsed[f]?.[0] as { defaults?: unknown } | undefined)?.defaults).sort());
    expect(a).toEqual(b);
  });

  it("reads the plan catalogue through a link to config/plans.yaml in both charts, never a copy of their own", () => {
    for (const chart of APP_CHARTS) {
      const link = join(chartsDir, chart, "files/plans.yaml");
      expect(lstatSync(link).isSymbolicLink(), `${link} must be a symbolic link`).toBe(true);
      expect(realpathSync(link)).toBe(realpathSync(join(repoRoot, "config/plans.yaml")));
    }
    const values = readFileSync(join(chartsDir, "tessera-tenant/values.yaml"), "utf8");
    expect(values, "no plans: block in values.yaml").not.toMatch(/^plans:/m);
  });

  it("ships the catalogue to every service: a ConfigMap per namespace, mounted, TESSERA_PLANS_FILE, rolled on change", () => {
    const text = readFileSync(join(repoRoot, "config/plans.yaml"), "utf8");
    for (const r of rendered) {
      const deployments = r.objects.filter((o) => o.kind === "Deployment");
      for (const d of deployments) {
        const pod = podSpecOf(d)?.spec;
        const volume = pod?.volumes?.find((v) => v.name === "plans") as { configMap?: { name: string } } | undefined;
        const map = r.objects.find(
          (o) =>
            o.kind === "ConfigMap" &&
            o.metadata.name === volume?.configMap?.name &&
            o.metadata.namespace === d.metadata.namespace,
        );
        expect((map?.data as Record<string, string> | undefined)?.["plans.yaml"], ref(r, d)).toBe(text);
        const container = pod?.containers[0] as Container;
        expect(envValue(container, "TESSERA_PLANS_FILE"), ref(r, d)).toBe("/etc/tessera/plans/plans.yaml");
        expect((container as Container & { volumeMounts?: unknown[] }).volumeMounts).toContainEqual({
          name: "plans",
          mountPath: "/etc/tessera/plans",
          readOnly: true,
        });
        expect(d.spec.template.metadata.annotations?.["checksum/plans"], ref(r, d)).toMatch(/^[0-9a-f]{64}$/);
      }
    }
  });

  it("sizes a tenant from its plan in the catalogue: quota (storage = the storage quota), limits, replicas and HPA bounds", async () => {
    const silo = valueSets(dir).find((s) => s.chart === "tessera-tenant" && s.name === "silo");
    if (!silo) throw new Error("no tessera-tenant/ci/silo-values.yaml");
    for (const plan of PLANS) {
      const objects = await renderObjects(silo, ["--set", `tenant.plan=${plan.id}`]);
      const { kubernetes: k, quotas } = plan;
      const storage =
        quotas.storageBytes === UNLIMITED
          ? {}
          : {
              "requests.storage":
                quotas.storageBytes % 1024 ** 3 === 0
                  ? `${quotas.storageBytes / 1024 ** 3}Gi`
                  : `${quotas.storageBytes}`,
            };
      expect(objects.find((o) => o.kind === "ResourceQuota")?.spec.hard, plan.id).toEqual({
        ...k.resourceQuota,
        ...storage,
      });
      expect(objects.find((o) => o.kind === "LimitRange")?.spec.limits[0]).toEqual({
        type: "Container",
        ...k.limitRange,
      });
      const hpa = objects.find((o) => o.kind === "HorizontalPodAutoscaler");
      expect([hpa?.spec.minReplicas, hpa?.spec.maxReplicas], plan.id).toEqual([
        k.autoscaling.minReplicas,
        k.autoscaling.maxReplicas,
      ]);
      const fixed = await renderObjects(silo, [
        "--set",
        `tenant.plan=${plan.id}`,
        "--set",
        "projects.autoscaling.enabled=false",
      ]);
      expect(fixed.find((o) => o.kind === "Deployment")?.spec.replicas, plan.id).toBe(k.replicas);
    }
    const unknown = await run(tools.helm, [
      "template",
      "t",
      join(dir, "tessera-tenant"),
      ...silo.files.flatMap((f) => ["--values", f]),
      "--set",
      "tenant.plan=platinum",
    ]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('tenant.plan "platinum" is not a plan of config/plans.yaml');
  });

  it("follows a change of the catalogue file: a value changed in a copy changes the rendered quota", async () => {
    const silo = valueSets(dir).find((s) => s.chart === "tessera-tenant" && s.name === "silo");
    if (!silo) throw new Error("no tessera-tenant/ci/silo-values.yaml");
    const copy = join(dirname(dir), "changed-catalogue");
    cpSync(dir, copy, { recursive: true });
    const file = join(copy, "tessera-tenant/files/plans.yaml");
    const text = readFileSync(join(repoRoot, "config/plans.yaml"), "utf8");
    const team = getPlan("team");
    const changed = text
      .replace(`storageBytes: ${team.quotas.storageBytes}`, "storageBytes: 7516192768")
      .replace(/(- id: team[\s\S]*?pods: )"\d+"/, '$1"7"');
    expect(changed).not.toBe(text);
    rmSync(file);
    writeFileSync(file, changed);
    const objects = await renderObjects(silo, ["--set", "tenant.plan=team"], copy);
    const hard = objects.find((o) => o.kind === "ResourceQuota")?.spec.hard;
    expect(hard?.pods).toBe("7");
    expect(hard?.["requests.storage"]).toBe("7Gi");
    const original = await renderObjects(silo, ["--set", "tenant.plan=team"]);
    expect(original.find((o) => o.kind === "ResourceQuota")?.spec.hard.pods).toBe(team.kubernetes.resourceQuota.pods);
  });
});

let renders = 0;
/** Renders one value set (of the prepared charts, or of `charts`) with extra flags, as objects. */
async function renderObjects(set: ValueSet, extra: string[], charts: string = dir): Promise<K8sObject[]> {
  renders += 1;
  const file = join(dirname(dir), `extra-render-${renders}.yaml`);
  writeFileSync(file, await template(charts, set, extra));
  return ((await parseYamlFiles([file]))[file] ?? []) as K8sObject[];
}

describe("charts: policies over every rendered object", () => {
  it("labels every object (and pod template) with app.kubernetes.io/*, tessera.io/tenant and tessera.io/tier", () => {
    const required = [
      "app.kubernetes.io/name",
      "app.kubernetes.io/instance",
      "app.kubernetes.io/version",
      "app.kubernetes.io/component",
      "app.kubernetes.io/part-of",
      "app.kubernetes.io/managed-by",
      "tessera.io/tenant",
      "tessera.io/tier",
    ];
    for (const r of rendered) {
      for (const o of r.objects) {
        for (const label of required) expect(o.metadata.labels?.[label], `${ref(r, o)} ${label}`).toBeTruthy();
        const pod = podSpecOf(o);
        if (pod) for (const label of required) expect(pod.labels[label], `${ref(r, o)} pods ${label}`).toBeTruthy();
      }
      const tenantIds = new Set(r.objects.map((o) => o.metadata.labels?.["tessera.io/tenant"]));
      if (r.chart === "tessera-tenant") {
        expect([...tenantIds]).toHaveLength(1);
        expect([...tenantIds][0]).toMatch(/^[0-9a-f-]{36}$/);
        expect(new Set(r.objects.map((o) => o.metadata.labels?.["tessera.io/tier"]))).toEqual(new Set(["silo"]));
      }
    }
  });

  it("puts every namespaced object in an explicit namespace", () => {
    for (const r of rendered)
      for (const o of r.objects) if (o.kind !== "Namespace") expect(o.metadata.namespace, ref(r, o)).toBeTruthy();
  });

  it('meets Pod Security "restricted" in every pod spec', () => {
    for (const r of rendered) {
      for (const o of r.objects) {
        const pod = podSpecOf(o);
        if (!pod) continue;
        const { spec } = pod;
        const where = ref(r, o);
        expect(spec.hostNetwork ?? false, where).toBe(false);
        expect(spec.hostPID ?? false, where).toBe(false);
        expect(spec.hostIPC ?? false, where).toBe(false);
        expect(spec.automountServiceAccountToken, where).toBe(false);
        for (const v of spec.volumes ?? []) {
          const source = Object.keys(v).filter((k) => k !== "name");
          expect(
            source.every((s) => RESTRICTED_VOLUMES.has(s)),
            `${where} volume ${v.name}`,
          ).toBe(true);
        }
        for (const c of containersOf(spec)) {
          const sc = c.securityContext ?? {};
          const cw = `${where} container ${c.name}`;
          expect(sc.allowPrivilegeEscalation, cw).toBe(false);
          expect(sc.privileged ?? false, cw).toBe(false);
          expect(sc.readOnlyRootFilesystem, cw).toBe(true);
          expect(sc.runAsNonRoot ?? spec.securityContext?.runAsNonRoot, cw).toBe(true);
          expect(sc.runAsUser ?? spec.securityContext?.runAsUser, cw).toBeGreaterThan(0);
          expect(sc.capabilities?.drop, cw).toContain("ALL");
          expect(
            (sc.capabilities?.add ?? []).every((cap) => cap === "NET_BIND_SERVICE"),
            cw,
          ).toBe(true);
          expect(["RuntimeDefault", "Localhost"], cw).toContain(
            sc.seccompProfile?.type ?? spec.securityContext?.seccompProfile?.type,
          );
          expect(c.ports?.every((p) => p.hostPort === undefined) ?? true, cw).toBe(true);
          expect(sc.procMount ?? "Default", cw).toBe("Default");
        }
      }
    }
  });

  it("sets requests and limits (cpu, memory) on every container", () => {
    for (const r of rendered)
      for (const o of r.objects) {
        const pod = podSpecOf(o);
        for (const c of pod ? containersOf(pod.spec) : []) {
          for (const kind of ["requests", "limits"] as const)
            for (const res of ["cpu", "memory"])
              expect(c.resources?.[kind]?.[res], `${ref(r, o)} ${c.name} ${kind}.${res}`).toBeTruthy();
        }
      }
  });

  it("gives every namespace a workload runs in a ResourceQuota and LimitRange (tenant and pool namespaces) and a default-deny NetworkPolicy", () => {
    for (const r of rendered) {
      const workloadNamespaces = new Set(r.objects.filter((o) => podSpecOf(o)).map((o) => o.metadata.namespace));
      const guarded = new Set(
        r.objects.filter((o) => o.kind === "ResourceQuota").map((o) => o.metadata.namespace as string),
      );
      const tenantNamespaces =
        r.chart === "tessera-tenant"
          ? [...new Set(r.objects.map((o) => o.metadata.namespace ?? o.metadata.name))]
          : [r.objects.find((o) => o.kind === "ResourceQuota")?.metadata.namespace];
      for (const ns of tenantNamespaces) {
        expect(guarded.has(ns as string), `${r.chart}/${r.name}: quota in ${ns}`).toBe(true);
        expect(
          r.objects.some((o) => o.kind === "LimitRange" && o.metadata.namespace === ns),
          `${r.chart}/${r.name}: LimitRange in ${ns}`,
        ).toBe(true);
      }
      for (const ns of new Set([...workloadNamespaces, ...tenantNamespaces])) {
        const deny = r.objects.find(
          (o) =>
            o.kind === "NetworkPolicy" &&
            o.metadata.namespace === ns &&
            Object.keys(o.spec.podSelector ?? {}).length === 0 &&
            [...(o.spec.policyTypes ?? [])].sort().join() === "Egress,Ingress" &&
            !o.spec.ingress &&
            !o.spec.egress,
        );
        expect(deny, `${r.chart}/${r.name}: default-deny in ${ns}`).toBeDefined();
      }
    }
  });

  it("allows a silo tenant's pods exactly: ingress from the gateways; egress to DNS, PostgreSQL, NATS, identity and tenancy", () => {
    const objects = objectsOf("tessera-tenant", "silo");
    const policies = objects.filter((o) => o.kind === "NetworkPolicy");
    const egress = policies.filter((p) => p.spec.policyTypes.includes("Egress") && p.spec.egress);
    expect(egress.map((p) => p.metadata.name).sort()).toEqual([
      "allow-egress-dns",
      "allow-egress-identity",
      "allow-egress-nats",
      "allow-egress-postgres",
      "allow-egress-tenancy",
    ]);
    const identity = egress.find((p) => p.metadata.name === "allow-egress-identity");
    expect(identity?.spec.egress[0].to[0].podSelector.matchLabels["app.kubernetes.io/name"]).toBe("identity");
    const tenancy = egress.find((p) => p.metadata.name === "allow-egress-tenancy");
    expect(tenancy?.spec.egress[0].to[0].podSelector.matchLabels["app.kubernetes.io/name"]).toBe("tenancy");
    expect(tenancy?.spec.egress[0].ports).toEqual([{ port: 50061, protocol: "TCP" }]);
    for (const d of objects.filter((o) => o.kind === "Deployment")) {
      const ingress = policies.filter(
        (p) => p.spec.ingress && p.spec.podSelector.matchLabels?.["app.kubernetes.io/name"] === d.metadata.name,
      );
      expect(ingress, d.metadata.name).toHaveLength(1);
      const from = ingress[0]?.spec.ingress.flatMap((rule: { from: unknown[] }) => rule.from);
      expect(from).toEqual([
        {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "tessera-system" } },
          podSelector: { matchLabels: { "app.kubernetes.io/part-of": "tessera", "tessera.io/role": "gateway" } },
        },
      ]);
    }
  });

  it("probes services over gRPC health (liveness, readiness) on the serving port; drain fits the termination grace period", () => {
    for (const r of rendered) {
      for (const d of r.objects.filter((o) => o.kind === "Deployment")) {
        const pod = podSpecOf(d);
        if (!pod) throw new Error("no pod spec");
        const c = pod.spec.containers[0];
        if (!c) throw new Error("no container");
        const where = ref(r, d);
        const port = Number(envValue(c, "PORT"));
        const gateway = pod.labels["tessera.io/role"] === "gateway";
        if (gateway) {
          expect(c.readinessProbe.httpGet.path, where).toBe("/healthz");
        } else {
          expect(c.ports?.find((p) => p.name === "grpc")?.containerPort, where).toBe(port);
          expect(c.livenessProbe.grpc, where).toEqual({ port, service: "liveness" });
          expect(c.readinessProbe.grpc, where).toEqual({ port, service: "readiness" });
          expect(c.startupProbe.grpc, where).toEqual({ port, service: "liveness" });
        }
        expect(c.ports?.find((p) => p.name === "metrics")?.containerPort, where).toBe(
          Number(envValue(c, "METRICS_PORT")),
        );
        const preStop = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
        const grace = Number(envValue(c, "SHUTDOWN_GRACE_MS")) / 1000;
        expect(preStop, where).toBeGreaterThan(0);
        expect(pod.spec.terminationGracePeriodSeconds ?? 30, where).toBeGreaterThan(preStop + grace);
      }
    }
  });

  it("runs migrations as pre-install/pre-upgrade hook Jobs that start after what they need", () => {
    for (const r of rendered) {
      // identity's seed Job (post-install) is the other hook Job
      const jobs = r.objects.filter(
        (o) => o.kind === "Job" && o.metadata.labels?.["app.kubernetes.io/component"] === "migration",
      );
      const deployments = r.objects.filter(
        (o) =>
          o.kind === "Deployment" &&
          o.spec.template.spec.containers[0].env.some((e: { name: string }) => e.name === "DATABASE_URL"),
      );
      expect(jobs.length, `${r.chart}/${r.name}`).toBe(deployments.length);
      for (const job of jobs) {
        expect(job.metadata.annotations?.["helm.sh/hook"], ref(r, job)).toBe("pre-install,pre-upgrade");
        const weight = Number(job.metadata.annotations?.["helm.sh/hook-weight"]);
        const c = job.spec.template.spec.containers[0];
        expect(c.command, ref(r, job)).toEqual(["node", "src/migrate.ts"]);
        expect(c.env.map((e: { name: string }) => e.name).sort()).toEqual([
          "DATABASE_APP_ROLE",
          "LOG_LEVEL",
          "MIGRATION_DATABASE_URL",
        ]);
        const sa = r.objects.find(
          (o) => o.kind === "ServiceAccount" && o.metadata.name === job.spec.template.spec.serviceAccountName,
        );
        expect(sa && isHook(sa) && Number(sa.metadata.annotations?.["helm.sh/hook-weight"]) < weight, ref(r, job)).toBe(
          true,
        );
        const ns = r.objects.find((o) => o.kind === "Namespace" && o.metadata.name === job.metadata.namespace);
        if (ns) expect(Number(ns.metadata.annotations?.["helm.sh/hook-weight"])).toBeLessThan(weight);
      }
    }
  });

  it("references secrets only (no Secret objects, no envFrom); with External Secrets each referenced key is synced before the Job", () => {
    for (const r of rendered) {
      expect(
        r.objects.filter((o) => o.kind === "Secret").map((o) => o.metadata.name),
        `${r.chart}/${r.name}`,
      ).toEqual([]);
      const externals = r.objects.filter((o) => o.kind === "ExternalSecret");
      for (const o of r.objects) {
        const pod = podSpecOf(o);
        for (const c of pod ? containersOf(pod.spec) : []) {
          expect(c.envFrom, ref(r, o)).toBeUndefined();
          for (const e of c.env ?? []) {
            if (e.value === undefined) expect(e.valueFrom?.secretKeyRef, `${ref(r, o)} ${e.name}`).toBeDefined();
            expect(e.value ?? "", `${ref(r, o)} ${e.name}`).not.toMatch(/:\/\/[^/\s:]+:[^@\s]+@/);
            const sk = e.valueFrom?.secretKeyRef;
            if (sk && externals.length > 0) {
              const es = externals.find(
                (x) => x.metadata.namespace === o.metadata.namespace && x.spec.target.name === sk.name,
              );
              expect(es, `${ref(r, o)}: ExternalSecret for ${sk.name}`).toBeDefined();
              expect(es?.spec.data.map((d: { secretKey: string }) => d.secretKey)).toContain(sk.key);
              expect(Number(es?.metadata.annotations?.["helm.sh/hook-weight"])).toBeLessThan(-5);
            }
          }
        }
      }
    }
    const es = objectsOf("tessera-platform", "external-secrets");
    expect(es.filter((o) => o.kind === "ExternalSecret").length).toBe(es.filter((o) => o.kind === "Deployment").length);
  });

  it("gives every service its own NATS credential", () => {
    for (const r of rendered) {
      const natsSecrets = r.objects
        .filter((o) => o.kind === "Deployment")
        .map((d) => d.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === "NATS_URL"))
        .filter(Boolean)
        .map((e) => `${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`);
      expect(new Set(natsSecrets).size, `${r.chart}/${r.name}`).toBe(natsSecrets.length);
    }
  });

  it("has a PodDisruptionBudget for every Deployment, and (silo) an HPA in charge of its replicas", () => {
    for (const r of rendered) {
      const required = REQUIRED_SETS[r.chart].includes(r.name);
      for (const d of r.objects.filter((o) => o.kind === "Deployment")) {
        const selects = (o: K8sObject) =>
          o.metadata.namespace === d.metadata.namespace &&
          JSON.stringify(o.spec.selector?.matchLabels) === JSON.stringify(d.spec.selector.matchLabels);
        const hpa = r.objects.find(
          (o) => o.kind === "HorizontalPodAutoscaler" && o.spec.scaleTargetRef.name === d.metadata.name,
        );
        if (hpa) expect(d.spec.replicas, `${ref(r, d)}: replicas left to the HPA`).toBeUndefined();
        if (!required) continue;
        expect(
          r.objects.find((o) => o.kind === "PodDisruptionBudget" && selects(o)),
          ref(r, d),
        ).toBeDefined();
        if (r.chart === "tessera-tenant") expect(hpa, ref(r, d)).toBeDefined();
      }
    }
  });

  it("ships ServiceMonitors and the P95 / error-rate / NATS alerts when the Prometheus operator is on", () => {
    for (const chart of APP_CHARTS) {
      const objects = objectsOf(chart, "monitoring");
      const deployments = objects.filter((o) => o.kind === "Deployment");
      for (const d of deployments) {
        const sm = objects.find((o) => o.kind === "ServiceMonitor" && o.metadata.name === d.metadata.name);
        expect(sm?.spec.endpoints[0].port, `${chart}: ServiceMonitor of ${d.metadata.name}`).toBe("metrics");
        const svc = objects.find((o) => o.kind === "Service" && o.metadata.name === d.metadata.name);
        expect(svc?.spec.ports.some((p: { name: string }) => p.name === "metrics")).toBe(true);
      }
      const rules = objects
        .filter((o) => o.kind === "PrometheusRule")
        .flatMap((o) => o.spec.groups.flatMap((g: { rules: unknown[] }) => g.rules)) as Array<{
        alert: string;
        expr: string;
        labels: Record<string, string>;
      }>;
      const alerts = new Set(rules.map((x) => x.alert));
      expect(alerts).toContain("TesseraEndpointLatencyAboveSLO");
      expect(alerts).toContain("TesseraEndpointErrorRateHigh");
      expect(alerts).toContain("TesseraEndpointErrorRateCritical");
      const p95 = rules.filter((x) => x.alert.endsWith("LatencyAboveSLO"));
      expect(p95.every((x) => x.expr.includes("histogram_quantile(0.95"))).toBe(true);
      expect(
        rules
          .filter((x) => x.alert === "TesseraEndpointLatencyAboveSLO")
          .every((x) => x.expr.includes("rpc_server_duration_bucket")),
      ).toBe(true);
      // server-side faults only, over the window, on endpoints with enough traffic
      expect(rules.find((x) => x.alert === "TesseraEndpointErrorRateHigh")?.expr).toMatch(
        /rpc_server_errors_total\{[^}]*rpc_response_status_code=~"UNKNOWN\|DEADLINE_EXCEEDED\|UNIMPLEMENTED\|INTERNAL\|UNAVAILABLE\|DATA_LOSS"\}\[5m\][\s\S]*rpc_server_requests_total[\s\S]*> 0\.01\s+and on[\s\S]*> 0\.05\s*$/,
      );
      expect(rules.find((x) => x.alert === "TesseraEndpointErrorRateCritical")?.expr).toMatch(/\) > 0\.05\s+and on/);
      for (const d of deployments)
        expect(
          p95.some((x) => x.expr.includes(`job="${d.metadata.name}"`)),
          `${chart}: P95 alert of ${d.metadata.name}`,
        ).toBe(true);
      if (chart === "tessera-platform") {
        for (const name of [
          "TesseraGraphQLOperationLatencyAboveSLO",
          "TesseraGraphQLOperationErrorRateHigh",
          "TesseraGraphQLOperationErrorRateCritical",
          "TesseraRestRouteLatencyAboveSLO",
          "TesseraRestRouteErrorRateHigh",
          "TesseraRestRouteErrorRateCritical",
          "TesseraConsumerLagHigh",
          "TesseraConsumerStalled",
          "TesseraDeadLettersGrowing",
        ])
          expect(alerts).toContain(name);
        // per-endpoint SLO from values: its own rule, and excluded from the component's default rule
        const create = p95.find((x) => x.expr.includes('rpc_method="CreateTenant"') && x.expr.includes("> 2"));
        expect(create).toBeDefined();
        expect(p95.some((x) => x.expr.includes("unless on (rpc_service, rpc_method)"))).toBe(true);
        // per-route SLO of the REST edge, and the GraphQL gateway's own default
        expect(p95.some((x) => x.expr.includes('route="/v1/audit-events/export"') && /> 5\s*$/.test(x.expr))).toBe(
          true,
        );
        expect(
          p95.some((x) => x.expr.includes("graphql_operation_duration_seconds_bucket") && /> 1\s*$/.test(x.expr)),
        ).toBe(true);
      }
    }
    for (const r of rendered.filter((x) => x.name !== "monitoring"))
      expect(r.objects.some((o) => o.apiVersion.startsWith("monitoring.coreos.com/"))).toBe(false);
  });

  it("applies the cloud profiles: IRSA, ALB and gp3 on EKS; workload identity, application routing and managed-csi on AKS", () => {
    for (const chart of APP_CHARTS) {
      const eks = objectsOf(chart, "eks");
      const aks = objectsOf(chart, "aks");
      for (const sa of eks.filter((o) => o.kind === "ServiceAccount" && !isHook(o)))
        expect(sa.metadata.annotations?.["eks.amazonaws.com/role-arn"], `${chart} ${sa.metadata.name}`).toMatch(
          /^arn:aws:iam::\d{12}:role\//,
        );
      for (const sa of aks.filter((o) => o.kind === "ServiceAccount" && !isHook(o)))
        expect(
          sa.metadata.annotations?.["azure.workload.identity/client-id"],
          `${chart} ${sa.metadata.name}`,
        ).toBeTruthy();
      for (const o of aks) {
        const pod = podSpecOf(o);
        if (pod) expect(pod.labels["azure.workload.identity/use"], `${chart} ${o.metadata.name}`).toBe("true");
      }
      const quota = (objects: K8sObject[]) =>
        Object.keys(objects.find((o) => o.kind === "ResourceQuota")?.spec.hard ?? {}).join(" ");
      expect(quota(eks)).toContain("gp3.storageclass.storage.k8s.io/requests.storage");
      expect(quota(aks)).toContain("managed-csi.storageclass.storage.k8s.io/requests.storage");
      // the same templates: the two clouds render the same kinds of objects
      const kinds = (objects: K8sObject[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
      expect(kinds(eks)).toEqual(kinds(aks));
    }
    const ingressClass = (set: string) =>
      objectsOf("tessera-platform", set)
        .filter((o) => o.kind === "Ingress")
        .map((o) => o.spec.ingressClassName);
    // the two gateways' and identity's SCIM Ingress
    expect(ingressClass("eks")).toEqual(["alb", "alb", "alb"]);
    expect(ingressClass("aks")).toEqual(Array(3).fill("webapprouting.kubernetes.azure.com"));
  });

  it("points a silo tenant's services at the platform's identity (issuer, JWKS, ports) by default", () => {
    const platform = objectsOf("tessera-platform", "pool-default");
    const tenant = objectsOf("tessera-tenant", "silo");
    const envOf = (objects: K8sObject[], name: string) =>
      objects.find((o) => o.kind === "Deployment" && o.metadata.labels?.["app.kubernetes.io/name"] === name)?.spec
        .template.spec.containers[0];
    const identity = envOf(platform, "identity");
    const projects = envOf(tenant, "projects");
    for (const v of ["AUTH_ISSUER", "AUTH_JWKS_URL"]) expect(envValue(projects, v), v).toBe(envValue(identity, v));
    const jwks = new URL(envValue(identity, "AUTH_JWKS_URL") ?? "");
    expect(jwks.hostname.split(".")[0]).toBe(
      platform.find((o) => o.kind === "Deployment" && o.metadata.labels?.["app.kubernetes.io/name"] === "identity")
        ?.metadata.name,
    );
    const identityPorts = (identity?.ports ?? [])
      .filter((p: { name: string }) => p.name !== "metrics")
      .map((p: { containerPort: number }) => p.containerPort)
      .sort();
    const allowed = tenant
      .find((o) => o.metadata.name === "allow-egress-identity")
      ?.spec.egress[0].ports.map((p: { port: number }) => p.port)
      .sort();
    expect(allowed).toEqual(identityPorts);
  });

  it("pins images by digest when one is given", async () => {
    const set = valueSets(dir).find((s) => s.chart === "tessera-platform" && s.name === "pool-default");
    if (!set) throw new Error("no pool-default set");
    const digest = `sha256:${"a".repeat(64)}`;
    const out = await template(dir, set, ["--set", `tenancy.image.digest=${digest}`]);
    expect(out).toContain(`image: "ghcr.io/tessera-dev/tenancy:0.1.0@${digest}"`);
  });
});

describe("charts: every value set parses as the same file the tests render", () => {
  it("renders the ci value sets from the repository's own charts folder", () => {
    const repoSets = valueSets().map((s) => `${s.chart}/${s.name}`);
    expect(rendered.map((r) => `${r.chart}/${r.name}`)).toEqual(repoSets);
  });
});

/** A rule of a Role or ClusterRole. */
interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** API group and resource (plural) of each kind the tenant chart may render; a new kind must be added here. */
const RESOURCE_OF: Record<string, string> = {
  Namespace: "namespaces",
  ServiceAccount: "serviceaccounts",
  Service: "services",
  ConfigMap: "configmaps",
  Secret: "secrets",
  ResourceQuota: "resourcequotas",
  LimitRange: "limitranges",
  Deployment: "deployments",
  Job: "jobs",
  HorizontalPodAutoscaler: "horizontalpodautoscalers",
  PodDisruptionBudget: "poddisruptionbudgets",
  NetworkPolicy: "networkpolicies",
  Ingress: "ingresses",
  Role: "roles",
  RoleBinding: "rolebindings",
  ServiceMonitor: "servicemonitors",
  PrometheusRule: "prometheusrules",
  ExternalSecret: "externalsecrets",
};
/** `<group>/<resource>` of an object ("" is the core group). */
function resourceOf(o: K8sObject): string {
  const plural = RESOURCE_OF[o.kind];
  if (!plural)
    throw new Error(`the tenant chart renders ${o.kind}: add it to RESOURCE_OF (and to tenancy's ClusterRole)`);
  return `${o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : ""}/${plural}`;
}
/** `<group>/<resource>` → verbs, of a role's rules. */
function grants(role: K8sObject | undefined): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const rule of (role?.rules ?? []) as PolicyRule[])
    for (const g of rule.apiGroups ?? [])
      for (const r of rule.resources ?? []) {
        const key = `${g}/${r}`;
        out.set(key, new Set([...(out.get(key) ?? []), ...rule.verbs]));
      }
  return out;
}
/** What helm needs of every kind it installs, upgrades (server-side apply), rolls back, waits for and uninstalls. */
const HELM_VERBS = ["get", "list", "watch", "create", "patch", "delete"];
const RBAC_KINDS = new Set([
  "Role",
  "RoleBinding",
  "ClusterRole",
  "ClusterRoleBinding",
  "ValidatingAdmissionPolicy",
  "ValidatingAdmissionPolicyBinding",
]);

function deepMerged(values: unknown[]): Record<string, unknown> {
  const merge = (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> => {
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) {
      const cur = out[k];
      out[k] =
        v && typeof v === "object" && !Array.isArray(v) && cur && typeof cur === "object" && !Array.isArray(cur)
          ? merge(cur as Record<string, unknown>, v as Record<string, unknown>)
          : v;
    }
    return out;
  };
  return values.reduce<Record<string, unknown>>((acc, v) => merge(acc, (v ?? {}) as Record<string, unknown>), {});
}

describe("charts: tenancy's helm compute driver (tenancy.compute.driver=helm)", () => {
  const tenancyOf = (objects: K8sObject[]) => {
    const d = objects.find((o) => o.kind === "Deployment" && o.metadata.name === "tessera-tenancy");
    if (!d) throw new Error("no tenancy Deployment");
    return d;
  };
  const tokenVolumes = (o: K8sObject) =>
    (podSpecOf(o)?.spec.volumes ?? []).filter((v) =>
      (v.projected?.sources ?? []).some((s: Record<string, unknown>) => "serviceAccountToken" in s),
    );

  it("renders tenancy's Kubernetes access only with the helm driver, and then binds it to tenancy's ServiceAccount alone", () => {
    const platformSets = rendered.filter((r) => r.chart === "tessera-platform");
    expect(platformSets.length).toBeGreaterThan(0);
    for (const r of platformSets) {
      expect(
        r.objects.filter((o) => RBAC_KINDS.has(o.kind)).map((o) => o.kind),
        r.name,
      ).toEqual([]);
      const tenancy = tenancyOf(r.objects);
      expect(envValue(podSpecOf(tenancy)?.spec.containers[0] as Container, "TENANCY_COMPUTE_DRIVER"), r.name).toBe(
        undefined,
      );
      expect(tokenVolumes(tenancy), r.name).toEqual([]);
    }

    const objects = helmCompute.objects;
    const kinds = objects.filter((o) => RBAC_KINDS.has(o.kind)).map((o) => `${o.kind}/${o.metadata.namespace ?? ""}`);
    expect(kinds.sort()).toEqual(
      [
        "ClusterRole/",
        "ClusterRoleBinding/",
        "Role/tessera-tenants",
        "RoleBinding/tessera-tenants",
        "ValidatingAdmissionPolicy/",
        "ValidatingAdmissionPolicyBinding/",
      ].sort(),
    );
    const tenancySa = [{ kind: "ServiceAccount", name: "tessera-tenancy", namespace: "tessera-system" }];
    for (const b of objects.filter((o) => o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding")) {
      expect(b.subjects, b.metadata.name).toEqual(tenancySa);
      const roleRef = b.roleRef as { kind: string; name: string };
      const role = objects.find((o) => o.kind === roleRef.kind && o.metadata.name === roleRef.name);
      expect(role, `${b.kind} ${b.metadata.name} binds a rendered ${roleRef.kind}`).toBeDefined();
    }
    expect(
      objects.filter((o) => o.kind === "ServiceAccount" && o.metadata.name === "tessera-tenancy"),
      "tenancy's ServiceAccount",
    ).toHaveLength(1);
    const releases = objects.find((o) => o.kind === "Namespace" && o.metadata.name === "tessera-tenants");
    expect(releases?.metadata.annotations?.["helm.sh/resource-policy"], "release records survive uninstall").toBe(
      "keep",
    );
    // the policy names tenancy's ServiceAccount
    const vap = objects.find((o) => o.kind === "ValidatingAdmissionPolicy");
    expect(vap?.spec.matchConditions[0].expression).toBe(
      'request.userInfo.username == "system:serviceaccount:tessera-system:tessera-tenancy"',
    );
  });

  it("gives tenancy's container (and no other) a token, the driver's environment and the tenant values; the image has what it names", () => {
    const objects = helmCompute.objects;
    const tenancy = tenancyOf(objects);
    const pod = podSpecOf(tenancy)?.spec;
    const c = pod?.containers[0] as Container;
    expect(pod?.automountServiceAccountToken).toBe(false);
    expect(tokenVolumes(tenancy).map((v) => v.name)).toEqual(["kube-api-access"]);
    const mounts = (c as Container & { volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }> })
      .volumeMounts;
    expect(mounts.find((m) => m.name === "kube-api-access")).toEqual({
      name: "kube-api-access",
      mountPath: "/var/run/secrets/kubernetes.io/serviceaccount",
      readOnly: true,
    });
    const others = objects.filter((o) => podSpecOf(o) && o !== tenancy);
    expect(others.length).toBeGreaterThan(3);
    for (const o of others) expect(tokenVolumes(o), `${o.kind}/${o.metadata.name}`).toEqual([]);

    expect(envValue(c, "TENANCY_COMPUTE_DRIVER")).toBe("helm");
    expect(envValue(c, "TENANCY_HELM_NAMESPACE")).toBe("tessera-tenants");
    const valuesFile = envValue(c, "TENANCY_TENANT_CHART_VALUES") ?? "";
    const valuesMount = mounts.find((m) => valuesFile.startsWith(`${m.mountPath}/`));
    const volume = pod?.volumes?.find((v) => v.name === valuesMount?.name);
    const configMap = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === volume?.configMap?.name);
    expect(configMap?.metadata.namespace).toBe(tenancy.metadata.namespace);
    expect(Object.keys((configMap?.data ?? {}) as object)).toEqual([valuesFile.split("/").pop()]);
    // the image carries helm and the tenant chart where the values say
    const dockerfile = readFileSync(join(repoRoot, "services/tenancy/Dockerfile"), "utf8");
    for (const v of ["TENANCY_TENANT_CHART", "TENANCY_HELM_BIN"]) {
      const path = envValue(c, v) ?? "";
      expect(path, v).toMatch(/^\//);
      expect(dockerfile, `services/tenancy/Dockerfile puts ${v} (${path}) in the image`).toMatch(
        new RegExp(`^COPY --from=\\S+ \\S+ ${path.replace(/[.]/g, "\\.")}$`, "m"),
      );
    }
    // tenancy reaches the API server, and only tenancy
    const egress = objects.find(
      (o) =>
        o.kind === "NetworkPolicy" &&
        o.spec.podSelector?.matchLabels?.["app.kubernetes.io/name"] === "tenancy" &&
        (o.spec.policyTypes ?? []).includes("Egress"),
    );
    expect(egress?.spec.egress[0].ports.map((p: { port: number }) => p.port)).toEqual([443, 6443]);
  });

  it("grants no wildcard, no Secrets outside helm's release namespace, no RBAC, no escalation", () => {
    const roles = helmCompute.objects.filter((o) => o.kind === "Role" || o.kind === "ClusterRole");
    expect(roles.map((o) => o.kind).sort()).toEqual(["ClusterRole", "Role"]);
    const problems: string[] = [];
    for (const role of roles) {
      const rules = (role.rules ?? []) as PolicyRule[];
      expect(rules.length, role.kind).toBeGreaterThan(0);
      for (const rule of rules) {
        const where = `${role.kind} ${JSON.stringify(rule)}`;
        const all = [
          ...(rule.apiGroups ?? []),
          ...(rule.resources ?? []),
          ...rule.verbs,
          ...(rule.resourceNames ?? []),
        ];
        if (all.some((x) => x.includes("*"))) problems.push(`${where}: wildcard`);
        if (rule.verbs.some((v) => ["escalate", "bind", "impersonate", "deletecollection"].includes(v)))
          problems.push(`${where}: escalation or bulk verb`);
        if ((rule.resources ?? []).some((r) => r.includes("/"))) problems.push(`${where}: a subresource`);
        if (
          (rule.apiGroups ?? []).some((g) =>
            [
              "rbac.authorization.k8s.io",
              "admissionregistration.k8s.io",
              "apiextensions.k8s.io",
              "certificates.k8s.io",
            ].includes(g),
          )
        )
          problems.push(`${where}: access control or API objects`);
        if (role.kind === "ClusterRole" && (rule.resources ?? []).some((r) => ["secrets", "pods", "nodes"].includes(r)))
          problems.push(`${where}: secrets, pods or nodes cluster-wide`);
      }
    }
    expect(problems).toEqual([]);
    const role = roles.find((o) => o.kind === "Role");
    expect([...grants(role).keys()]).toEqual(["/secrets"]);
    expect(role?.metadata.namespace).toBe("tessera-tenants");
  });

  it("grants exactly the kinds the tenant chart renders with each of its value sets (optional kinds only when turned on)", async () => {
    const tenantSets = rendered.filter((r) => r.chart === "tessera-tenant");
    expect(tenantSets.length).toBeGreaterThan(3);
    const parsed = await parseYamlFiles(tenantSets.flatMap((r) => r.files));
    const everRendered = new Set(tenantSets.flatMap((r) => r.objects.map(resourceOf)));
    const problems: string[] = [];
    for (const r of tenantSets) {
      const values = deepMerged(r.files.map((f) => parsed[f]?.[0]));
      const file = join(dirname(dir), `helm-compute-${r.name}-values.yaml`);
      writeFileSync(file, JSON.stringify({ tenancy: { compute: { tenantValues: values } } }));
      const { objects } = await renderHelmCompute(join(dirname(dir), `helm-compute-${r.name}.yaml`), [
        "--values",
        file,
      ]);
      const granted = grants(objects.find((o) => o.kind === "ClusterRole"));
      const kinds = new Set(r.objects.map(resourceOf));
      expect(kinds.size, r.name).toBeGreaterThan(5);
      for (const k of kinds) {
        const verbs = granted.get(k) ?? new Set();
        const missing = HELM_VERBS.filter((v) => !verbs.has(v));
        if (missing.length > 0) problems.push(`${r.name}: renders ${k}, tenancy may not ${missing.join(", ")} it`);
      }
      for (const [k, verbs] of granted) {
        if (!verbs.has("create")) continue;
        if (!everRendered.has(k))
          problems.push(`${r.name}: grants ${k}, which no value set of the tenant chart renders`);
        const optional = ["monitoring.coreos.com/", "external-secrets.io/"].some((g) => k.startsWith(g));
        if (optional && !kinds.has(k)) problems.push(`${r.name}: grants ${k}, which this value set does not render`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("hands every tenant release this platform's values: the tenant chart takes them and calls this release's identity", async () => {
    const { objects } = await renderHelmCompute(join(dirname(dir), "helm-compute-prefixed.yaml"), [
      "--set",
      "namePrefix=acme-platform",
      "--set",
      "tenancy.compute.tenantValues.global.logLevel=debug",
    ]);
    const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === "acme-platform-tenancy-tenant-values");
    const values = join(dirname(dir), "tenant-release-values.yaml");
    writeFileSync(values, (cm?.data as Record<string, string> | undefined)?.["values.yaml"] ?? "");
    const own = join(dirname(dir), "tenant-own-values.json");
    writeFileSync(
      own,
      JSON.stringify({
        tenant: { id: "0b1c2d3e-4f50-4617-8899-aabbccddeeff", slug: "acme", plan: "business", database: "" },
        namespace: { name: "tessera-tenant-acme" },
      }),
    );
    // as the driver runs it: the operator's values first, the tenant's own last
    const out = await runOk(tools.helm, [
      "template",
      "tenant-acme",
      join(dir, "tessera-tenant"),
      "--namespace",
      "tessera-tenants",
      "--values",
      values,
      "--values",
      own,
    ]);
    const file = join(dirname(dir), "tenant-release.yaml");
    writeFileSync(file, out);
    const tenant = ((await parseYamlFiles([file]))[file] ?? []) as K8sObject[];
    const projects = tenant.find((o) => o.kind === "Deployment");
    const c = podSpecOf(projects as K8sObject)?.spec.containers[0] as Container;
    expect(envValue(c, "AUTH_JWKS_URL")).toBe(
      "http://acme-platform-identity.tessera-system.svc.cluster.local:50072/.well-known/jwks.json",
    );
    expect(envValue(c, "LOG_LEVEL")).toBe("debug");
  });

  it("validates the helm driver's objects against the Kubernetes 1.33 and 1.37 schemas (strict)", async () => {
    const r = await run(
      tools.python,
      [
        join(repoRoot, "test/charts/manifests.py"),
        "validate",
        join(repoRoot, "test/charts/crd-schemas"),
        KUBE_VERSIONS.join(","),
        helmCompute.file,
      ],
      { timeoutMs: 120_000 },
    );
    const results = r.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { object: string; ok: boolean; error?: string });
    expect(results.filter((x) => !x.ok).map((x) => `${x.object}: ${x.error}`)).toEqual([]);
    expect(results).toHaveLength(helmCompute.objects.length * KUBE_VERSIONS.length);
    expect(results.some((x) => x.object.startsWith("ValidatingAdmissionPolicy/"))).toBe(true);
  }, 120_000);

  it("refuses a driver it does not know", async () => {
    const bad = await run(tools.helm, [
      "template",
      "x",
      join(dir, "tessera-platform"),
      "--set",
      "tenancy.compute.driver=kubectl",
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("/tenancy/compute/driver");
  });
});

describe("charts: identity's SSO, passkeys and SCIM behind the ingress", () => {
  const platformSets = () => rendered.filter((r) => r.chart === "tessera-platform");
  const byName = (objects: K8sObject[], kind: string, name: string) =>
    objects.find((o) => o.kind === kind && o.metadata.labels?.["app.kubernetes.io/name"] === name);
  const containerOf = (objects: K8sObject[], name: string): Container => {
    const d = byName(objects, "Deployment", name);
    const c = d && podSpecOf(d)?.spec.containers[0];
    if (!c) throw new Error(`no Deployment ${name}`);
    return c;
  };
  const portOf = (c: Container, name: string) => c.ports?.find((p) => p.name === name)?.containerPort;
  /** In-cluster origin of a component's Service port, as the chart writes it. */
  const serviceOrigin = (objects: K8sObject[], name: string, port: string) => {
    const svc = byName(objects, "Service", name);
    const p = svc?.spec.ports.find((x: { name: string }) => x.name === port)?.port;
    return `http://${svc?.metadata.name}.${svc?.metadata.namespace}.svc.cluster.local:${p}`;
  };
  type Path = { path: string; pathType: string; backend: { service: { name: string; port: { name: string } } } };
  const pathsOf = (ingress: K8sObject | undefined): Path[] =>
    (ingress?.spec.rules ?? []).flatMap((r: { http: { paths: Path[] } }) => r.http.paths);
  const ingressWith = (objects: K8sObject[], path: string) =>
    objects.filter((o) => o.kind === "Ingress" && pathsOf(o).some((p) => p.path === path));

  /** Whether a NetworkPolicy peer list admits a pod (labels) in a namespace (its name label only). */
  const admits = (peers: unknown[] | undefined, ns: string, labels: Record<string, string>) =>
    (peers ?? []).some((peer) => {
      const p = peer as {
        namespaceSelector?: { matchLabels?: Record<string, string> };
        podSelector?: { matchLabels?: Record<string, string> };
      };
      const nsOk = Object.entries(p.namespaceSelector?.matchLabels ?? {}).every(
        ([k, v]) => k === "kubernetes.io/metadata.name" && v === ns,
      );
      const podOk = Object.entries(p.podSelector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
      return nsOk && podOk;
    });
  const podLabels = (objects: K8sObject[], name: string) => {
    const d = byName(objects, "Deployment", name);
    return { ns: d?.metadata.namespace as string, labels: (d && podSpecOf(d)?.labels) ?? {} };
  };
  type Rule = { ports: Array<{ port: string | number; protocol: string }>; from?: unknown[] };
  const ingressRules = (objects: K8sObject[], name: string): Rule[] =>
    objects.find(
      (o) => o.kind === "NetworkPolicy" && o.spec.podSelector.matchLabels?.["app.kubernetes.io/name"] === name,
    )?.spec.ingress ?? [];

  it("gives identity its public SSO URLs, passkey RP and TENANCY_URL, and the REST edge IDENTITY_HTTP_URL, from the gateways' hosts", () => {
    let checked = 0;
    for (const r of platformSets()) {
      const identity = containerOf(r.objects, "identity");
      const rest = containerOf(r.objects, "rest-gateway");
      const host = (name: string) => byName(r.objects, "Ingress", name)?.spec.rules[0].host as string;
      expect(envValue(identity, "TENANCY_URL"), r.name).toBe(serviceOrigin(r.objects, "tenancy", "grpc"));
      expect(portOf(containerOf(r.objects, "tenancy"), "grpc")).toBe(
        Number(new URL(serviceOrigin(r.objects, "tenancy", "grpc")).port),
      );
      expect(envValue(rest, "IDENTITY_HTTP_URL"), r.name).toBe(serviceOrigin(r.objects, "identity", "http"));
      expect(Number(new URL(envValue(rest, "IDENTITY_HTTP_URL") ?? "").port)).toBe(portOf(identity, "http"));
      expect(envValue(identity, "IDENTITY_SSO_PUBLIC_URL"), r.name).toBe(`https://${host("rest-gateway")}`);
      expect(envValue(identity, "IDENTITY_SSO_FRONTEND_URL"), r.name).toBe(
        `https://${host("graphql-gateway")}/sso/complete`,
      );
      expect(envValue(identity, "IDENTITY_WEBAUTHN_ORIGINS"), r.name).toBe(
        `https://${host("graphql-gateway")},https://${host("rest-gateway")}`,
      );
      expect(envValue(identity, "IDENTITY_WEBAUTHN_RP_ID"), r.name).toBe("tessera.example.com");
      expect(envValue(identity, "IDENTITY_WEBAUTHN_RP_NAME"), r.name).toBe("Tessera");
      checked++;
    }
    expect(checked).toBe(valueSets(dir).filter((s) => s.chart === "tessera-platform").length);
  });

  it("takes explicit SSO and passkey values, falls back without Ingresses, and refuses origins outside the RP id", async () => {
    const set = valueSets(dir).find((s) => s.chart === "tessera-platform" && s.name === "pool-default");
    if (!set) throw new Error("no pool-default set");
    const identityEnv = async (args: string[]) => {
      const file = join(dirname(dir), `sso-${args.length}-${Date.now()}.yaml`);
      writeFileSync(file, await template(dir, set, args));
      return containerOf(((await parseYamlFiles([file]))[file] ?? []) as K8sObject[], "identity");
    };
    const own = await identityEnv([
      ...["--set", "identity.sso.publicUrl=https://login.acme.io"],
      ...["--set", "identity.sso.frontendUrl=https://app.acme.io/signed-in"],
      ...["--set", "identity.webauthn.rpId=acme.io", "--set", "identity.webauthn.origins={https://app.acme.io}"],
    ]);
    expect(envValue(own, "IDENTITY_SSO_PUBLIC_URL")).toBe("https://login.acme.io");
    expect(envValue(own, "IDENTITY_SSO_FRONTEND_URL")).toBe("https://app.acme.io/signed-in");
    expect(envValue(own, "IDENTITY_WEBAUTHN_RP_ID")).toBe("acme.io");
    expect(envValue(own, "IDENTITY_WEBAUTHN_ORIGINS")).toBe("https://app.acme.io");
    const internal = await identityEnv([
      ...["--set", "restGateway.ingress.enabled=false", "--set", "graphqlGateway.ingress.enabled=false"],
    ]);
    expect(envValue(internal, "IDENTITY_SSO_PUBLIC_URL")).toBe(
      "http://tessera-rest-gateway.tessera-system.svc.cluster.local:8080",
    );
    expect(envValue(internal, "IDENTITY_WEBAUTHN_RP_ID")).toBe("localhost");
    expect(envValue(internal, "IDENTITY_WEBAUTHN_ORIGINS")).toBe("http://localhost:4000");
    const helm = (...args: string[]) =>
      run(tools.helm, ["template", "tessera", join(dir, "tessera-platform"), "-n", "tessera-system", ...args]);
    const outside = await helm("--set", "identity.webauthn.rpId=acme.io");
    expect(outside.code).not.toBe(0);
    expect(outside.stderr).toContain("identity.webauthn.origins: https://graphql.tessera.example.com is not acme.io");
    const noShared = await helm("--set", "identity.sso.frontendUrl=https://app.acme.io/sso");
    expect(noShared.code).not.toBe(0);
    expect(noShared.stderr).toContain("share no domain");
    const http = await helm("--set", "identity.webauthn.origins={http://app.acme.io}");
    expect(http.code).not.toBe(0);
    expect(http.stderr).toContain("/identity/webauthn/origins/0");
  });

  it("routes /sso on the REST edge's host to the edge and /scim/v2 to identity's HTTP port (one Ingress each)", () => {
    let checked = 0;
    for (const r of platformSets()) {
      const restIngress = byName(r.objects, "Ingress", "rest-gateway");
      const restSvc = byName(r.objects, "Service", "rest-gateway")?.metadata.name;
      const sso = ingressWith(r.objects, "/sso");
      expect(
        sso.map((o) => o.metadata.name),
        r.name,
      ).toEqual([restIngress?.metadata.name]);
      const ssoPaths = pathsOf(restIngress);
      // the more specific path first: the ALB evaluates an Ingress's rules in order
      expect(
        ssoPaths.map((p) => p.path),
        r.name,
      ).toEqual(["/sso", "/"]);
      for (const p of ssoPaths) expect(p.backend.service, r.name).toEqual({ name: restSvc, port: { name: "http" } });

      const scim = ingressWith(r.objects, "/scim/v2");
      expect(scim, r.name).toHaveLength(1);
      const [ingress] = scim as [K8sObject];
      const identitySvc = byName(r.objects, "Service", "identity");
      expect(pathsOf(ingress), r.name).toEqual([
        {
          path: "/scim/v2",
          pathType: "Prefix",
          backend: { service: { name: identitySvc?.metadata.name, port: { name: "http" } } },
        },
      ]);
      const httpPort = identitySvc?.spec.ports.find((p: { name: string }) => p.name === "http");
      expect(httpPort?.port).toBe(portOf(containerOf(r.objects, "identity"), "http"));
      expect(ingress.spec.rules[0].host).toBe(restIngress?.spec.rules[0].host);
      expect(ingress.spec.tls, r.name).toEqual(restIngress?.spec.tls);
      expect(ingress.spec.ingressClassName).toBe(restIngress?.spec.ingressClassName);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(5);
    expect(byName(objectsOf("tessera-platform", "all-components"), "Ingress", "identity")?.spec.tls).toEqual([
      { hosts: ["api.tessera.example.com"], secretName: "api-tessera-tls" },
    ]);
    // on EKS the ALB health-checks identity on the JWKS and takes /scim/v2 before the edge's "/"
    const eks = byName(objectsOf("tessera-platform", "eks"), "Ingress", "identity")?.metadata.annotations ?? {};
    expect(eks["alb.ingress.kubernetes.io/healthcheck-path"]).toBe("/.well-known/jwks.json");
    expect(eks["alb.ingress.kubernetes.io/group.order"]).toBe("-1");
    expect(eks["alb.ingress.kubernetes.io/group.name"]).toBe("tessera");
  });

  it("admits exactly: the ingress controller to identity's HTTP port only, identity to tenancy's gRPC, the REST edge to identity's HTTP", () => {
    let checked = 0;
    for (const r of platformSets()) {
      const ns = RELEASES["tessera-platform"].namespace;
      const controllerFrom =
        r.name === "all-components"
          ? [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } } }]
          : undefined;
      // identity: callers on gRPC and HTTP, then the ingress controller on HTTP alone (then Prometheus on metrics)
      const identityRules = ingressRules(r.objects, "identity").filter((x) => x.ports[0]?.port !== "metrics");
      expect(
        identityRules.map((x) => x.ports.map((p) => p.port)),
        r.name,
      ).toEqual([["grpc", "http"], ["http"]]);
      expect(identityRules[1]?.from, r.name).toEqual(controllerFrom);
      const rest = podLabels(r.objects, "rest-gateway");
      expect(admits(identityRules[0]?.from, rest.ns, rest.labels), `${r.name}: edge → identity http`).toBe(true);
      // nothing else is open to the ingress controller: every other service's rules name their callers
      for (const svc of ["tenancy", "audit", "projects"]) {
        for (const rule of ingressRules(r.objects, svc)) {
          expect(rule.from?.length, `${r.name}: ${svc} admits named peers only`).toBeGreaterThan(0);
          expect(rule.from, `${r.name}: ${svc}`).not.toEqual(controllerFrom);
        }
      }
      // the gateways stay as they were: their HTTP port to the controller
      for (const gw of ["rest-gateway", "graphql-gateway"]) {
        const rules = ingressRules(r.objects, gw).filter((x) => x.ports[0]?.port !== "metrics");
        expect(rules, `${r.name}: ${gw}`).toEqual([
          { ports: [{ port: "http", protocol: "TCP" }], ...(controllerFrom && { from: controllerFrom }) },
        ]);
      }
      // identity → tenancy's gRPC: the namespace's egress to Tessera services, and tenancy's ingress
      const identity = podLabels(r.objects, "identity");
      const tenancyPort = portOf(containerOf(r.objects, "tenancy"), "grpc");
      const egress = r.objects.find(
        (o) =>
          o.kind === "NetworkPolicy" &&
          o.metadata.name === "allow-egress-tessera-services" &&
          o.metadata.namespace === ns,
      );
      const tenancyPeer = podLabels(r.objects, "tenancy");
      expect(
        egress?.spec.egress[0].ports.map((p: { port: number }) => p.port),
        r.name,
      ).toContain(tenancyPort);
      expect(
        egress?.spec.egress[0].ports.map((p: { port: number }) => p.port),
        r.name,
      ).toContain(portOf(containerOf(r.objects, "identity"), "http"));
      expect(admits(egress?.spec.egress[0].to, tenancyPeer.ns, tenancyPeer.labels), r.name).toBe(true);
      expect(admits(egress?.spec.egress[0].to, identity.ns, identity.labels), r.name).toBe(true);
      const tenancyRules = ingressRules(r.objects, "tenancy").filter((x) => x.ports[0]?.port !== "metrics");
      expect(
        tenancyRules.map((x) => x.ports.map((p) => p.port)),
        r.name,
      ).toEqual([["grpc"]]);
      expect(admits(tenancyRules[0]?.from, identity.ns, identity.labels), `${r.name}: identity → tenancy`).toBe(true);
      checked++;
    }
    expect(checked).toBe(valueSets(dir).filter((s) => s.chart === "tessera-platform").length);
  });

  it("renders no SCIM Ingress or public identity port when the route is off, and tells the operator the URLs", async () => {
    const set = valueSets(dir).find((s) => s.chart === "tessera-platform" && s.name === "pool-default");
    if (!set) throw new Error("no pool-default set");
    const file = join(dirname(dir), "sso-scim-off.yaml");
    writeFileSync(file, await template(dir, set, ["--set", "identity.scim.ingress.enabled=false"]));
    const objects = ((await parseYamlFiles([file]))[file] ?? []) as K8sObject[];
    expect(objects.length).toBeGreaterThan(5);
    expect(ingressWith(objects, "/scim/v2")).toEqual([]);
    expect(ingressRules(objects, "identity").map((x) => x.ports.map((p) => p.port))).toEqual([["grpc", "http"]]);
    const { release, namespace } = RELEASES["tessera-platform"];
    const out = await runOk(tools.helm, [
      "install",
      release,
      join(dir, "tessera-platform"),
      "--namespace",
      namespace,
      "--dry-run=client",
      ...set.files.flatMap((f) => ["--values", f]),
    ]);
    const notes = out.slice(out.indexOf("NOTES:"));
    expect(notes).toContain("https://api.tessera.example.com/sso/callback");
    expect(notes).toContain("SCIM 2.0: https://api.tessera.example.com/scim/v2");
    expect(notes).toContain("Passkeys: RP id tessera.example.com");
  });
});
