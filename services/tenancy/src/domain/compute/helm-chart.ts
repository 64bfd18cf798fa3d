import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import type { Helm } from "./helm-cli.ts";

/**
 * The tenant chart's version: `version` of a chart directory's Chart.yaml, or of `helm show chart`
 * for a packaged `.tgz`. Read again whenever the file changes (size or modification time), so an
 * operator who replaces the chart in place is seen without a restart.
 */
export function chartVersionReader(
  chart: string,
  helm: Helm,
): (signal: AbortSignal, deadline: number) => Promise<string> {
  let cached: { key: string; version: string } | undefined;
  return async (signal, deadline) => {
    const info = await stat(chart).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`tenant chart ${chart}: ${err.code === "ENOENT" ? "not found" : err.message}`);
    });
    const file = info.isDirectory() ? join(chart, "Chart.yaml") : chart;
    const fileInfo = info.isDirectory() ? await stat(file) : info;
    const key = `${file}|${fileInfo.size}|${fileInfo.mtimeMs}`;
    if (cached?.key === key) return cached.version;
    const text = info.isDirectory()
      ? await readFile(file, { encoding: "utf8", signal })
      : await helm(`helm show chart ${chart}`, ["show", "chart", chart], signal, deadline);
    // failsafe: every scalar stays a string (`version: 1.10` is not the number 1.1)
    const meta = parse(text, { schema: "failsafe" }) as { version?: unknown } | null;
    const version = typeof meta?.version === "string" ? meta.version.trim() : "";
    if (!version) throw new Error(`tenant chart ${chart}: its Chart.yaml has no version`);
    cached = { key, version };
    return version;
  };
}

// biome-ignore lint/suspicious/noExplicitAny: helm's computed values are loosely typed JSON; fields are checked where read
type Loose = any;

/** Sprig's `kebabcase` as the chart names a component's objects: `auditLog` → `audit-log`. */
export function kebabCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1-$2")
    .replace(/[_\s]+/g, "-")
    .toLowerCase();
}

/**
 * Where a release's services answer, from its computed values (`helm get values --all`): every
 * component block (a map with `kind` and `port`, as the chart's "componentNames" finds them) that is
 * enabled and of kind `service` → `http://<component>.<namespace>.svc.cluster.local:<port>` (the
 * component's Service, named as the chart names it, on its gRPC port).
 */
export function endpointsOf(values: Loose, namespace: string): Record<string, string> {
  const endpoints: Record<string, string> = {};
  if (!values || typeof values !== "object") return endpoints;
  const defaultEnabled = values.defaults?.enabled;
  for (const name of Object.keys(values).sort()) {
    const block = values[name];
    if (!block || typeof block !== "object" || Array.isArray(block) || !("kind" in block) || !("port" in block))
      continue;
    const enabled = block.enabled ?? defaultEnabled;
    const port = Number(block.port);
    if (enabled !== true || block.kind !== "service" || !Number.isInteger(port) || port <= 0) continue;
    const service = kebabCase(name).slice(0, 63).replace(/-+$/, "");
    endpoints[name] = `http://${service}.${namespace}.svc.cluster.local:${port}`;
  }
  return endpoints;
}
