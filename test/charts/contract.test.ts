import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { startTestIssuer, type TestIssuer } from "@tessera/platform/auth/testing";
import { conventionalRoles } from "@tessera/platform/db";
import { databaseEnv, natsEnv, serviceEnv } from "@tessera/platform/service";
import { Health, HealthCheckResponse_ServingStatus } from "@tessera/proto/grpc/health/v1/health_pb";
import { registerSecret, runMain, serviceDatabase, startMain, stopMain } from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Deployable, discoverDeployables } from "../../tools/dev/src/up/deployables.ts";
import {
  type ChartName,
  type Container,
  type EnvVar,
  envValue,
  type K8sObject,
  parseYamlFiles,
  podSpecOf,
  prepareCharts,
  repoRoot,
  requireTools,
  run,
  template,
  tools,
  valueSets,
} from "./support.ts";

/**
 * The chart ↔ code contract, for every deployable in the repository (services/*, gateway/* with a
 * "tessera" block): the environment the charts give its container is exactly what its config schema
 * accepts, its ports and probes are what the process serves, and the process, laid out as its image
 * lays it out (docker/deploy.mjs), starts with that environment (endpoints rewritten to local ones)
 * and becomes healthy.
 */

/** What the contract reads of a deployable (tools/dev's Deployable has more). */
type DeployableLike = Pick<Deployable, "name" | "kind" | "dir" | "main" | "port" | "env">;

let discovered: DeployableLike[] = [];
let discoveryError: unknown;
try {
  discovered = discoverDeployables(repoRoot);
} catch (err) {
  // still check the deployables that are complete; the first test reports the rest
  discoveryError = err;
  discovered = completeDeployables();
}

/** Deployables whose package.json block names files that exist (used only when discovery fails). */
function completeDeployables(): DeployableLike[] {
  return ["services", "gateway"].flatMap((parent) => {
    const base = join(repoRoot, parent);
    if (!existsSync(base)) return [];
    return readdirSync(base).flatMap((name): DeployableLike[] => {
      const dir = join(base, name);
      const file = join(dir, "package.json");
      if (!existsSync(file)) return [];
      const block = (JSON.parse(readFileSync(file, "utf8")) as { tessera?: Record<string, unknown> }).tessera;
      if (!block || typeof block.main !== "string" || !existsSync(join(dir, block.main))) return [];
      return [
        {
          name,
          kind: block.kind === "gateway" ? "gateway" : "service",
          dir,
          main: join(dir, block.main),
          port: Number(block.port),
          env: (block.env ?? {}) as Record<string, string>,
        },
      ];
    });
  });
}

/** The values block of a deployable: services by folder name, gateways as `<name>Gateway`. */
const blockOf = (d: DeployableLike) => (d.kind === "gateway" ? `${d.name}Gateway` : d.name);
/** The component's name in the charts (app.kubernetes.io/name): the block in kebab case. */
const componentOf = (d: DeployableLike) => blockOf(d).replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`);

interface ComponentValues {
  enabled: boolean;
  kind: string;
  plane: string;
  port: number;
  main?: string;
  migrate?: string;
  database?: { enabled?: boolean; appRole?: string };
  extraPorts?: Array<{ name: string; port: number; env: string }>;
}

/** What a variable read from a Secret is, locally. */
function localSecret(name: string, ctx: { appUrl: string; ownerUrl: string; natsUrl: string }): string {
  switch (name) {
    case "DATABASE_URL":
      return ctx.appUrl;
    case "OUTBOX_RELAY_DATABASE_URL":
    case "MIGRATION_DATABASE_URL":
      return ctx.ownerUrl;
    case "NATS_URL":
      return ctx.natsUrl;
    default:
      if (name.endsWith("_KEY") || name.endsWith("_SECRET")) {
        const key = randomBytes(32).toString("base64");
        registerSecret(key);
        return key;
      }
      throw new Error(`the chart reads ${name} from a Secret: give the contract test a local value for it`);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: a zod object from the deployable's own zod copy
type ZodObjectLike = { shape: Record<string, any>; safeParse(v: unknown): { success: boolean; error?: unknown } };

/** The deployable's environment schema: the zod object its src/config.ts exports (the one with PORT). */
async function configSchemaOf(d: DeployableLike): Promise<ZodObjectLike> {
  const file = join(d.dir, "src/config.ts");
  if (!existsSync(file)) throw new Error(`${file} is missing: a deployable exports its env schema there`);
  const mod = (await import(file)) as Record<string, unknown>;
  const found = Object.values(mod).filter(
    (v): v is ZodObjectLike =>
      typeof v === "object" && v !== null && "shape" in v && "safeParse" in v && "PORT" in (v as ZodObjectLike).shape,
  );
  if (found.length !== 1) throw new Error(`${file} must export exactly one zod object schema with PORT`);
  return found[0] as ZodObjectLike;
}

/** Keys a schema cannot do without. */
const requiredKeys = (shape: Record<string, { safeParse(v: unknown): { success: boolean } }>) =>
  Object.entries(shape)
    .filter(([, s]) => !s.safeParse(undefined).success)
    .map(([k]) => k)
    .sort();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

let charts: string;
let platformValues: Record<string, ComponentValues>;
/** Rendered objects per chart, with every deployable in the repository switched on. */
const renders = new Map<ChartName, K8sObject[]>();
let setupError: unknown;

beforeAll(async () => {
  try {
    requireTools("helm", "python", "pnpm");
    charts = await prepareCharts();
    const valuesFile = join(charts, "tessera-platform/values.yaml");
    platformValues = (await parseYamlFiles([valuesFile]))[valuesFile]?.[0] as Record<string, ComponentValues>;
    const sets = valueSets(charts);
    const outDir = mkdtempSync(join(tmpdir(), "tessera-contract-"));
    for (const [chart, setName] of [
      ["tessera-platform", "pool-default"],
      ["tessera-tenant", "silo"],
    ] as const) {
      const set = sets.find((s) => s.chart === chart && s.name === setName);
      if (!set) throw new Error(`no ${chart}/ci/${setName}-values.yaml`);
      const on = discovered
        .filter((d) => chart === "tessera-platform" || platformValues[blockOf(d)]?.plane === "application")
        .flatMap((d) => ["--set", `${blockOf(d)}.enabled=true`]);
      const file = join(outDir, `${chart}.yaml`);
      writeFileSync(file, await template(charts, set, on));
      renders.set(chart, ((await parseYamlFiles([file]))[file] ?? []) as K8sObject[]);
    }
    rmSync(outDir, { recursive: true, force: true });
  } catch (err) {
    setupError = err;
  }
}, 120_000);

afterAll(() => {
  if (charts) rmSync(dirname(charts), { recursive: true, force: true });
});

function ready() {
  if (setupError) throw setupError;
}

/** The Deployment, its container, its Service and its migration Job, of a component in a chart's render. */
function workloadOf(chart: ChartName, d: DeployableLike) {
  const objects = renders.get(chart) ?? [];
  const deployment = objects.find(
    (o) => o.kind === "Deployment" && o.metadata.labels?.["app.kubernetes.io/name"] === componentOf(d),
  );
  if (!deployment) throw new Error(`${chart} renders no Deployment for ${d.name} (values block ${blockOf(d)})`);
  const pod = podSpecOf(deployment);
  const container = pod?.spec.containers[0] as Container;
  const service = objects.find((o) => o.kind === "Service" && o.metadata.name === deployment.metadata.name);
  const job = objects.find(
    (o) =>
      o.kind === "Job" &&
      o.metadata.labels?.["app.kubernetes.io/name"] === componentOf(d) &&
      o.metadata.labels?.["app.kubernetes.io/component"] === "migration",
  );
  const jobContainer = job ? (podSpecOf(job)?.spec.containers[0] as Container) : undefined;
  return { deployment, pod, container, service, job, jobContainer };
}

/** Charts a deployable runs from: the platform, and the tenant chart for the application plane. */
const chartsOf = (d: DeployableLike): ChartName[] =>
  platformValues?.[blockOf(d)]?.plane === "application" ? ["tessera-platform", "tessera-tenant"] : ["tessera-platform"];

const envNames = (c: Container) => (c.env ?? []).map((e) => e.name).sort();

describe("chart ↔ code contract", () => {
  it("finds the deployables of the repository", () => {
    if (discoveryError) throw discoveryError;
    expect(discovered.length).toBeGreaterThan(0);
  });

  it("sets the kit's variables for every component (those not in the repository yet too): none unknown, all it requires", async () => {
    ready();
    const kit = { ...serviceEnv, ...databaseEnv, ...natsEnv };
    const set = valueSets(charts).find((x) => x.chart === "tessera-platform" && x.name === "all-components");
    if (!set) throw new Error("no tessera-platform/ci/all-components-values.yaml");
    const file = join(dirname(charts), "all-components.yaml");
    writeFileSync(file, await template(charts, set));
    const objects = ((await parseYamlFiles([file]))[file] ?? []) as K8sObject[];
    const blocks = Object.entries(platformValues).filter(([, v]) => v && typeof v === "object" && "port" in v);
    expect(
      objects
        .filter((o) => o.kind === "Deployment")
        .map((o) => o.metadata.labels?.["app.kubernetes.io/name"])
        .sort(),
    ).toEqual(blocks.map(([k]) => k.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`)).sort());
    const setValues = (await parseYamlFiles([set.files[0] as string]))[set.files[0] as string]?.[0] as Record<
      string,
      { env?: object }
    >;
    for (const [key, v] of blocks) {
      const values = v as ComponentValues & { env?: object; secretEnv?: string[]; nats?: { enabled?: boolean } };
      const name = key.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`);
      const dep = objects.find(
        (o) => o.kind === "Deployment" && o.metadata.labels?.["app.kubernetes.io/name"] === name,
      );
      const c = (dep && podSpecOf(dep)?.spec.containers[0]) as Container;
      const own = new Set([
        ...Object.keys(values.env ?? {}),
        ...Object.keys(setValues[key]?.env ?? {}),
        ...(values.secretEnv ?? []),
        ...(values.extraPorts ?? []).map((p) => p.env),
      ]);
      expect(
        envNames(c).filter((n) => !(n in kit) && !own.has(n)),
        `${key}: variables outside the kit's contract`,
      ).toEqual([]);
      const verifies = (values as { auth?: { verifyTokens?: boolean } }).auth?.verifyTokens ?? true;
      const needed = [
        ...(verifies ? requiredKeys(serviceEnv) : []),
        ...(values.database?.enabled ? requiredKeys(databaseEnv) : []),
        ...(values.nats?.enabled ? requiredKeys(natsEnv) : []),
      ];
      for (const k of needed) expect(envNames(c), `${key} sets ${k}`).toContain(k);
    }
  });

  for (const d of discovered) {
    describe(`${d.kind} ${d.name}`, () => {
      it("has a values block, a Dockerfile and an image layout that match its package", () => {
        ready();
        const block = platformValues[blockOf(d)];
        expect(block, `charts/tessera-platform/values.yaml has no block "${blockOf(d)}" for ${d.name}`).toBeDefined();
        const pkg = JSON.parse(readFileSync(join(d.dir, "package.json"), "utf8")) as {
          name: string;
          tessera: { port: number; main: string; migrate?: string; database?: string; env?: Record<string, string> };
        };
        expect(block?.kind).toBe(d.kind);
        expect(block?.enabled, `${d.name} is in the repository: enable its block (${blockOf(d)}.enabled: true)`).toBe(
          true,
        );
        expect(block?.port, "values port = package.json tessera.port").toBe(pkg.tessera.port);
        for (const chart of chartsOf(d)) {
          const { container, jobContainer } = workloadOf(chart, d);
          expect(container.command, chart).toEqual(["node", pkg.tessera.main]);
          if (pkg.tessera.migrate && pkg.tessera.database)
            expect(jobContainer?.command, `${chart}: migration Job`).toEqual(["node", pkg.tessera.migrate]);
          // what `./tessera up` passes from the block's env is what the chart sets
          for (const [k, v] of Object.entries(pkg.tessera.env ?? {}))
            expect(envValue(container, k), `${chart} ${k}`).toBe(v);
        }
        expect(block?.database?.enabled ?? false).toBe(pkg.tessera.database !== undefined);
        if (pkg.tessera.database) expect(block?.database?.appRole).toBe(conventionalRoles(pkg.tessera.database).app);

        const dockerfile = join(d.dir, "Dockerfile");
        expect(existsSync(dockerfile), `${dockerfile} is missing (copy services/tenancy/Dockerfile)`).toBe(true);
        const text = readFileSync(dockerfile, "utf8");
        expect(text).toMatch(/^ARG NODE_IMAGE=(node:24[.\d]*-slim|gcr\.io\/distroless\/nodejs24\S*)$/m);
        expect(text).toContain(`ARG PACKAGE=${pkg.name}\n`);
        expect(text).toContain(`ARG PORT=${pkg.tessera.port}\n`);
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a Dockerfile build argument, not a JS template
        expect(text).toContain('RUN node docker/deploy.mjs "${PACKAGE}" /out');
        expect(text).toContain(`CMD ["node", "${pkg.tessera.main}"]`);
        const user = text.match(/^USER (\d+):(\d+)$/m);
        expect(Number(user?.[1]), "USER is numeric and non-root").toBeGreaterThan(0);
        const pod = workloadOf("tessera-platform", d).pod;
        expect(pod?.spec.securityContext?.runAsUser, "the chart runs as the image's USER").toBe(Number(user?.[1]));
      });

      it("sets exactly the variables its config schema accepts, none required missing; ports and probes match", async () => {
        ready();
        const schema = await configSchemaOf(d);
        const accepted = Object.keys(schema.shape);
        for (const chart of chartsOf(d)) {
          const { container, deployment, service, pod } = workloadOf(chart, d);
          const names = envNames(container);
          expect(
            names.filter((n) => !accepted.includes(n)),
            `${chart} sets variables ${d.name}'s schema does not know`,
          ).toEqual([]);
          const placeholders = {
            appUrl: "postgres://app:x@db/x",
            ownerUrl: "postgres://owner:x@db/x",
            natsUrl: "nats://svc:x@nats:4222",
          };
          const env = Object.fromEntries(
            (container.env ?? []).map((e: EnvVar) => [e.name, e.value ?? localSecret(e.name, placeholders)]),
          );
          const parsed = schema.safeParse(env);
          expect(parsed.success, `${chart}: ${String(parsed.error)}`).toBe(true);
          for (const k of requiredKeys(schema.shape)) expect(names, `${chart} sets required ${k}`).toContain(k);

          const port = Number(envValue(container, "PORT"));
          const named = (n: string) => container.ports?.find((p) => p.name === n)?.containerPort;
          if (d.kind === "service") {
            expect(named("grpc"), chart).toBe(port);
            expect(container.livenessProbe.grpc).toEqual({ port, service: "liveness" });
            expect(container.readinessProbe.grpc).toEqual({ port, service: "readiness" });
            expect(service?.spec.ports.find((p: { name: string }) => p.name === "grpc")?.targetPort).toBe("grpc");
          } else {
            expect(named("http"), chart).toBe(port);
          }
          expect(named("metrics")).toBe(Number(envValue(container, "METRICS_PORT")));
          for (const p of platformValues[blockOf(d)]?.extraPorts ?? []) {
            expect(named(p.name), `${chart} port ${p.name}`).toBe(p.port);
            expect(envValue(container, p.env)).toBe(String(p.port));
          }
          const preStop = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
          expect(pod?.spec.terminationGracePeriodSeconds, deployment.metadata.name).toBeGreaterThan(
            preStop + Number(envValue(container, "SHUTDOWN_GRACE_MS")) / 1000,
          );
        }
      });

      it("starts from its image layout with the chart's environment (endpoints local), migrates, becomes healthy and drains", async () => {
        ready();
        const { container, jobContainer, pod } = workloadOf("tessera-platform", d);
        const image = mkdtempSync(join(tmpdir(), `tessera-image-${d.name}-`));
        const cleanups: Array<() => Promise<unknown> | unknown> = [
          () => rmSync(image, { recursive: true, force: true }),
        ];
        try {
          const pkgName = (JSON.parse(readFileSync(join(d.dir, "package.json"), "utf8")) as { name: string }).name;
          const deploy = await run(
            process.execPath,
            [join(repoRoot, "docker/deploy.mjs"), pkgName, image, "--offline", "--trust-lockfile"],
            {
              timeoutMs: 180_000,
              env: { ...process.env, PNPM: tools.pnpm, CI: "true" },
            },
          );
          expect(deploy.code, deploy.stderr + deploy.stdout).toBe(0);
          // what `pnpm deploy --prod` left out: devDependencies (vitest, the test harness)
          expect(existsSync(join(image, "node_modules/vitest"))).toBe(false);
          expect(existsSync(join(image, "node_modules/@tessera/test"))).toBe(false);

          const uses = new Set(envNames(container));
          const db = uses.has("DATABASE_URL") ? await serviceDatabase(d.name.replaceAll("-", "_")) : undefined;
          if (db) cleanups.push(() => db.drop());
          const issuer: TestIssuer = await startTestIssuer();
          cleanups.push(() => issuer.stop());
          const ctx = { appUrl: db?.appUrl ?? "", ownerUrl: db?.ownerUrl ?? "", natsUrl: inject("natsUrl") };

          if (jobContainer && db) {
            const jobEnv = Object.fromEntries(
              (jobContainer.env ?? []).map((e) => [
                e.name,
                e.name === "DATABASE_APP_ROLE" ? db.roles.app : (e.value ?? localSecret(e.name, ctx)),
              ]),
            );
            const migrate = runMain(join(image, jobContainer.command?.[1] ?? ""), jobEnv, `${d.name}-migrate`);
            const { code } = await migrate.exited;
            expect(code, migrate.stderr() + migrate.stdout()).toBe(0);
          }

          // the chart's ports, each moved to a free local one
          const ports = new Map<number, number>();
          const local = async (p: number) => {
            if (!ports.has(p)) ports.set(p, await freePort());
            return ports.get(p) as number;
          };
          const env: Record<string, string> = {};
          for (const e of container.env ?? []) {
            if (e.value === undefined) env[e.name] = localSecret(e.name, ctx);
            else if (e.name === "HOST" || e.name === "METRICS_HOST") env[e.name] = "127.0.0.1";
            else if (e.name === "AUTH_JWKS_URL") env[e.name] = issuer.jwksUrl;
            else if (e.name === "AUTH_ISSUER") env[e.name] = issuer.issuer;
            else if (e.name === "TESSERA_PLANS_FILE") {
              // the chart mounts its plan catalogue ConfigMap there: locally, that ConfigMap's file
              const plans = (renders.get("tessera-platform") ?? []).find(
                (o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-plans"),
              );
              const file = join(image, "plans.yaml");
              writeFileSync(file, (plans?.data as Record<string, string> | undefined)?.["plans.yaml"] ?? "");
              env[e.name] = file;
            } else if (container.ports?.some((p) => String(p.containerPort) === e.value && /PORT$/.test(e.name)))
              env[e.name] = String(await local(Number(e.value)));
            else if (/^https?:\/\/[^/]+\.svc\.cluster\.local:\d+/.test(e.value)) {
              // another component's in-cluster URL: a local port where nothing answers (the process must start without it)
              const url = new URL(e.value);
              env[e.name] = `${url.protocol}//127.0.0.1:${await freePort()}${url.pathname === "/" ? "" : url.pathname}`;
            } else env[e.name] = e.value;
          }
          const started = await startMain(join(image, container.command?.[1] ?? ""), env, {
            logName: d.name,
            timeoutMs: 60_000,
          });
          let stopped = false;
          cleanups.push(() => (stopped ? undefined : stopMain(started)));
          const grpcPort = Number(env.PORT);
          expect(started.port, "listens on the PORT the chart sets").toBe(grpcPort);

          if (d.kind === "service") {
            const health = createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort}` }));
            const live = await health.check({ service: container.livenessProbe.grpc.service }, { timeoutMs: 2_000 });
            expect(live.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
            const deadline = Date.now() + 20_000;
            let status: HealthCheckResponse_ServingStatus = HealthCheckResponse_ServingStatus.UNKNOWN;
            while (Date.now() < deadline) {
              status = (await health.check({ service: container.readinessProbe.grpc.service }, { timeoutMs: 2_000 }))
                .status;
              if (status === HealthCheckResponse_ServingStatus.SERVING) break;
              await new Promise((r) => setTimeout(r, 250));
            }
            expect(status, "readiness probe").toBe(HealthCheckResponse_ServingStatus.SERVING);
          }
          if (d.kind === "gateway") {
            const probe = container.readinessProbe.httpGet as { path: string };
            const deadline = Date.now() + 20_000;
            let status = 0;
            while (Date.now() < deadline && status !== 200) {
              status = await fetch(`http://127.0.0.1:${grpcPort}${probe.path}`).then(
                async (r) => {
                  await r.text();
                  return r.status;
                },
                () => 0,
              );
              if (status !== 200) await new Promise((r) => setTimeout(r, 250));
            }
            expect(status, `readiness probe GET ${probe.path}`).toBe(200);
          }
          const metrics = await fetch(`http://127.0.0.1:${env.METRICS_PORT}/metrics`);
          expect(metrics.status, "metrics port").toBe(200);
          await metrics.text();
          for (const p of container.ports ?? []) {
            if (p.name === "grpc" || p.name === "metrics" || p.name === "http") continue;
            const port = ports.get(p.containerPort);
            expect(port, `extra port ${p.name} is given to the process`).toBeDefined();
            const res = await fetch(`http://127.0.0.1:${port}/`).catch((err: unknown) => err);
            expect(res instanceof Error ? String(res.cause ?? res) : "answered", `port ${p.name} serves`).toBe(
              "answered",
            );
          }
          // the JWKS URL every service gets from the chart points at this process
          const jwksUrl = envValue(container, "AUTH_JWKS_URL");
          const jwks = jwksUrl ? new URL(jwksUrl) : undefined;
          if (jwks && jwks.hostname.split(".")[0] === workloadOf("tessera-platform", d).deployment.metadata.name) {
            const res = await fetch(`http://127.0.0.1:${await local(Number(jwks.port))}${jwks.pathname}`);
            expect(res.status, "identity serves the JWKS the charts point every service at").toBe(200);
            expect(((await res.json()) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
          }

          const t0 = Date.now();
          const code = await stopMain(started, 30_000);
          stopped = true;
          expect(code, "drains and exits 0 on SIGTERM").toBe(0);
          const preStop = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
          expect(Date.now() - t0, "drain fits terminationGracePeriodSeconds").toBeLessThan(
            ((pod?.spec.terminationGracePeriodSeconds ?? 30) - preStop) * 1000,
          );
        } finally {
          for (const c of cleanups.reverse()) await c();
        }
      }, 240_000);
    });
  }
});
