import { loadConfigOrExit, z } from "../config/index.ts";
import { createDb, type Entities, type MigrationList, runMigrations, setMigrationRoles } from "../db/index.ts";
import { createLogger, setRootLogger } from "../log/index.ts";

const migrateEnv = z.object({
  /** The service database's owner role (owns the tables; runs DDL). */
  MIGRATION_DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL"),
  /** The runtime role the migrations grant to (row policies name it). */
  DATABASE_APP_ROLE: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lower-case role name"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

/**
 * A service's migrate.ts: applies its migrations as the owner role (MIGRATION_DATABASE_URL), granting
 * to the app role (DATABASE_APP_ROLE), and exits (0, or 1 on failure). Run before the service starts: by `./tessera up`, or a Helm pre-install/upgrade Job.
 */
export async function runMigrationsMain(service: string, entities: Entities, migrations: MigrationList): Promise<void> {
  const config = loadConfigOrExit(`${service}-migrate`, migrateEnv);
  const logger = createLogger({ service: `${service}-migrate`, level: config.LOG_LEVEL });
  setRootLogger(logger);
  setMigrationRoles({
    owner: decodeURIComponent(new URL(config.MIGRATION_DATABASE_URL).username),
    app: config.DATABASE_APP_ROLE,
  });
  const db = await createDb({ url: config.MIGRATION_DATABASE_URL, entities, migrations, logger });
  try {
    const applied = await runMigrations(db.orm);
    logger.info({ applied }, applied.length > 0 ? "migrations applied" : "schema up to date");
  } catch (err) {
    logger.error({ err }, "migration failed");
    process.exitCode = 1;
  } finally {
    await db.close();
    logger.flush();
  }
}
