import { startTestIssuer, type TestIssuer } from "@tessera/platform/auth/testing";
import type { Entities, MigrationList } from "@tessera/platform/db";
import pg from "pg";
import { inject } from "vitest";
import { migrateServiceDatabase, type ServiceDatabase, serviceDatabase } from "./service-database.ts";

/** A service's test environment: its database (owner + app roles, like production) and a token issuer. */
export interface ServiceTestEnv {
  db: ServiceDatabase;
  issuer: TestIssuer;
  /** Runs SQL as the superuser (bypasses RLS), for assertions and for staging states. */
  admin<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Runs SQL through `url` (e.g. the app role's), in a transaction set to `tenantId` when given. */
  query<R extends pg.QueryResultRow>(url: string, sql: string, params?: unknown[], tenantId?: string): Promise<R[]>;
  /** The environment the service's main reads (free ports, this issuer, this database, the run's NATS). */
  vars(extra?: Record<string, string>): Record<string, string>;
  close(): Promise<void>;
}

/** A fresh database for a service (migrated in this process unless `migrate` is false) and a test issuer. */
export async function serviceTestEnv(options: {
  prefix: string;
  entities: Entities;
  migrations: MigrationList;
  migrate?: boolean;
}): Promise<ServiceTestEnv> {
  const db = await serviceDatabase(options.prefix);
  if (options.migrate !== false) await migrateServiceDatabase(db, options.entities, options.migrations);
  const issuer = await startTestIssuer();
  const query = async <R extends pg.QueryResultRow>(
    url: string,
    sql: string,
    params: unknown[] = [],
    tenantId?: string,
  ) => {
    const client = new pg.Client({ connectionString: url, statement_timeout: 10_000, connectionTimeoutMillis: 10_000 });
    await client.connect();
    try {
      if (!tenantId) return (await client.query<R>(sql, params)).rows;
      await client.query("begin");
      await client.query("select set_config('app.tenant_id', $1, true)", [tenantId]);
      const rows = (await client.query<R>(sql, params)).rows;
      await client.query("commit");
      return rows;
    } finally {
      await client.end();
    }
  };
  return {
    db,
    issuer,
    query,
    admin: (sql, params) => query(db.adminUrl, sql, params),
    vars: (extra = {}) => ({
      PORT: "0",
      METRICS_PORT: "0",
      AUTH_JWKS_URL: issuer.jwksUrl,
      AUTH_ISSUER: issuer.issuer,
      DATABASE_URL: db.appUrl,
      OUTBOX_RELAY_DATABASE_URL: db.ownerUrl,
      NATS_URL: inject("natsUrl"),
      ...extra,
    }),
    async close() {
      await issuer.stop();
      await db.drop();
    },
  };
}
