import { randomBytes } from "node:crypto";
import { createDb, provisionDatabase, runMigrations } from "@tessera/platform/db";
import { createLogger, type Logger } from "@tessera/platform/log";
import {
  type CapturedLogs,
  captureLogs,
  freshDatabase,
  registerSecret,
  type TestDatabase,
} from "@tessera/test/harness";
import pg from "pg";
import { inject } from "vitest";
import { migrations, Note } from "./notes.ts";

/** A provisioned, migrated database with its two roles, unique to one test file. */
export interface NotesDatabase {
  db: TestDatabase;
  ownerRole: string;
  appRole: string;
  passwords: { owner: string; app: string };
  ownerUrl: string;
  appUrl: string;
  logs: CapturedLogs;
  logger: Logger;
  /** Runs SQL as the superuser on the test database (bypasses RLS). */
  admin<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Drops the database, then the two cluster-wide roles. */
  drop(): Promise<void>;
}

export function uniqueRoles(): { ownerRole: string; appRole: string } {
  const suffix = randomBytes(5).toString("hex");
  return { ownerRole: `kit_owner_${suffix}`, appRole: `kit_app_${suffix}` };
}

/** Fresh role passwords, registered so the run's log scan fails if one is ever logged. */
export function newPasswords(): { owner: string; app: string } {
  return {
    owner: registerSecret(randomBytes(18).toString("base64url")),
    app: registerSecret(randomBytes(18).toString("base64url")),
  };
}

/** Runs one statement on a short-lived client. */
export async function query<R extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, statement_timeout: 10_000 });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export async function dropRoles(...roles: string[]): Promise<void> {
  for (const role of roles) await query(inject("pgAdminUrl"), `DROP ROLE IF EXISTS "${role}"`);
}

/** Fresh database + provisionDatabase + the notes migrations run as the owner role. */
export async function notesDatabase(name: string): Promise<NotesDatabase> {
  const db = await freshDatabase("dbkit");
  const { ownerRole, appRole } = uniqueRoles();
  const passwords = newPasswords();
  const logs = captureLogs(name);
  const logger = createLogger({ service: "db-kit-test", destination: logs.stream, level: "debug" });
  try {
    const { ownerUrl, appUrl } = await provisionDatabase({
      adminUrl: inject("pgAdminUrl"),
      database: db.name,
      ownerRole,
      appRole,
      passwords,
    });
    const migrator = await createDb({ url: ownerUrl, entities: [Note], migrations, poolMax: 2, logger });
    try {
      await runMigrations(migrator.orm);
    } finally {
      await migrator.close();
    }
    return {
      db,
      ownerRole,
      appRole,
      passwords,
      ownerUrl,
      appUrl,
      logs,
      logger,
      admin: (sql, params) => query(db.adminUrl, sql, params),
      drop: async () => {
        await db.drop();
        await dropRoles(ownerRole, appRole);
      },
    };
  } catch (err) {
    await db.drop();
    await dropRoles(ownerRole, appRole);
    throw err;
  }
}
