import { type InfraProvider, infraProviderFromEnv } from "../infra/index.ts";
import { tesseraHome, workspaceRoot } from "../paths.ts";

/** Everything `up` reads from the environment, checked once. */
export interface UpSettings {
  /** Data, lock, logs and runtime.json (TESSERA_HOME, default `.tessera/`). */
  home: string;
  /** Where services/* and gateway/* are discovered (TESSERA_WORKSPACE, default the repository). */
  workspace: string;
  provider: InfraProvider;
  /** Superuser URL to adopt instead of starting PostgreSQL (DATABASE_URL). */
  databaseUrl: string | undefined;
  /** NATS to adopt instead of starting nats-server (NATS_URL). */
  natsUrl: string | undefined;
  pgPort: number;
  natsPort: number;
  logLevel: string;
  /** How long a deployable may take to answer its health check. */
  healthTimeoutMs: number;
  /** How long a migrate script may run. */
  migrateTimeoutMs: number;
  /** How long a child gets between SIGTERM and SIGKILL. */
  stopGraceMs: number;
  /** Added to every deployable's port (and `*_PORT` in its env), to run a second platform beside one. */
  portOffset: number;
}

/** Thrown with every problem in the environment at once, so one fix-up round is enough. */
export class SettingsError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid environment:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "SettingsError";
    this.problems = problems;
  }
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number, problems: string[]) {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    problems.push(`${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(raw)}`);
    return fallback;
  }
  return value;
}

function url(env: NodeJS.ProcessEnv, name: string, protocols: string[], problems: string[]): string | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    problems.push(`${name} is not a URL`);
    return undefined;
  }
  if (!protocols.includes(parsed.protocol)) {
    problems.push(`${name} must start with ${protocols.map((p) => `${p}//`).join(" or ")}, not ${parsed.protocol}//`);
    return undefined;
  }
  return raw;
}

/** Reads and checks the environment `up` depends on; throws {@link SettingsError} listing all problems. */
export function readUpSettings(env: NodeJS.ProcessEnv = process.env): UpSettings {
  const problems: string[] = [];
  let provider: InfraProvider = "embedded";
  try {
    provider = infraProviderFromEnv(env);
  } catch (err) {
    problems.push((err as Error).message);
  }
  const settings: UpSettings = {
    home: tesseraHome(env),
    workspace: workspaceRoot(env),
    provider,
    databaseUrl: url(env, "DATABASE_URL", ["postgres:", "postgresql:"], problems),
    natsUrl: url(env, "NATS_URL", ["nats:", "tls:"], problems),
    pgPort: integer(env, "TESSERA_PG_PORT", 54329, 1, 65535, problems),
    natsPort: integer(env, "TESSERA_NATS_PORT", 42229, 1, 65535, problems),
    logLevel: env.LOG_LEVEL || "info",
    healthTimeoutMs: integer(env, "TESSERA_HEALTH_TIMEOUT_MS", 60_000, 100, 3_600_000, problems),
    migrateTimeoutMs: integer(env, "TESSERA_MIGRATE_TIMEOUT_MS", 300_000, 100, 3_600_000, problems),
    stopGraceMs: integer(env, "TESSERA_STOP_GRACE_MS", 10_000, 0, 600_000, problems),
    portOffset: integer(env, "TESSERA_PORT_OFFSET", 0, -40_000, 14_000, problems),
  };
  if (!settings.databaseUrl && !settings.natsUrl && provider === "embedded" && settings.pgPort === settings.natsPort)
    problems.push("TESSERA_PG_PORT and TESSERA_NATS_PORT must differ");
  if (problems.length > 0) throw new SettingsError(problems);
  return settings;
}
