import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Deployable } from "./deployables.ts";

/** How many ports silo tenants' processes may use (gRPC and metrics: two per tenant and service). */
const SILO_PORTS = 1_000;

/** Where `up` writes tenancy's local compute spec (mode 0600: it holds the services' credentials). */
export const localComputeFile = (home: string): string => join(home, "local-compute.json");

/** The tenant chart's version in the workspace (what a silo tenant's local compute reports), or "0.0.0-local". */
export function tenantChartVersion(workspace: string): string {
  const chart = join(workspace, "charts", "tessera-tenant", "Chart.yaml");
  if (!existsSync(chart)) return "0.0.0-local";
  const version = /^version:\s*["']?([^"'\s]+)/m.exec(readFileSync(chart, "utf8"))?.[1];
  return version ?? "0.0.0-local";
}

/**
 * tenancy's `local` compute spec: every deployable marked `"tenantData": "routed"` started as its
 * pool instance is (node, its main, its folder, the platform's environment and its own `env`), on
 * ports just above every deployable's (they move with TESSERA_PORT_OFFSET), state under
 * `<home>/silo`, logs beside the others in `<home>/logs`. Undefined when there is no routed service
 * or no room for the ports.
 */
export function localComputeSpec(
  deployables: readonly Deployable[],
  envOf: (d: Deployable) => Record<string, string>,
  home: string,
  version: string,
  metricsPortOf: (d: Deployable) => number,
): Record<string, unknown> | undefined {
  const routed = deployables.filter((d) => d.kind === "service" && d.tenantData === "routed");
  if (routed.length === 0) return undefined;
  const from = Math.max(...deployables.flatMap((d) => [d.port, metricsPortOf(d)])) + 1;
  const to = Math.min(65_535, from + SILO_PORTS - 1);
  if (to - from < 10) return undefined;
  return {
    version,
    host: "127.0.0.1",
    ports: { from, to },
    stateDir: join(home, "silo"),
    logDir: join(home, "logs"),
    services: Object.fromEntries(
      routed.map((d) => [
        d.name,
        { command: process.execPath, args: [d.main], cwd: d.dir, env: { ...envOf(d), ...d.env }, metricsPort: true },
      ]),
    ),
  };
}

/** Writes the spec atomically with mode 0600; returns its path. */
export function writeLocalComputeSpec(home: string, spec: Record<string, unknown>): string {
  mkdirSync(home, { recursive: true });
  const file = localComputeFile(home);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(spec, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  return file;
}
