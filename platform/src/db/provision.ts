import pg from "pg";
import { quoteIdentifier } from "./identifiers.ts";
import { scramVerifier } from "./scram.ts";

/** Options of provisionDatabase. */
export interface ProvisionOptions {
  /**
   * URL of a superuser (or a cloud admin role that may create roles and databases and act as
   * the roles it creates). Used only here, never by services.
   */
  adminUrl: string;
  /** Database to create when missing. Lower-case identifier. */
  database: string;
  /** Role that owns the schema and tables and runs migrations (NOSUPERUSER, NOBYPASSRLS). */
  ownerRole: string;
  /** Role services connect as at run time: owns nothing, may only read and write rows. */
  appRole: string;
  /**
   * Login passwords of the two roles, at least 16 printable ASCII characters (set on every call,
   * so a call also rotates them). Sent to the server as SCRAM verifiers, never in plain text.
   */
  passwords: { owner: string; app: string };
  /** Deadline for each admin statement and for connecting. Default 30 000 ms. */
  timeoutMs?: number;
}

/** Connection URLs of the two roles. They contain passwords: treat them as secrets, never log them. */
export interface ProvisionedDatabase {
  ownerUrl: string;
  appUrl: string;
}

const DUPLICATE_OBJECT = "42710";
const DUPLICATE_DATABASE = "42P04";
const UNIQUE_VIOLATION = "23505";

function errorCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String(err.code) : undefined;
}

async function withClient<T>(url: string, timeoutMs: number, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: timeoutMs,
    statement_timeout: timeoutMs,
    query_timeout: timeoutMs + 5_000,
    application_name: "tessera-provision",
  });
  // an 'error' event without a listener would crash the process if the server drops us
  client.on("error", () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Runs a CREATE that may lose a race with a concurrent provisioner; losing is fine. */
async function createIgnoringDuplicate(client: pg.Client, sql: string): Promise<void> {
  try {
    await client.query(sql);
  } catch (err) {
    const code = errorCode(err);
    if (code !== DUPLICATE_OBJECT && code !== DUPLICATE_DATABASE && code !== UNIQUE_VIOLATION) throw err;
  }
}

async function ensureRole(client: pg.Client, role: string, password: string): Promise<void> {
  const name = quoteIdentifier(role, "role name");
  const exists = await client.query("select 1 from pg_roles where rolname = $1", [role]);
  // attributes are (re)stated on every call so a role altered by hand is brought back in line
  const attributes = `LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION INHERIT PASSWORD ${client.escapeLiteral(scramVerifier(password))}`;
  if (exists.rowCount === 0) await createIgnoringDuplicate(client, `CREATE ROLE ${name} WITH ${attributes}`);
  await client.query(`ALTER ROLE ${name} WITH ${attributes}`);
}

function roleUrl(adminUrl: URL, database: string, role: string, password: string): string {
  const url = new URL(adminUrl.toString());
  url.username = encodeURIComponent(role);
  url.password = encodeURIComponent(password);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * Prepares a database for a service, idempotently: creates the database if missing, an owner role
 * (owns the database and its `public` schema, runs migrations, is bound by row-level security
 * because policies are FORCEd) and an app role (LOGIN, NOSUPERUSER, NOBYPASSRLS, owns nothing,
 * not a member of the owner) that gets USAGE on the schema and, through
 * `ALTER DEFAULT PRIVILEGES FOR ROLE <owner>`, SELECT/INSERT/UPDATE/DELETE on every table and
 * USAGE/SELECT on every sequence the owner creates. Other roles lose CONNECT and CREATE.
 * Returns the two roles' URLs (same host as adminUrl). Role names are cluster-wide.
 */
export async function provisionDatabase(options: ProvisionOptions): Promise<ProvisionedDatabase> {
  quoteIdentifier(options.database, "database name");
  const owner = quoteIdentifier(options.ownerRole, "owner role");
  const app = quoteIdentifier(options.appRole, "app role");
  if (options.ownerRole === options.appRole) throw new TypeError("owner role and app role must differ");
  for (const which of ["owner", "app"] as const) {
    const pw: unknown = options.passwords?.[which];
    if (typeof pw !== "string" || pw.length < 16)
      throw new TypeError(`passwords.${which} must be at least 16 characters`);
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  let admin: URL;
  try {
    admin = new URL(options.adminUrl);
  } catch {
    throw new TypeError("adminUrl must be a postgres:// URL");
  }

  await withClient(options.adminUrl, timeoutMs, async (c) => {
    await ensureRole(c, options.ownerRole, options.passwords.owner);
    await ensureRole(c, options.appRole, options.passwords.app);
    // the app role must not be able to become the owner (SET ROLE) or inherit its rights
    await c.query(`REVOKE ${owner} FROM ${app}`);
  });
  await ensureDatabase(
    options.adminUrl,
    options.database,
    { owner: options.ownerRole, app: options.appRole },
    timeoutMs,
  );

  return {
    ownerUrl: roleUrl(admin, options.database, options.ownerRole, options.passwords.owner),
    appUrl: roleUrl(admin, options.database, options.appRole, options.passwords.app),
  };
}

/**
 * Creates (when missing) a database owned by `roles.owner` that only `roles.app` may also connect
 * to, with the same schema rights as {@link provisionDatabase}; for roles that already exist on the
 * server (a tenant's dedicated database of a service). Idempotent.
 */
export async function ensureDatabase(
  adminUrl: string,
  database: string,
  roles: { owner: string; app: string },
  timeoutMs = 30_000,
): Promise<void> {
  const db = quoteIdentifier(database, "database name");
  const owner = quoteIdentifier(roles.owner, "owner role");
  const app = quoteIdentifier(roles.app, "app role");
  await withClient(adminUrl, timeoutMs, async (c) => {
    const exists = await c.query("select 1 from pg_database where datname = $1", [database]);
    if (exists.rowCount === 0) await createIgnoringDuplicate(c, `CREATE DATABASE ${db} OWNER ${owner}`);
    await c.query(`ALTER DATABASE ${db} OWNER TO ${owner}`);
    await c.query(`REVOKE ALL ON DATABASE ${db} FROM PUBLIC`);
    await c.query(`GRANT CONNECT, TEMPORARY ON DATABASE ${db} TO ${app}`);
  });
  const dbAdminUrl = new URL(adminUrl);
  dbAdminUrl.pathname = `/${database}`;
  await withClient(dbAdminUrl.toString(), timeoutMs, async (c) => {
    await c.query(`ALTER SCHEMA public OWNER TO ${owner}`);
    await c.query("REVOKE ALL ON SCHEMA public FROM PUBLIC");
    await c.query(`GRANT USAGE ON SCHEMA public TO ${app}`);
    await c.query(
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${app}`,
    );
    await c.query(
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ${app}`,
    );
    // tables created before this call (a re-run after migrations) get the same rights
    await c.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${app}`);
    await c.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${app}`);
  });
}

/** Drops a database (ending its sessions first) when it exists. Idempotent. */
export async function dropDatabase(adminUrl: string, database: string, timeoutMs = 30_000): Promise<void> {
  const db = quoteIdentifier(database, "database name");
  await withClient(adminUrl, timeoutMs, (c) => c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`));
}
