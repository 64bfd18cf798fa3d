import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";

/** A service or gateway `up` starts, from the `"tessera"` block of its package.json. */
export interface Deployable {
  /** The package's folder name; also its SERVICE_NAME. */
  name: string;
  kind: "service" | "gateway";
  /** Package folder (the child's working directory). */
  dir: string;
  /** Absolute path of the entry point. */
  main: string;
  port: number;
  /** Absolute path of the migrate script, run to completion before main starts. */
  migrate: string | undefined;
  /** Extra environment for the child. */
  env: Record<string, string>;
  /** The service's own database (`tessera_<name>`), provisioned with an owner and an app role. */
  database: string | undefined;
  /** Absolute path of a seed script, run to completion after migrate and before main. */
  seed: string | undefined;
  /**
   * Whether the service holds tenant data: `routed` (it follows the tenant's placement into
   * dedicated databases) or `shared` (kept in its own database; exported and deleted with the tenant).
   */
  tenantData: "routed" | "shared" | undefined;
}

/** Thrown when package.json files declare deployables wrongly; lists every problem. */
export class DeployableConfigError extends Error {
  constructor(problems: string[]) {
    super(`deployables are misconfigured:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "DeployableConfigError";
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function readBlock(dir: string, root: string, problems: string[]): Deployable | undefined {
  const file = join(dir, "package.json");
  const where = relative(root, file);
  let pkg: unknown;
  try {
    pkg = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    problems.push(`${where}: not valid JSON (${(err as Error).message})`);
    return undefined;
  }
  if (!isRecord(pkg) || pkg.tessera === undefined) return undefined;
  const block = pkg.tessera;
  if (!isRecord(block)) {
    problems.push(`${where}: "tessera" must be an object`);
    return undefined;
  }
  const before = problems.length;
  const { kind, main, port, migrate, env, database, seed, tenantData } = block;
  if (tenantData !== undefined && tenantData !== "routed" && tenantData !== "shared")
    problems.push(`${where}: tessera.tenantData must be "routed" or "shared"`);
  if (kind !== "service" && kind !== "gateway") problems.push(`${where}: tessera.kind must be "service" or "gateway"`);
  const file_ = (key: string, value: unknown): string | undefined => {
    if (typeof value !== "string" || value === "") {
      problems.push(`${where}: tessera.${key} must be a path relative to the package`);
      return undefined;
    }
    const path = resolve(dir, value);
    if (!existsSync(path)) problems.push(`${where}: tessera.${key} ${value} does not exist`);
    return path;
  };
  const mainPath = file_("main", main);
  const migratePath = migrate === undefined ? undefined : file_("migrate", migrate);
  const seedPath = seed === undefined ? undefined : file_("seed", seed);
  if (database !== undefined && (typeof database !== "string" || !/^[a-z_][a-z0-9_]{0,50}$/.test(database)))
    problems.push(`${where}: tessera.database must be a lower-case identifier of at most 51 characters`);
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535)
    problems.push(`${where}: tessera.port must be an integer from 1 to 65535`);
  const childEnv: Record<string, string> = {};
  if (env !== undefined) {
    if (!isRecord(env)) problems.push(`${where}: tessera.env must be an object of strings`);
    else
      for (const [key, value] of Object.entries(env)) {
        if (typeof value === "string") childEnv[key] = value;
        else problems.push(`${where}: tessera.env.${key} must be a string`);
      }
  }
  if (problems.length > before || !mainPath) return undefined;
  return {
    name: basename(dir),
    kind: kind as Deployable["kind"],
    dir,
    main: mainPath,
    port: port as number,
    migrate: migratePath,
    env: childEnv,
    database: database as string | undefined,
    seed: seedPath,
    tenantData: tenantData as Deployable["tenantData"],
  };
}

function packageDirs(parent: string): string[] {
  if (!existsSync(parent)) return [];
  return readdirSync(parent, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(parent, e.name, "package.json")))
    .map((e) => join(parent, e.name))
    .sort();
}

/**
 * Every `services/*` and `gateway/*` package under root that declares a `"tessera"` block,
 * services first (gateways call them). Packages without the block are not deployables.
 */
export function discoverDeployables(root: string): Deployable[] {
  const problems: string[] = [];
  const found = [...packageDirs(join(root, "services")), ...packageDirs(join(root, "gateway"))]
    .map((dir) => readBlock(dir, root, problems))
    .filter((d): d is Deployable => d !== undefined);
  const seen = new Map<string, string>();
  for (const d of found) {
    for (const [key, label] of [
      [`name:${d.name}`, `name ${d.name}`],
      [`port:${d.port}`, `port ${d.port}`],
    ] as const) {
      const other = seen.get(key);
      if (other) problems.push(`${other} and ${relative(root, d.dir)} both use ${label}`);
      else seen.set(key, relative(root, d.dir));
    }
  }
  if (problems.length > 0) throw new DeployableConfigError(problems);
  return found.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === "service" ? -1 : 1));
}

/**
 * The deployables moved by `offset` ports: their port and every `*_PORT` value in their env
 * (TESSERA_PORT_OFFSET), so a second platform can run beside one, or away from the ephemeral range.
 */
export function shiftPorts(deployables: readonly Deployable[], offset: number): Deployable[] {
  if (offset === 0) return [...deployables];
  const outside = deployables.filter((d) => d.port + offset < 1 || d.port + offset + 1000 > 65535);
  if (outside.length > 0)
    throw new DeployableConfigError(
      outside.map((d) => `TESSERA_PORT_OFFSET moves ${d.name}'s port ${d.port} out of range`),
    );
  return deployables.map((d) => ({
    ...d,
    port: d.port + offset,
    env: Object.fromEntries(
      Object.entries(d.env).map(([k, v]) => [
        k,
        k.endsWith("_PORT") && /^\d+$/.test(v) ? String(Number(v) + offset) : v,
      ]),
    ),
  }));
}
