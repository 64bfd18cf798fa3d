import { generateKeyPairSync, randomInt } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject } from "vitest";
import { registerSecret } from "./secrets.ts";
import type { ServiceDatabase } from "./service-database.ts";
import type { RunningService } from "./service-process.ts";

const servicesDir = new URL("../../services/", import.meta.url).pathname;

/**
 * tenancy's data plane in a test platform: the routed projects service and identity, dedicated
 * databases on the run's PostgreSQL (server "main"), export bundles in a temporary folder signed
 * with a fresh key.
 */
export function tenancyDataPlaneEnv(
  projects: { service: RunningService; db: ServiceDatabase } | undefined,
  identityUrl: string,
  identityDb: ServiceDatabase,
): Record<string, string> {
  const data = [
    { name: "identity", url: identityUrl, routed: false, database: identityDb.name },
    ...(projects ? [{ name: "projects", url: projects.service.url, routed: true, database: projects.db.name }] : []),
  ];
  const { privateKey } = generateKeyPairSync("ed25519");
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return {
    TENANCY_DATA_SERVICES: JSON.stringify(data),
    TENANCY_DATABASE_SERVERS: JSON.stringify({ main: inject("pgAdminUrl") }),
    TENANCY_DEFAULT_DATABASE_SERVER: "main",
    TENANCY_EXPORT_DIR: mkdtempSync(join(tmpdir(), "tessera-exports-")),
    TENANCY_EXPORT_SIGNING_KEY: registerSecret(pem),
    TENANCY_MOVE_DRAIN_MS: "1500",
    TENANCY_MOVE_GRACE_MS: "2000",
    PROVISIONING_RETRY_INITIAL_MS: "200",
    PROVISIONING_RETRY_MAX_MS: "2000",
  };
}

/** tenancy's `local` compute driver in a test platform: where its spec and per-tenant state live. */
export interface LocalCompute {
  /** TENANCY_LOCAL_COMPUTE_FILE (tests may rewrite it, e.g. another version). */
  readonly specFile: string;
  /** The driver's per-tenant state files (`<tenant id>.json`: ports, pids). */
  readonly stateDir: string;
  /** tenancy's environment for it. */
  readonly env: Record<string, string>;
  /** Kills any tenant process still running (a tenancy that was killed leaves them) and removes the folder. */
  cleanUp(): void;
}

/**
 * A spec for the `local` compute driver: silo tenants get their own projects process, started with
 * the pool instance's environment (`projectsEnv`), ports from a random range below Linux's
 * ephemeral ports, logs in the run's log folder (so the log scan reads them).
 */
export function localCompute(projectsEnv: Record<string, string>, version = "test-1"): LocalCompute {
  const dir = mkdtempSync(join(tmpdir(), "tessera-local-compute-"));
  const stateDir = join(dir, "state");
  const specFile = join(dir, "spec.json");
  const from = randomInt(20_000, 31_000);
  writeFileSync(
    specFile,
    JSON.stringify({
      version,
      host: "127.0.0.1",
      ports: { from, to: from + 499 },
      stateDir,
      logDir: join(inject("runDir"), "logs"),
      stopGraceMs: 5_000,
      drainMs: 1_000,
      services: {
        projects: {
          command: process.execPath,
          args: [`${servicesDir}projects/src/main.ts`],
          cwd: `${servicesDir}projects`,
          env: { ...projectsEnv, PATH: process.env.PATH ?? "" },
          metricsPort: true,
        },
      },
    }),
    { mode: 0o600 },
  );
  return {
    specFile,
    stateDir,
    env: { TENANCY_COMPUTE_DRIVER: "local", TENANCY_LOCAL_COMPUTE_FILE: specFile },
    cleanUp() {
      for (const pid of recordedPids(stateDir)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone already
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Every pid the driver's state files record (current and retired processes). */
export function recordedPids(stateDir: string): number[] {
  let files: string[];
  try {
    files = readdirSync(stateDir).filter((f) => f.endsWith(".json"));
  } catch {
    return [];
  }
  return files.flatMap((f) => {
    try {
      const state = JSON.parse(readFileSync(join(stateDir, f), "utf8")) as {
        services?: Record<string, { pid?: number }>;
        retired?: Array<{ pid?: number }>;
      };
      return [...Object.values(state.services ?? {}), ...(state.retired ?? [])]
        .map((p) => p.pid)
        .filter((p): p is number => typeof p === "number");
    } catch {
      return [];
    }
  });
}
