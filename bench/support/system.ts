/**
 * What benches read about the processes and the database server beside their own numbers: a child
 * process's CPU time and resident memory (from /proc), and the connections a service's roles hold
 * (from pg_stat_activity).
 */
import { readFileSync } from "node:fs";
import pg from "pg";

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
const CLOCK_TICKS = 100;

/** CPU time (user + system, µs) of the given processes, from /proc; NaN where /proc is not there. */
export function processCpuMicros(pids: ReadonlyArray<number | undefined>): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    } catch {
      return Number.NaN;
    }
  }
  return (ticks / CLOCK_TICKS) * 1e6;
}

/** Resident set size of a process in MiB (VmRSS), from /proc; NaN where /proc is not there. */
export function processRssMiB(pid: number | undefined): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
    return kib === undefined ? Number.NaN : Number(kib) / 1024;
  } catch {
    return Number.NaN;
  }
}

/** The connections one service's two roles hold on the server, split by database and role. */
export interface ServiceConnections {
  readonly total: number;
  /** On the service's pool database (app role, outbox relay, owner pool). */
  readonly pool: number;
  /** On dedicated (tenant) databases, as the app role (the router's per-database pools). */
  readonly dedicatedApp: number;
  /** On dedicated databases, as the owner role (each open database's outbox relay; migrations). */
  readonly dedicatedOwner: number;
  /** Distinct dedicated databases with at least one connection of the service. */
  readonly dedicatedDatabases: number;
}

/**
 * Reads pg_stat_activity as a superuser. `roles` are the service's owner and app roles: every
 * connection the service makes (pool database, router, relays, migrations) logs in as one of them.
 */
export async function connectionMonitor(
  adminUrl: string,
  service: { readonly poolDatabase: string; readonly ownerRole: string; readonly appRole: string },
) {
  const client = new pg.Client({ connectionString: adminUrl, application_name: "tessera-bench-monitor" });
  client.on("error", () => undefined);
  await client.connect();
  const maxConnections = Number(
    (await client.query<{ max_connections: string }>("show max_connections")).rows[0]?.max_connections,
  );
  let busy: Promise<unknown> = Promise.resolve();
  const read = async (): Promise<ServiceConnections> => {
    const run = busy.then(() =>
      client.query<{ [K in keyof ServiceConnections]: number }>(
        `select count(*)::int as total,
                count(*) filter (where datname = $1)::int as pool,
                count(*) filter (where datname <> $1 and usename = $3)::int as "dedicatedApp",
                count(*) filter (where datname <> $1 and usename = $2)::int as "dedicatedOwner",
                count(distinct datname) filter (where datname <> $1)::int as "dedicatedDatabases"
           from pg_stat_activity where usename in ($2, $3)`,
        [service.poolDatabase, service.ownerRole, service.appRole],
      ),
    );
    busy = run.catch(() => undefined);
    const row = (await run).rows[0];
    if (!row) throw new Error("pg_stat_activity returned no row");
    return row;
  };
  return {
    /** The server's `max_connections`. */
    maxConnections,
    read,
    /**
     * Samples every `intervalMs` until `stop()`, which resolves to the largest total and the most
     * dedicated databases seen (a database opening and closing between samples can be missed).
     */
    sample(intervalMs = 100) {
      const peak = { total: 0, dedicatedDatabases: 0 };
      let stopped = false;
      const loop = (async () => {
        while (!stopped) {
          const now = await read().catch(() => undefined);
          if (now) {
            peak.total = Math.max(peak.total, now.total);
            peak.dedicatedDatabases = Math.max(peak.dedicatedDatabases, now.dedicatedDatabases);
          }
          await new Promise((r) => setTimeout(r, intervalMs));
        }
      })();
      return {
        async stop() {
          stopped = true;
          await loop;
          return peak;
        },
      };
    },
    /** A superuser query on one database of the server (beneath the contracts, for checks). */
    async queryDatabase<T extends pg.QueryResultRow>(database: string, sql: string, params: unknown[] = []) {
      const url = new URL(adminUrl);
      url.pathname = `/${database}`;
      const one = new pg.Client({ connectionString: url.toString(), application_name: "tessera-bench-monitor" });
      await one.connect();
      try {
        return (await one.query<T>(sql, params)).rows;
      } finally {
        await one.end();
      }
    },
    close: () => client.end().catch(() => undefined),
  };
}
