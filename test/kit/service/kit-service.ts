import { runMain, type ServiceTestEnv, serviceTestEnv } from "@tessera/test/harness";
import { expect } from "vitest";

/** The kit-service fixture: a service built only from the kit (`main.ts`, `migrate.ts`). */
export const KIT_SERVICE = new URL("../../fixtures/kit-service/", import.meta.url).pathname;

/**
 * A fresh database migrated by the fixture's own migrations main (as a deployment runs it) and a
 * token issuer; `vars()` is the environment the fixture's main reads.
 */
export async function kitServiceEnv(prefix: string, logName: string): Promise<ServiceTestEnv> {
  const env = await serviceTestEnv({ prefix, entities: [], migrations: [], migrate: false });
  const migrate = runMain(
    `${KIT_SERVICE}migrate.ts`,
    { MIGRATION_DATABASE_URL: env.db.ownerUrl, DATABASE_APP_ROLE: env.db.roles.app },
    `${logName}-migrate`,
  );
  const { code } = await migrate.exited;
  expect(code, migrate.stderr() + migrate.stdout()).toBe(0);
  return env;
}
