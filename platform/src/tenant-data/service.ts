import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { TenantDataService } from "@tessera/proto/tessera/tenantdata/v1/tenant_data_pb";
import type pg from "pg";
import { currentContext } from "../context/index.ts";
import { fenceTenantWrites, isFenced, unfencedTables } from "../db/fence.ts";
import { createDb, type Entities, type MigrationList, runMigrations } from "../db/orm.ts";
import { parseDatabaseRef } from "../db/placement.ts";
import { setMigrationRoles } from "../db/roles.ts";
import type { DatabaseHandle, TenantRouter } from "../db/router.ts";
import { FailedPrecondition, InvalidArgument, PermissionDenied, Unauthenticated } from "../errors/index.ts";
import { OUTBOX_TABLE } from "../events/schema.ts";
import { type Logger, rootLogger } from "../log/index.ts";
import { deleteRows, insertRows, readPage, summarize, syncPage, type TenantTable } from "./tables.ts";

/** The role a platform-level service token needs to call TenantDataService (tenancy's). */
export const TENANT_DATA_ADMIN_ROLE = "tenant-data-admin";

/** What a service hands the kit so it can serve TenantDataService. */
export interface TenantDataOptions {
  /** The service's databases (a router; a service without dedicated databases routes all to the pool). */
  readonly router: TenantRouter;
  /** Its tenant tables, parents before children. */
  readonly tables: readonly TenantTable[];
  /**
   * Tables derived from the tenant tables (e.g. usage counters kept by triggers): never copied or
   * exported (the target rebuilds them), deleted with the tenant's data.
   */
  readonly derivedTables?: readonly string[];
  /** Whether the service's tenant data follows the tenant's placement (dedicated databases, moves). */
  readonly routed: boolean;
  /** For routed services: entities and migrations to prepare a dedicated database with. */
  readonly entities?: Entities;
  readonly migrations?: MigrationList;
  /** Extra clean-up when a tenant's data is deleted (rows outside tenant tables); returns counts. */
  readonly deleteExtra?: (tenantId: string) => Promise<Record<string, number>>;
  readonly logger?: Logger;
}

const EXPORT_PAGE = 1_000;

function requireAdmin(): void {
  const ctx = currentContext();
  if (!ctx?.principal) throw new Unauthenticated("no authenticated caller");
  const { principal } = ctx;
  if (principal.kind !== "service" || ctx.tenantId !== undefined || !principal.roles.includes(TENANT_DATA_ADMIN_ROLE))
    throw new PermissionDenied(`missing role "${TENANT_DATA_ADMIN_ROLE}"`);
}

async function withOwner<T>(handle: DatabaseHandle, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await handle.owner().connect();
  try {
    return await fn(client);
  } finally {
    client.release();
  }
}

/**
 * TenantDataService for one service: prepare, describe, fence, copy, delete and export a tenant's
 * rows, for the control plane's tier moves, exports and deletions.
 */
export function tenantDataService(options: TenantDataOptions): ServiceImpl<typeof TenantDataService> {
  const { router, tables } = options;
  const log = (options.logger ?? rootLogger()).child({ component: "tenant-data" });
  const byName = new Map(tables.map((t) => [t.table, t]));
  let migrating: Promise<unknown> = Promise.resolve();

  function checkRef(ref: string, field: string): void {
    const parsed = parseDatabaseRef(ref);
    if (parsed.kind === "dedicated" && !options.routed)
      throw new InvalidArgument("this service keeps tenant data in its shared database only", [
        { field, message: "must be pool for this service" },
      ]);
  }

  function checkTenantRef(ref: string, tenantId: string, field: string): void {
    checkRef(ref, field);
    const parsed = parseDatabaseRef(ref);
    if (parsed.kind === "dedicated" && parsed.key !== `t_${tenantId.toLowerCase().replaceAll("-", "")}`)
      throw new InvalidArgument("the database is not the tenant's", [
        { field, message: "names another tenant's database" },
      ]);
  }

  /** The checks of a copy or sync between two of the tenant's databases; the table and tenant. */
  function transfer(req: { tenantId: string; fromDatabase: string; toDatabase: string; table: string }): {
    table: TenantTable;
    tenantId: string;
  } {
    requireAdmin();
    checkTenantRef(req.fromDatabase, req.tenantId, "from_database");
    checkTenantRef(req.toDatabase, req.tenantId, "to_database");
    if (req.fromDatabase === req.toDatabase)
      throw new InvalidArgument("source and target are the same database", [
        { field: "to_database", message: "must differ from from_database" },
      ]);
    const table = byName.get(req.table);
    if (!table) throw new InvalidArgument("unknown table", [{ field: "table", message: "not a tenant table here" }]);
    return { table, tenantId: req.tenantId.toLowerCase() };
  }

  return {
    async prepareDatabase(req) {
      requireAdmin();
      checkTenantRef(req.database, req.tenantId, "database");
      if (!options.entities) throw new FailedPrecondition("this service has no schema to prepare");
      const entities = options.entities;
      // migrated through the owner's own connection: opening it through the router would start its
      // outbox relay before the migration has made the outbox
      const { ownerUrl, roles } = router.locate(req.database);
      const run = migrating.then(async () => {
        setMigrationRoles(roles);
        const db = await createDb({
          url: ownerUrl,
          entities,
          ...(options.migrations && { migrations: options.migrations }),
          statementTimeoutMs: 120_000,
          applicationName: "tessera-migrate",
        });
        try {
          const applied = await runMigrations(db.orm);
          log.info({ database: req.database, applied }, "tenant database prepared");
          return applied;
        } finally {
          await db.close();
        }
      });
      migrating = run.catch(() => {});
      return { applied: await run };
    },

    async describeTenantData(req) {
      requireAdmin();
      checkTenantRef(req.database, req.tenantId, "database");
      const tenantId = req.tenantId.toLowerCase();
      return router.withDatabase(req.database, async (handle) => {
        const summaries = await summarize(handle.orm, tenantId, tables);
        const { pending, fenced } = await withOwner(handle, async (c) => {
          const outbox = await c.query<{ n: string }>(
            `select count(*)::text as n from ${OUTBOX_TABLE} where tenant_id = $1`,
            [tenantId],
          );
          return { pending: Number(outbox.rows[0]?.n ?? 0), fenced: options.routed && (await isFenced(c, tenantId)) };
        });
        return {
          tables: summaries.map((s) => ({ table: s.table, rows: BigInt(s.rows), checksum: s.checksum })),
          pendingEvents: BigInt(pending),
          writeFenced: fenced,
        };
      });
    },

    async setWriteFence(req) {
      requireAdmin();
      checkTenantRef(req.database, req.tenantId, "database");
      if (!options.routed) throw new FailedPrecondition("this service's tenant data does not move");
      const tenantId = req.tenantId.toLowerCase();
      await router.withDatabase(req.database, (handle) =>
        withOwner(handle, async (c) => {
          if (req.fenced) {
            const missing = await unfencedTables(
              c,
              tables.map((t) => t.table),
            );
            if (missing.length > 0)
              throw new FailedPrecondition(`tables without a write fence: ${missing.join(", ")} (migrate first)`);
          }
          await fenceTenantWrites(c, tenantId, req.fenced, req.reason);
        }),
      );
      log.info({ tenant_id: tenantId, database: req.database, fenced: req.fenced }, "tenant write fence set");
      return {};
    },

    async copyTenantData(req) {
      const { table, tenantId } = transfer(req);
      const page = await router.withDatabase(req.fromDatabase, (src) =>
        readPage(src.orm, tenantId, table, req.afterKey, req.limit),
      );
      await router.withDatabase(req.toDatabase, (dst) => insertRows(dst.orm, tenantId, table, page.rows));
      return { copied: page.rows.length, lastKey: page.lastKey, done: page.rows.length < req.limit };
    },

    async syncTenantData(req) {
      const { table, tenantId } = transfer(req);
      return router.withDatabase(req.fromDatabase, (src) =>
        router.withDatabase(req.toDatabase, (dst) =>
          syncPage(src.orm, dst.orm, tenantId, table, req.afterKey, req.limit),
        ),
      );
    },

    async deleteTenantData(req) {
      requireAdmin();
      checkTenantRef(req.database, req.tenantId, "database");
      const tenantId = req.tenantId.toLowerCase();
      const deleted = await router.withDatabase(req.database, (handle) =>
        deleteRows(handle.owner(), tenantId, tables, options.derivedTables),
      );
      if (req.database === "pool" || req.database === "") Object.assign(deleted, await options.deleteExtra?.(tenantId));
      if (parseDatabaseRef(req.database).kind === "dedicated") await router.evict(req.database);
      log.info({ tenant_id: tenantId, database: req.database, deleted }, "tenant data deleted");
      return { deleted: Object.fromEntries(Object.entries(deleted).map(([k, v]) => [k, BigInt(v)])) };
    },

    async *exportTenantData(req) {
      requireAdmin();
      checkTenantRef(req.database, req.tenantId, "database");
      const tenantId = req.tenantId.toLowerCase();
      for (const table of tables) {
        let after = "";
        for (;;) {
          const page = await router.withDatabase(req.database, (handle) =>
            readPage(handle.orm, tenantId, table, after, EXPORT_PAGE),
          );
          if (page.rows.length > 0) yield { table: table.table, rows: page.rows };
          if (page.rows.length < EXPORT_PAGE) break;
          after = page.lastKey;
        }
      }
    },
  };
}

/** Registers TenantDataService on a Connect router (in a service's routes). */
export function registerTenantData(router: ConnectRouter, options: TenantDataOptions): void {
  router.service(TenantDataService, tenantDataService(options));
}
