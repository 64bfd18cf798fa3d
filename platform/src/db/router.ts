import pg from "pg";
import { Unavailable } from "../errors/index.ts";
import { type Logger, rootLogger } from "../log/index.ts";
import { createDb, type Db, type Entities, type MigrationList, type Orm } from "./orm.ts";
import { type DatabaseRef, dedicatedDatabaseName, POOL_DATABASE, parseDatabaseRef, refBelongsTo } from "./placement.ts";

/** The two roles' URLs on one database server, naming the service's pool database there. */
export interface ServerUrls {
  /** The app role (run time, bound by row-level security). */
  readonly app: string;
  /** The owner role (migrations, outbox relay, write fences). */
  readonly owner: string;
}

/** One open database of the router: the app role's ORM and, on demand, an owner-role pool. */
export interface DatabaseHandle {
  readonly ref: string;
  readonly orm: Orm;
  /** The owner role's URL of this database (for migrations). Contains a password: never log it. */
  readonly ownerUrl: string;
  /** The database's two roles (migrations grant to the app role). */
  readonly roles: { readonly owner: string; readonly app: string };
  /** A small pool of the owner role (created on first use; the router closes it). */
  owner(): pg.Pool;
}

/** Called when the router opens or closes a dedicated database (e.g. to run its outbox relay). */
export interface DatabaseLifecycle {
  opened(handle: DatabaseHandle): void | Promise<void>;
  closing(handle: DatabaseHandle): void | Promise<void>;
}

/** Options of {@link createTenantRouter}. */
export interface TenantRouterOptions {
  /** The service's pool database (app role), already open, and its app role's name. */
  readonly pool: Db & { readonly appRole?: string };
  /** The owner role's URL of the pool database (the relay's URL). */
  readonly poolOwnerUrl: string;
  /** The servers dedicated databases may live on, by name (the directory's `<server>/…`). */
  readonly servers: Readonly<Record<string, ServerUrls>>;
  /** The tenant's database reference from the directory ("pool" or "<server>/t_<hex>"). */
  readonly placementOf: (tenantId: string) => Promise<string>;
  readonly entities: Entities;
  readonly migrations?: MigrationList;
  /** Dedicated databases open at once; least recently used idle ones close first. Default 50. */
  readonly maxDatabases?: number;
  /** App-role connections per dedicated database. Default 2. */
  readonly poolMaxPerDatabase?: number;
  /** A dedicated database unused this long is closed. Default 300 000 ms. */
  readonly idleMs?: number;
  readonly statementTimeoutMs?: number;
  readonly lifecycle?: DatabaseLifecycle;
  readonly logger?: Logger;
  readonly applicationName?: string;
}

/** What the router holds, for metrics and benches. */
export interface RouterStats {
  readonly openDatabases: number;
  readonly opened: number;
  readonly closed: number;
  /** Most app-role connections the open databases may hold (pool database excluded). */
  readonly connectionBudget: number;
}

const ROUTER = Symbol.for("tessera.db.tenant-router");

/**
 * Routes each tenant's transactions to the tenant's database: the pool for pool tenants, a
 * dedicated database for bridge and silo tenants, as the tenant directory says. Services pass it
 * where they passed their ORM (`withTenantTransaction(router, fn)`); no service code knows tiers.
 */
export interface TenantRouter {
  readonly [ROUTER]: true;
  /** Runs `fn` with the tenant's database; the database stays open while `fn` runs. */
  withTenantDatabase<T>(tenantId: string, fn: (handle: DatabaseHandle) => Promise<T>): Promise<T>;
  /** Runs `fn` with the database a reference names (opening it if needed). */
  withDatabase<T>(ref: string, fn: (handle: DatabaseHandle) => Promise<T>): Promise<T>;
  /** The pool database's handle. */
  readonly pool: DatabaseHandle;
  /**
   * Where a reference's database is, without opening it: its owner URL (a password: never log it)
   * and roles. For migrating a database that is not ready to be opened (no outbox table yet).
   */
  locate(ref: string): { ownerUrl: string; roles: { owner: string; app: string } };
  /** Closes a dedicated database now (before it is dropped); waits for its users. */
  evict(ref: string): Promise<void>;
  stats(): RouterStats;
  close(): Promise<void>;
}

/** Whether a value is a {@link TenantRouter} rather than a plain ORM. */
export function isTenantRouter(value: unknown): value is TenantRouter {
  return typeof value === "object" && value !== null && ROUTER in value;
}

interface Slot {
  handle: DatabaseHandle;
  db: Db;
  users: number;
  lastUsed: number;
  ownerPool: pg.Pool | undefined;
}

function userOf(url: string): string {
  return decodeURIComponent(new URL(url).username);
}

function withDatabaseName(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function ownerPoolOf(url: string, log: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: 2,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    statement_timeout: 30_000,
    query_timeout: 35_000,
    application_name: "tessera-owner",
  });
  pool.on("error", (err) => log.warn({ err_message: err.message }, "owner connection lost"));
  return pool;
}

/** Creates a {@link TenantRouter}. */
export function createTenantRouter(options: TenantRouterOptions): TenantRouter {
  const log = (options.logger ?? rootLogger()).child({ component: "tenant-router" });
  const maxDatabases = options.maxDatabases ?? 50;
  const perDb = options.poolMaxPerDatabase ?? 2;
  const idleMs = options.idleMs ?? 300_000;
  const poolName = decodeURIComponent(new URL(options.poolOwnerUrl).pathname.slice(1));
  const slots = new Map<string, Slot>();
  const opening = new Map<string, Promise<Slot>>();
  let opened = 0;
  let closed = 0;
  let closedAll = false;

  let poolOwner: pg.Pool | undefined;
  const pool: DatabaseHandle = {
    ref: POOL_DATABASE,
    orm: options.pool.orm,
    ownerUrl: options.poolOwnerUrl,
    roles: { owner: userOf(options.poolOwnerUrl), app: options.pool.appRole ?? "" },
    owner() {
      poolOwner ??= ownerPoolOf(options.poolOwnerUrl, log);
      return poolOwner;
    },
  };

  function locate(ref: DatabaseRef & { kind: "dedicated" }): { server: ServerUrls; name: string } {
    const server = options.servers[ref.server];
    if (!server) throw new Unavailable(`database server "${ref.server}" is not configured for this service`);
    return {
      server,
      name: dedicatedDatabaseName(decodeURIComponent(new URL(server.app).pathname.slice(1)) || poolName, ref.key),
    };
  }

  async function open(ref: DatabaseRef & { kind: "dedicated" }): Promise<Slot> {
    const { server, name } = locate(ref);
    const db = await createDb({
      url: withDatabaseName(server.app, name),
      entities: options.entities,
      ...(options.migrations && { migrations: options.migrations }),
      poolMax: perDb,
      logger: log,
      applicationName: options.applicationName ?? "tessera",
      ...(options.statementTimeoutMs !== undefined && { statementTimeoutMs: options.statementTimeoutMs }),
    });
    const ownerUrl = withDatabaseName(server.owner, name);
    const slot: Slot = {
      db,
      users: 0,
      lastUsed: Date.now(),
      ownerPool: undefined,
      handle: {
        ref: ref.ref,
        orm: db.orm,
        ownerUrl,
        roles: { owner: userOf(server.owner), app: userOf(server.app) },
        owner() {
          slot.ownerPool ??= ownerPoolOf(ownerUrl, log);
          return slot.ownerPool;
        },
      },
    };
    opened++;
    await options.lifecycle?.opened(slot.handle);
    return slot;
  }

  async function closeSlot(ref: string, slot: Slot): Promise<void> {
    slots.delete(ref);
    closed++;
    try {
      await options.lifecycle?.closing(slot.handle);
    } finally {
      await slot.ownerPool?.end().catch(() => {});
      await slot.db.close();
    }
  }

  function trim(): void {
    if (slots.size <= maxDatabases) return;
    // least recently used first (Map order is use order), never one in use
    for (const [ref, slot] of slots) {
      if (slots.size <= maxDatabases) break;
      if (slot.users === 0) void closeSlot(ref, slot).catch((err: unknown) => log.warn({ err }, "close failed"));
    }
  }

  /**
   * The open slot of a dedicated database, counted as in use by the caller before anything can
   * close it (the trim after an open must not close the slot it just opened, nor one a waiter is
   * about to use); a slot closed between its opening and a waiter's turn is opened again.
   */
  async function acquire(ref: DatabaseRef & { kind: "dedicated" }): Promise<Slot> {
    for (;;) {
      if (closedAll) throw new Unavailable("the service is shutting down");
      const existing = slots.get(ref.ref);
      if (existing) {
        existing.users++;
        slots.delete(ref.ref);
        slots.set(ref.ref, existing);
        return existing;
      }
      let pending = opening.get(ref.ref);
      if (!pending) {
        pending = open(ref)
          .then((slot) => {
            // in use by its opener from the moment it is visible
            slot.users++;
            slots.set(ref.ref, slot);
            return slot;
          })
          .finally(() => opening.delete(ref.ref));
        opening.set(ref.ref, pending);
        const slot = await pending;
        trim();
        return slot;
      }
      const slot = await pending;
      if (slots.get(ref.ref) === slot) {
        slot.users++;
        return slot;
      }
    }
  }

  async function withRef<T>(parsed: DatabaseRef, fn: (handle: DatabaseHandle) => Promise<T>): Promise<T> {
    if (parsed.kind === "pool") return fn(pool);
    const slot = await acquire(parsed);
    try {
      return await fn(slot.handle);
    } finally {
      slot.users--;
      slot.lastUsed = Date.now();
    }
  }

  const sweep = setInterval(
    () => {
      const cutoff = Date.now() - idleMs;
      for (const [ref, slot] of slots) {
        if (slot.users === 0 && slot.lastUsed < cutoff) {
          void closeSlot(ref, slot).catch((err: unknown) => log.warn({ err }, "close failed"));
        }
      }
    },
    Math.max(1_000, Math.floor(idleMs / 2)),
  );
  sweep.unref();

  return {
    [ROUTER]: true,
    pool,
    async withTenantDatabase(tenantId, fn) {
      const ref = parseDatabaseRef(await options.placementOf(tenantId));
      if (!refBelongsTo(ref, tenantId)) {
        log.error({ ref: ref.ref }, "the directory placed a tenant in a database that is not its own; refused");
        throw new Unavailable("the tenant's placement is being updated; retry shortly");
      }
      return withRef(ref, fn);
    },
    withDatabase(ref, fn) {
      return withRef(parseDatabaseRef(ref), fn);
    },
    locate(ref) {
      const parsed = parseDatabaseRef(ref);
      if (parsed.kind === "pool") return { ownerUrl: pool.ownerUrl, roles: pool.roles };
      const { server, name } = locate(parsed);
      return {
        ownerUrl: withDatabaseName(server.owner, name),
        roles: { owner: userOf(server.owner), app: userOf(server.app) },
      };
    },
    async evict(ref) {
      const slot = slots.get(ref);
      if (!slot) return;
      while (slot.users > 0) await new Promise((r) => setTimeout(r, 20));
      if (slots.get(ref) === slot) await closeSlot(ref, slot);
    },
    stats: () => ({ openDatabases: slots.size, opened, closed, connectionBudget: maxDatabases * perDb }),
    async close() {
      closedAll = true;
      clearInterval(sweep);
      await Promise.allSettled([...opening.values()]);
      await Promise.allSettled([...slots.entries()].map(([ref, slot]) => closeSlot(ref, slot)));
      await poolOwner?.end().catch(() => {});
    },
  };
}
