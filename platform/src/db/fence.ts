import type pg from "pg";
import { quoteIdentifier, quoteTableName } from "./identifiers.ts";
import { TENANT_SETTING } from "./rls.ts";

/** Table of the tenants whose writes are fenced in this database (a tier move is under way, or the tenant lives elsewhere). */
export const FENCE_TABLE = "tessera_write_fences";
/** SQLSTATE the fence raises; the kit maps it to UNAVAILABLE (retry later). */
export const FENCED_SQLSTATE = "TSFEN";

const FUNCTION = "tessera_write_fence";
const TENANT = `nullif(current_setting('${TENANT_SETTING}', true), '')::uuid`;
/** Advisory-lock key pair of a tenant's fence: (class, hashtext(tenant id)). */
const LOCK_CLASS = "hashtext('tessera_write_fence')";

/**
 * Migration statements for the write fence, idempotent: the fence table (written by the owner
 * role only; the app role may read it) and the trigger function. Every tenant table then gets
 * {@link fenceTableSql}.
 *
 * The table's owner passes the fence (it deletes the rows of a tenant that moved away); the app
 * role never does. Each write statement on a fenced table first takes a shared transaction-level advisory lock on
 * its tenant, then looks for a fence row of that tenant (a fresh snapshot, read committed) and
 * raises {@link FENCED_SQLSTATE} if there is one. {@link fenceTenantWrites} inserts the fence row and
 * then takes the same lock exclusively, which waits until every transaction that wrote for the
 * tenant before the fence existed has ended: after it returns, no write of the tenant can commit.
 */
export function writeFenceMigrationSql(appRole: string): string[] {
  const app = quoteIdentifier(appRole, "app role");
  return [
    `create table if not exists ${FENCE_TABLE} (
  tenant_id uuid primary key,
  reason text not null,
  created_at timestamptz not null default now()
)`,
    `grant select on ${FENCE_TABLE} to ${app}`,
    `create or replace function ${FUNCTION}() returns trigger language plpgsql as $fence$
declare
  tenant uuid := ${TENANT};
  why text;
begin
  perform pg_advisory_xact_lock_shared(${LOCK_CLASS}, hashtext(coalesce(tenant::text, '')));
  select reason into why from ${FENCE_TABLE} where tenant_id = tenant;
  -- the table's owner (the control plane's clean-up of a tenant that moved away) passes
  if found and current_user <> (select pg_get_userbyid(c.relowner) from pg_class c where c.oid = tg_relid) then
    raise exception 'writes of this tenant are paused: %', why using errcode = '${FENCED_SQLSTATE}';
  end if;
  return null;
end
$fence$`,
  ];
}

/** The statement-level trigger that puts one tenant table behind the write fence. */
export function fenceTableSql(table: string): string[] {
  const t = quoteTableName(table);
  return [
    `drop trigger if exists ${FUNCTION} on ${t}`,
    `create trigger ${FUNCTION} before insert or update or delete on ${t} for each statement execute function ${FUNCTION}()`,
  ];
}

/** The tenant tables of the connected database that lack the fence trigger (a move refuses to start then). */
export async function unfencedTables(client: pg.ClientBase, tables: readonly string[]): Promise<string[]> {
  const { rows } = await client.query<{ table: string }>(
    `select c.relname as table from pg_class c
     where c.relname = any($1::text[]) and c.relkind = 'r'
       and not exists (select 1 from pg_trigger t where t.tgrelid = c.oid and t.tgname = '${FUNCTION}')`,
    [tables],
  );
  return rows.map((r) => r.table);
}

/**
 * Fences (or lifts the fence of) a tenant's writes in the database `client` is connected to, as the
 * fence table's owner. Fencing returns once every transaction that wrote for the tenant before the
 * fence was committed has ended (so a copy taken afterwards sees all of them). Idempotent.
 */
export async function fenceTenantWrites(
  client: pg.ClientBase,
  tenantId: string,
  fenced: boolean,
  reason: string,
): Promise<void> {
  if (!fenced) {
    await client.query(`delete from ${FENCE_TABLE} where tenant_id = $1`, [tenantId]);
    return;
  }
  await client.query(
    `insert into ${FENCE_TABLE} (tenant_id, reason) values ($1, $2)
     on conflict (tenant_id) do update set reason = excluded.reason`,
    [tenantId, reason || "maintenance"],
  );
  // committed (autocommit) above; now wait out the writers that passed the check before it
  await client.query("begin");
  try {
    await client.query(`select pg_advisory_xact_lock(${LOCK_CLASS}, hashtext($1::text))`, [tenantId]);
    await client.query("commit");
  } catch (err) {
    await client.query("rollback").catch(() => {});
    throw err;
  }
}

/** Whether the tenant's writes are fenced in the connected database. */
export async function isFenced(client: pg.ClientBase, tenantId: string): Promise<boolean> {
  const { rowCount } = await client.query(`select 1 from ${FENCE_TABLE} where tenant_id = $1`, [tenantId]);
  return (rowCount ?? 0) > 0;
}
