import { quoteIdentifier } from "./identifiers.ts";

/** The two roles of a service database (see provisionDatabase). */
export interface DatabaseRoles {
  /** Owns the tables, runs migrations; the outbox relay connects as it. */
  owner: string;
  /** What the service connects as at run time: no ownership, no BYPASSRLS. */
  app: string;
}

/** The roles a service database gets by convention: `<database>_owner` and `<database>_app`. */
export function conventionalRoles(database: string): DatabaseRoles {
  return { owner: `${database}_owner`, app: `${database}_app` };
}

let current: DatabaseRoles | undefined;

/**
 * Declares the roles the migrations about to run grant to (policies and grants name roles, so
 * migration classes read them here). runMigrationsMain and test setups call it before migrating.
 */
export function setMigrationRoles(roles: DatabaseRoles): void {
  quoteIdentifier(roles.owner, "owner role");
  quoteIdentifier(roles.app, "app role");
  current = roles;
}

/** The roles set by setMigrationRoles; throws when none were declared (a migration run misconfigured). */
export function migrationRoles(): DatabaseRoles {
  if (!current) throw new Error("migration roles not declared: call setMigrationRoles before running migrations");
  return current;
}
