import type { Deployable } from "./deployables.ts";
import { grpcHealthProbe, httpHealthProbe, waitUntilHealthy } from "./health.ts";
import { portInUse } from "./port-free.ts";
import type { ComponentStatus } from "./runtime.ts";
import type { UpSettings } from "./settings.ts";
import { type ChildExit, runToCompletion, type Supervised, startSupervised } from "./supervisor.ts";
import type { Phase, PlatformWiring } from "./wiring.ts";

/** A deployable `up` started, with the row it shows in the table. */
export interface RunningDeployable {
  deployable: Deployable;
  process: Supervised;
  status: ComponentStatus;
}

/** The child environment: the caller's, then the platform's wiring, then the package's own `env` block. */
function childEnv(d: Deployable, wiring: PlatformWiring, phase: Phase): NodeJS.ProcessEnv {
  return { ...process.env, ...wiring.envFor(d, phase), ...d.env };
}

const describeExit = (e: ChildExit) => (e.signal ? `exited (${e.signal})` : `exited with code ${e.code}`);

/** Pads labels so prefixed output lines up in columns. */
export function labeller(deployables: readonly Deployable[]): (text: string) => string {
  const width = Math.max(0, ...deployables.map((d) => d.name.length + ":migrate".length));
  return (text) => text.padEnd(width);
}

/**
 * Runs every migrate script, then every seed script, in order, each to completion within the
 * deadline; throws on the first failure.
 */
export async function migrateAll(
  deployables: readonly Deployable[],
  wiring: PlatformWiring,
  settings: UpSettings,
  label: (text: string) => string,
): Promise<void> {
  for (const phase of ["migrate", "seed"] as const) {
    for (const d of deployables) {
      const script = d[phase];
      if (!script) continue;
      console.log(`${phase === "migrate" ? "migrating" : "seeding"} ${d.name}…`);
      await runToCompletion({
        label: label(`${d.name}:${phase}`),
        command: process.execPath,
        args: [script],
        cwd: d.dir,
        env: childEnv(d, wiring, phase),
        timeoutMs: settings.migrateTimeoutMs,
        graceMs: settings.stopGraceMs,
      });
    }
  }
}

/**
 * Starts one group of deployables (all services, then all gateways) and waits, in parallel and
 * each within the health deadline, until they answer their health check. Stops waiting early
 * when `cancelled` settles. Throws before starting anything if one's port is taken.
 */
export async function startGroup(
  group: readonly Deployable[],
  wiring: PlatformWiring,
  settings: UpSettings,
  label: (text: string) => string,
  cancelled: Promise<string>,
): Promise<RunningDeployable[]> {
  for (const d of group) {
    if (await portInUse(d.port))
      throw new Error(`port ${d.port} of ${d.name} is in use by another program (a leftover process?)`);
  }
  const started = group.map((d): RunningDeployable => {
    const proc = startSupervised({
      label: label(d.name),
      command: process.execPath,
      args: [d.main],
      cwd: d.dir,
      env: childEnv(d, wiring, "main"),
    });
    return {
      deployable: d,
      process: proc,
      status: { name: d.name, kind: d.kind, url: `http://127.0.0.1:${d.port}`, pid: proc.pid, status: "starting" },
    };
  });
  await Promise.all(
    started.map(async (r) => {
      const grpc = r.deployable.kind === "service" ? grpcHealthProbe(r.deployable.port) : undefined;
      const probe = grpc?.probe ?? httpHealthProbe(r.deployable.port);
      const gaveUp = Promise.race([r.process.exited.then(describeExit), cancelled]);
      const verdict = await waitUntilHealthy(probe, settings.healthTimeoutMs, gaveUp);
      grpc?.close();
      if (verdict.healthy) r.status.status = "healthy";
      else Object.assign(r.status, { status: r.process.running() ? "unhealthy" : "exited", detail: verdict.reason });
    }),
  );
  return started;
}

/** Marks a row as exited when its process ends, and tells `onChange`. */
export function watchExit(r: RunningDeployable, onChange: () => void): void {
  if (!r.process.running()) return;
  r.process.exited.then((exit) => {
    if (r.status.status === "stopping") return;
    r.status.status = "exited";
    r.status.detail = describeExit(exit);
    onChange();
  });
}
