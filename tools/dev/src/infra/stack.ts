import { join } from "node:path";
import { startNats } from "./nats.ts";
import { startEmbeddedPostgres } from "./postgres.ts";
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
      const pg = await startEmbeddedPostgres({
        dataDir: join(options.dataDir, "postgres"),
        persistent: options.persistent,
        ...(options.fast !== undefined && { fast: options.fast }),
        ...(options.pgPort !== undefined && { port: options.pgPort }),
        onLog: (line) => options.onLog?.("postgres", line),
      });
      stops.push(pg.stop);
      pgAdminUrl = pg.adminUrl;
    }
    let natsUrl = options.externalNatsUrl;
    if (!natsUrl) {
      const nats = await startNats({
        storeDir: join(options.dataDir, "nats"),
        ...(options.natsPort !== undefined && { port: options.natsPort }),
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
        for (const stop of stops) await stop();
      },
    };
  } catch (err) {
    for (const stop of stops) await stop().catch(() => {});
    throw err;
  }
}
