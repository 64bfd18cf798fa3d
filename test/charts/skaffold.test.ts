import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { discoverDeployables } from "../../tools/dev/src/up/deployables.ts";
import { type K8sObject, parseYamlFiles, prepareCharts, repoRoot, requireTools, runOk, tools } from "./support.ts";

/**
 * skaffold.yaml without skaffold (not installable here: see README "Deploying"): it parses, names
 * an artifact per deployable whose Dockerfile and context exist, and each profile's helm releases,
 * with its patches applied and image templates filled in, render with the real helm.
 */

interface Release {
  name: string;
  chartPath: string;
  namespace: string;
  valuesFiles?: string[];
  setValues?: Record<string, unknown>;
  setValueTemplates?: Record<string, string>;
}
interface SkaffoldConfig {
  apiVersion: string;
  kind: string;
  build: { artifacts: Array<{ image: string; context?: string; docker?: { dockerfile?: string } }> };
  deploy: { helm: { releases: Release[] } };
  profiles?: Array<{ name: string; patches?: Array<{ op: string; path: string; value?: unknown }> }>;
}

let config: SkaffoldConfig;
let charts: string;
let setupError: unknown;

beforeAll(async () => {
  try {
    requireTools("python", "helm");
    const file = join(repoRoot, "skaffold.yaml");
    config = (await parseYamlFiles([file]))[file]?.[0] as SkaffoldConfig;
    charts = await prepareCharts();
  } catch (err) {
    setupError = err;
  }
}, 60_000);

/** Fails every test (instead of skipping) when the tools are missing. */
function ready() {
  if (setupError) throw setupError;
}

afterAll(() => {
  if (charts) rmSync(dirname(charts), { recursive: true, force: true });
});

/** JSON Patch (add, replace, remove) on a copy, as skaffold applies a profile's patches. */
function applyPatches(
  doc: SkaffoldConfig,
  patches: Array<{ op: string; path: string; value?: unknown }>,
): SkaffoldConfig {
  const copy = structuredClone(doc) as unknown as Record<string, unknown>;
  for (const p of patches) {
    const keys = p.path
      .split("/")
      .slice(1)
      .map((k) => k.replaceAll("~1", "/").replaceAll("~0", "~"));
    const last = keys.pop() as string;
    let target: Record<string, unknown> | unknown[] = copy;
    for (const k of keys) {
      const next = (target as Record<string, unknown>)[k];
      if (next === undefined) throw new Error(`patch ${p.op} ${p.path}: ${k} does not exist`);
      target = next as Record<string, unknown>;
    }
    const container = target as Record<string, unknown>;
    if (p.op === "remove") delete container[last];
    else if (p.op === "replace" && !(last in container)) throw new Error(`patch replace ${p.path}: nothing to replace`);
    else if (p.op === "add" || p.op === "replace") container[last] = structuredClone(p.value);
    else throw new Error(`unsupported patch op ${p.op}`);
  }
  return copy as unknown as SkaffoldConfig;
}

/** Fills skaffold's image templates the way a build would: IMAGE_REPO_x, IMAGE_TAG_x, IMAGE_DIGEST_x. */
function fill(template: string, images: Set<string>): string {
  return template.replace(
    /\{\{\s*\.IMAGE_(REPO|TAG|DIGEST)_([A-Za-z0-9_]+)\s*\}\}/g,
    (_, what: string, key: string) => {
      const image = [...images].find((i) => i.replace(/[^A-Za-z0-9]/g, "_") === key);
      if (!image) throw new Error(`template names image ${key}, which no artifact builds`);
      if (what === "REPO") return `registry.example.com/tessera/${image}`;
      if (what === "TAG") return "abc1234";
      return `sha256:${"0".repeat(64)}`;
    },
  );
}

describe("skaffold.yaml", () => {
  it("is a skaffold v4beta config", () => {
    ready();
    expect(config.apiVersion).toMatch(/^skaffold\/v4beta\d+$/);
    expect(config.kind).toBe("Config");
  });

  it("builds an artifact per deployable, from the repository root, with a Dockerfile that exists", () => {
    ready();
    const artifacts = config.build.artifacts;
    for (const a of artifacts) {
      const context = join(repoRoot, a.context ?? ".");
      expect(existsSync(context) && statSync(context).isDirectory(), `${a.image}: context ${context}`).toBe(true);
      expect(relative(repoRoot, context), `${a.image} builds from the repository root`).toBe("");
      const dockerfile = join(context, a.docker?.dockerfile ?? "Dockerfile");
      expect(existsSync(dockerfile), `${a.image}: ${dockerfile}`).toBe(true);
    }
    let deployables: Array<{ dir: string; name: string }>;
    try {
      deployables = discoverDeployables(repoRoot);
    } catch {
      // a deployable being written is reported by the contract test; check the rest
      deployables = [];
    }
    for (const d of deployables) {
      const dockerfile = relative(repoRoot, join(d.dir, "Dockerfile"));
      expect(
        artifacts.some((a) => a.docker?.dockerfile === dockerfile),
        `skaffold.yaml builds no artifact from ${dockerfile}`,
      ).toBe(true);
    }
    expect(new Set(artifacts.map((a) => a.image)).size).toBe(artifacts.length);
  });

  it("deploys the platform release and one silo tenant, with profiles local, eks and aks", () => {
    ready();
    const charts = config.deploy.helm.releases.map((r) => r.chartPath);
    expect(charts).toEqual(["charts/tessera-platform", "charts/tessera-tenant"]);
    expect(config.profiles?.map((p) => p.name)).toEqual(expect.arrayContaining(["local", "eks", "aks"]));
  });

  const profiles = ["(none)", "local", "eks", "aks"];
  for (const name of profiles) {
    it(`renders every release of profile ${name} with helm, every image from a built artifact`, async () => {
      ready();
      const profile = config.profiles?.find((p) => p.name === name);
      const effective = applyPatches(config, profile?.patches ?? []);
      const images = new Set(effective.build.artifacts.map((a) => a.image));
      const outDir = join(dirname(charts), `skaffold-${name.replace(/\W/g, "")}`);
      mkdirSync(outDir, { recursive: true });
      const used = new Set<string>();
      for (const release of effective.deploy.helm.releases) {
        for (const f of release.valuesFiles ?? [])
          expect(existsSync(join(repoRoot, f)), `${release.name}: ${f}`).toBe(true);
        const sets = [
          ...Object.entries(release.setValues ?? {}).map(([k, v]) => `${k}=${String(v)}`),
          ...Object.entries(release.setValueTemplates ?? {}).map(([k, v]) => {
            for (const m of v.matchAll(/IMAGE_\w+?_([A-Za-z0-9_]+)\}\}/g)) used.add(m[1] as string);
            return `${k}=${fill(v, images)}`;
          }),
        ];
        const chart = join(charts, release.chartPath.replace(/^charts\//, ""));
        const out = await runOk(tools.helm, [
          "template",
          release.name,
          chart,
          "--namespace",
          release.namespace,
          ...(release.valuesFiles ?? []).flatMap((f) => ["--values", join(repoRoot, f)]),
          ...sets.flatMap((s) => ["--set", s]),
        ]);
        const file = join(outDir, `${release.name}.yaml`);
        writeFileSync(file, out);
        const objects = ((await parseYamlFiles([file]))[file] ?? []) as K8sObject[];
        const deployed = objects.flatMap(
          (o) => (o.spec?.template?.spec?.containers ?? []).map((c: { image: string }) => c.image) as string[],
        );
        expect(deployed.length, release.name).toBeGreaterThan(0);
        for (const image of deployed) {
          expect(image, release.name).toMatch(/^registry\.example\.com\/tessera\/[a-z-]+:abc1234(@sha256:0{64})?$/);
          if (name === "eks" || name === "aks") expect(image, `${name} pins digests`).toContain("@sha256:");
        }
      }
      // every artifact is deployed by some release (gateways: once their blocks are enabled)
      expect(used.size).toBeGreaterThan(0);
    });
  }
});
