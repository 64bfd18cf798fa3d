import { randomBytes } from "node:crypto";
import {
  conventionalRoles,
  createDb,
  type DatabaseRoles,
  type Entities,
  type MigrationList,
  provisionDatabase,
  runMigrations,
  setMigrationRoles,
} from "@tessera/platform/db";
import { freshDatabase, type TestDatabase } from "./database.ts";
import { registerSecret } from "./secrets.ts";

/** A database set up the way `./tessera up` and the charts set up a service's database. */
export interface ServiceDatabase extends TestDatabase {
  roles: DatabaseRoles;
  /** The owner role (runs migrations; the outbox relay connects as it). */
  ownerUrl: string;
  /** The app role services connect as (no ownership, no BYPASSRLS). */
  appUrl: string;
}

/** A fresh database with its owner and app roles (unique names: roles are cluster-wide). */
export async function serviceDatabase(prefix = "svc"): Promise<ServiceDatabase> {
  const db = await freshDatabase(prefix);
  const roles = conventionalRoles(db.name);
  const passwords = { owner: randomBytes(18).toString("base64url"), app: randomBytes(18).toString("base64url") };
  registerSecret(passwords.owner);
  registerSecret(passwords.app);
  const urls = await provisionDatabase({
    adminUrl: db.adminUrl,
    database: db.name,
    ownerRole: roles.owner,
    appRole: roles.app,
    passwords,
  });
  return { ...db, roles, ...urls };
}

/** Applies migrations as the owner, granting to the app role, in this process. */
export async function migrateServiceDatabase(
  db: ServiceDatabase,
  entities: Entities,
  migrations: MigrationList,
): Promise<string[]> {
  setMigrationRoles(db.roles);
  const owner = await createDb({ url: db.ownerUrl, entities, migrations });
  try {
    return await runMigrations(owner.orm);
  } finally {
    await owner.close();
  }
}
