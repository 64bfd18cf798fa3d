import type { EntityManager } from "@mikro-orm/postgresql";
import { currentContext, requireTenantId, runWithContext } from "../context/index.ts";
import { PermissionDenied } from "../errors/index.ts";
import { canonicalTenantId } from "./identifiers.ts";
import type { Orm } from "./orm.ts";
import { TENANT_SETTING } from "./rls.ts";
import { isTenantRouter, type TenantRouter } from "./router.ts";
import { TENANT_FILTER, type TenantFilterParams } from "./tenant-entity.ts";

/** The EntityManager handed to transaction callbacks: bound to one open transaction. */
export type TxEntityManager = EntityManager;

/**
 * Where tenant transactions run: one ORM (a service whose tenants all share its database), or a
 * {@link TenantRouter} that finds each tenant's database in the tenant directory.
 */
export type TenantDataSource = Orm | TenantRouter;

/** Options of withTenantTransaction. */
export interface TenantTransactionOptions {
  /**
   * The tenant to act for, for work without a request context (jobs, consumers). Defaults to the
   * context's tenant; when the context has one, this must be the same (switch with runAsTenant).
   */
  tenantId?: string;
}

const SET_TENANT = `select set_config('${TENANT_SETTING}', ?, true)`;

function resolveTenant(explicit: string | undefined): { tenantId: string; switchContext: boolean } {
  const fromContext = currentContext()?.tenantId;
  if (explicit === undefined) return { tenantId: canonicalTenantId(requireTenantId()), switchContext: false };
  const tenantId = canonicalTenantId(explicit);
  if (fromContext !== undefined && canonicalTenantId(fromContext) !== tenantId) {
    throw new PermissionDenied("a tenant transaction cannot act for a tenant other than the request's");
  }
  return { tenantId, switchContext: fromContext === undefined };
}

/**
 * Runs `fn` in one database transaction scoped to a tenant. It forks the EntityManager (fresh
 * identity map), sets the `tenant` filter params, begins the transaction, and first thing in it
 * runs `select set_config('app.tenant_id', <tenant>, true)`, so every statement in the transaction,
 * ORM-built or raw (`em.execute`), is limited by row-level security to that tenant. Then it calls
 * `fn(em)`, flushes, and commits; if `fn` throws, it rolls back and rethrows.
 *
 * The tenant comes from `options.tenantId` or the request context; a value that is not a UUID is
 * rejected with InvalidArgument before any query. `fn` runs in a context carrying that tenant, so
 * logs and `requireTenantId()` agree with the database.
 *
 * Use only the `em` given to `fn` (pass it on, e.g. to the outbox); an `em.fork()` or a nested
 * withTenantTransaction would run on another connection, outside this transaction.
 */
export async function withTenantTransaction<T>(
  source: TenantDataSource,
  fn: (em: TxEntityManager) => Promise<T>,
  options: TenantTransactionOptions = {},
): Promise<T> {
  const { tenantId, switchContext } = resolveTenant(options.tenantId);
  const inOrm = (orm: Orm) => {
    const fork = orm.em.fork({ clear: true });
    const params: TenantFilterParams = { tenantId };
    // must precede transactional(): the transaction's EntityManager is forked from this one
    fork.setFilterParams(TENANT_FILTER, params);
    return fork.transactional(async (em) => {
      await em.execute(SET_TENANT, [tenantId], "run");
      return fn(em);
    });
  };
  const run = () =>
    isTenantRouter(source) ? source.withTenantDatabase(tenantId, (db) => inOrm(db.orm)) : inOrm(source);
  return switchContext ? runWithContext({ tenantId }, run) : run();
}

/**
 * Runs `fn` in one database transaction for explicitly cross-tenant platform work (tenant
 * directory, migrations bookkeeping, outbox relays over platform tables). No tenant is set: the
 * transaction first clears `app.tenant_id`, so tables with row-level security (tenant tables)
 * show no rows and reject writes. Platform tables are the ones without RLS; keep tenant data out
 * of them. Reading a tenant entity through the ORM here throws unless the request context has a
 * tenant (the `tenant` filter has nothing to filter by).
 */
export async function withPlatformTransaction<T>(
  source: TenantDataSource,
  fn: (em: TxEntityManager) => Promise<T>,
): Promise<T> {
  const orm = isTenantRouter(source) ? source.pool.orm : source;
  const fork = orm.em.fork({ clear: true });
  return fork.transactional(async (em) => {
    // a committed session-level set_config on this pooled connection must not leak a tenant in
    await em.execute(`select set_config('${TENANT_SETTING}', '', true)`, [], "run");
    return fn(em);
  });
}
