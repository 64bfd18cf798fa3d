import type { LoggerNamespace, MigrationsOptions, Options } from "@mikro-orm/core";
import { Migrator } from "@mikro-orm/migrations";
import { MikroORM, PostgreSqlDriver } from "@mikro-orm/postgresql";
import { type Logger, rootLogger } from "../log/index.ts";
import { createOrmLogger } from "./orm-logger.ts";

/** The ORM instance services get from createDb (PostgreSQL driver). */
export type Orm = MikroORM;

/** The entity list createDb accepts: schemas from `defineEntity`. */
export type Entities = NonNullable<Options["entities"]>;

/** Migration classes (or `{ name, class }` objects, whose names survive minification), in order. */
export type MigrationList = NonNullable<MigrationsOptions["migrationsList"]>;

/** Options of createDb. */
export interface DbOptions {
  /** postgres:// URL; at run time the app role's (see provisionDatabase), for migrations the owner's. */
  url: string;
  /** Entity schemas (`defineEntity`); may be empty for raw-SQL-only use. */
  entities: Entities;
  /** Migrations runMigrations applies, in order. */
  migrations?: MigrationList;
  /** Pool size. Default 10. */
  poolMax?: number;
  /** Server-side deadline of every statement (`statement_timeout`). Default 10 000 ms. */
  statementTimeoutMs?: number;
  /** How long a caller waits for a pooled connection (or a new one to open). Default 10 000 ms. */
  acquireTimeoutMs?: number;
  /** The server ends a session idle inside an open transaction this long. Default 60 000 ms. */
  idleInTransactionTimeoutMs?: number;
  /** Log SQL (never parameter values) at debug level; `true` or MikroORM namespaces. Default false. */
  debug?: boolean | LoggerNamespace[];
  /** Where ORM warnings and debug output go. Default rootLogger(). */
  logger?: Logger;
  /** Reported to PostgreSQL as application_name (visible in pg_stat_activity). */
  applicationName?: string;
}

/** A connected ORM and the way to close it. */
export interface Db {
  orm: Orm;
  /** Closes the pool; safe to call more than once. */
  close(): Promise<void>;
}

function positiveInt(value: number | undefined, fallback: number, what: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${what} must be a positive integer`);
  return v;
}

/** Host, database and user of a URL, for log lines: never the password. */
function describe(url: URL): Record<string, string> {
  return {
    db_host: url.host,
    db_name: decodeURIComponent(url.pathname.slice(1)),
    db_user: decodeURIComponent(url.username),
  };
}

/**
 * Builds a MikroORM instance on PostgreSQL with deadlines on everything: `statement_timeout` on
 * every connection, a bounded wait for a pooled connection, a client-side read timeout as a
 * backstop for a silent network, and `idle_in_transaction_session_timeout`. Connects once to fail
 * fast on a wrong URL or password. Use the ORM through withTenantTransaction / withPlatformTransaction.
 */
export async function createDb(options: DbOptions): Promise<Db> {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new TypeError("db url must be a postgres:// URL");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new TypeError("db url must be a postgres:// URL");
  }
  if (url.pathname.length < 2) throw new TypeError("db url must name a database");
  const poolMax = positiveInt(options.poolMax, 10, "poolMax");
  const statementTimeoutMs = positiveInt(options.statementTimeoutMs, 10_000, "statementTimeoutMs");
  const acquireTimeoutMs = positiveInt(options.acquireTimeoutMs, 10_000, "acquireTimeoutMs");
  const idleInTxMs = positiveInt(options.idleInTransactionTimeoutMs, 60_000, "idleInTransactionTimeoutMs");
  const log = (options.logger ?? rootLogger()).child({ component: "db" });

  const orm = await MikroORM.init({
    driver: PostgreSqlDriver,
    clientUrl: options.url,
    entities: options.entities,
    // a relay or job may use only raw SQL on platform tables
    discovery: { warnWhenNoEntities: false },
    extensions: [Migrator],
    ensureDatabase: false,
    allowGlobalContext: false,
    colors: false,
    debug: options.debug ?? false,
    loggerFactory: () => createOrmLogger(log, options.debug ?? false),
    pool: { min: 0, max: poolMax, idleTimeoutMillis: 30_000 },
    driverOptions: {
      connectionTimeoutMillis: acquireTimeoutMs,
      statement_timeout: statementTimeoutMs,
      query_timeout: statementTimeoutMs + 5_000,
      idle_in_transaction_session_timeout: idleInTxMs,
      keepAlive: true,
      application_name: options.applicationName ?? "tessera",
    },
    migrations: {
      migrationsList: options.migrations ?? [],
      transactional: true,
      allOrNothing: true,
      // snapshots are files written next to file-based migrations; class lists have no folder
      snapshot: false,
      silent: true,
    },
  });

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await orm.close(true);
  };

  try {
    await orm.connect();
    const check = await orm.checkConnection();
    if (!check.ok) throw new Error(`cannot connect to PostgreSQL: ${check.reason}`, { cause: check.error });
  } catch (err) {
    await close();
    throw err;
  }
  log.info({ ...describe(url), pool_max: poolMax, statement_timeout_ms: statementTimeoutMs }, "db ready");
  return { orm, close };
}

/** Advisory lock key that serialises migration runs of one database across processes. */
const MIGRATION_LOCK = 0x7e55e4a;

function isDuplicateTable(err: unknown): boolean {
  const code = typeof err === "object" && err !== null && "code" in err ? String(err.code) : "";
  // duplicate_table, duplicate_object (its row type), unique_violation (pg_type's index)
  return code === "42P07" || code === "42710" || code === "23505";
}

/**
 * Applies the pending migrations given to createDb, all in one transaction, holding an advisory
 * lock so two processes starting together do not race. Returns the names applied (empty when the
 * database is current). Run it with the owner role's URL: the app role cannot create tables. The
 * owner is bound by the tenant policies too, so data migrations over tenant tables must set
 * `app.tenant_id` per tenant; give the migrating createDb a larger `statementTimeoutMs` when a
 * migration needs more than the default 10 s per statement.
 */
export async function runMigrations(orm: Orm): Promise<string[]> {
  // The migrator creates its bookkeeping table on first use, outside any transaction, so it is
  // initialised here before the lock (a pool of one would otherwise wait on itself); a process
  // that loses the race to create the table finds it created and carries on.
  try {
    await orm.migrator.getPending();
  } catch (err) {
    if (!isDuplicateTable(err)) throw err;
  }
  const connection = orm.em.getConnection();
  const applied = await connection.transactional(async (trx) => {
    await connection.execute("select pg_advisory_xact_lock(?)", [MIGRATION_LOCK], "run", trx);
    return orm.migrator.up({ transaction: trx });
  });
  return applied.map((m) => m.name);
}
