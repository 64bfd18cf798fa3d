import type pg from "pg";
import { quoteIdentifier } from "../db/identifiers.ts";
import type { Orm } from "../db/orm.ts";
import { TENANT_SETTING } from "../db/rls.ts";
import { type TxEntityManager, withTenantTransaction } from "../db/transactions.ts";
import { CONSUMED_TABLE } from "../events/schema.ts";

/** One table holding tenant rows (row-level security by tenant), as a service declares it. */
export interface TenantTable {
  /** Table name (lower-case identifier). */
  readonly table: string;
  /** A column unique within the tenant, used to page through its rows (usually `id`). */
  readonly key: string;
}

/** A table's share of one tenant's data. */
export interface TableSummary {
  readonly table: string;
  readonly rows: number;
  readonly checksum: string;
}

function names(t: TenantTable): { table: string; key: string } {
  return { table: quoteIdentifier(t.table, "table"), key: quoteIdentifier(t.key, "key column") };
}

/** Runs `fn` in a tenant transaction with UTC rendering, so row JSON is the same on every server. */
function inTenant<T>(orm: Orm, tenantId: string, fn: (em: TxEntityManager) => Promise<T>): Promise<T> {
  return withTenantTransaction(
    orm,
    async (em) => {
      await em.execute("set local timezone to 'UTC'", [], "run");
      return fn(em);
    },
    { tenantId },
  );
}

/** Row count and checksum (md5 over each row's JSON in key order) of the tenant's rows of each table. */
export async function summarize(orm: Orm, tenantId: string, tables: readonly TenantTable[]): Promise<TableSummary[]> {
  return inTenant(orm, tenantId, async (em) => {
    const out: TableSummary[] = [];
    for (const t of tables) {
      const { table, key } = names(t);
      const [row] = await em.execute<Array<{ rows: string; checksum: string }>>(
        `select count(*)::text as rows,
                coalesce(md5(string_agg(md5(row_to_json(t)::text), '' order by t.${key})), '') as checksum
         from ${table} t`,
      );
      out.push({ table: t.table, rows: Number(row?.rows ?? 0), checksum: row?.checksum ?? "" });
    }
    return out;
  });
}

/** One page of a table's tenant rows, as JSON text, after `afterKey` in key order. */
export async function readPage(
  orm: Orm,
  tenantId: string,
  t: TenantTable,
  afterKey: string,
  limit: number,
): Promise<{ rows: string[]; lastKey: string }> {
  const { table, key } = names(t);
  return inTenant(orm, tenantId, async (em) => {
    const found = await em.execute<Array<{ k: string; j: string }>>(
      afterKey === ""
        ? `select t.${key}::text as k, row_to_json(t)::text as j from ${table} t order by t.${key} limit ?`
        : `select t.${key}::text as k, row_to_json(t)::text as j from ${table} t where t.${key} > ? order by t.${key} limit ?`,
      afterKey === "" ? [limit] : [afterKey, limit],
    );
    return { rows: found.map((r) => r.j), lastKey: found.at(-1)?.k ?? afterKey };
  });
}

/** Keys and row hashes of a table's tenant rows in (afterKey, upTo] (upTo undefined: to the end). */
async function hashes(
  orm: Orm,
  tenantId: string,
  t: TenantTable,
  afterKey: string,
  upTo: string | undefined,
  limit?: number,
): Promise<Array<{ k: string; h: string }>> {
  const { table, key } = names(t);
  const where: string[] = [];
  const params: unknown[] = [];
  if (afterKey !== "") {
    where.push(`t.${key} > ?`);
    params.push(afterKey);
  }
  if (upTo !== undefined) {
    where.push(`t.${key} <= ?`);
    params.push(upTo);
  }
  if (limit !== undefined) params.push(limit);
  return inTenant(orm, tenantId, (em) =>
    em.execute<Array<{ k: string; h: string }>>(
      `select t.${key}::text as k, md5(row_to_json(t)::text) as h from ${table} t
       ${where.length > 0 ? `where ${where.join(" and ")}` : ""} order by t.${key}${limit !== undefined ? " limit ?" : ""}`,
      params,
    ),
  );
}

/**
 * Makes the target's rows of one key range equal to the source's: the next `limit` source keys
 * after `afterKey` (to the end of the table when the source has no more). Changed rows are deleted
 * and written again (children removed by a cascade come back when their table is synced, which is
 * why tables go parents first); rows gone from the source are deleted.
 */
export async function syncPage(
  source: Orm,
  target: Orm,
  tenantId: string,
  t: TenantTable,
  afterKey: string,
  limit: number,
): Promise<{ examined: number; written: number; deleted: number; lastKey: string; done: boolean }> {
  const src = await hashes(source, tenantId, t, afterKey, undefined, limit);
  const done = src.length < limit;
  const lastKey = src.at(-1)?.k ?? afterKey;
  const dst = await hashes(target, tenantId, t, afterKey, done ? undefined : lastKey);
  const want = new Map(src.map((r) => [r.k, r.h]));
  const have = new Map(dst.map((r) => [r.k, r.h]));
  const stale = dst.filter((r) => want.get(r.k) !== r.h).map((r) => r.k);
  const missing = src.filter((r) => have.get(r.k) !== r.h).map((r) => r.k);
  const { table, key } = names(t);
  if (stale.length > 0) {
    await inTenant(target, tenantId, (em) =>
      em.execute(`delete from ${table} t where t.${key}::text = any(?::text[])`, [`{${stale.join(",")}}`], "run"),
    );
  }
  if (missing.length > 0) {
    const rows = await inTenant(source, tenantId, (em) =>
      em.execute<Array<{ j: string }>>(
        `select row_to_json(t)::text as j from ${table} t where t.${key}::text = any(?::text[])`,
        [`{${missing.join(",")}}`],
      ),
    );
    await insertRows(
      target,
      tenantId,
      t,
      rows.map((r) => r.j),
    );
  }
  const deleted = stale.filter((k) => !want.has(k)).length;
  return { examined: src.length, written: missing.length, deleted, lastKey, done };
}

/** Inserts rows (JSON text of the same table) unless present; returns how many were new. */
export async function insertRows(orm: Orm, tenantId: string, t: TenantTable, rows: readonly string[]): Promise<number> {
  if (rows.length === 0) return 0;
  const { table } = names(t);
  return inTenant(orm, tenantId, async (em) => {
    const res = await em.execute(
      `insert into ${table} select * from json_populate_recordset(null::${table}, ?::json) on conflict do nothing`,
      [`[${rows.join(",")}]`],
      "run",
    );
    return Number((res as { affectedRows?: number }).affectedRows ?? 0);
  });
}

/**
 * Deletes the tenant's rows of every table, children first (the reverse of the declared order), as
 * the tables' owner: row-level security still limits it to the tenant, and the write fence (which
 * keeps the app role out of a database the tenant moved away from) lets the owner through.
 */
export async function deleteRows(
  owner: pg.Pool,
  tenantId: string,
  tables: readonly TenantTable[],
  derived: readonly string[] = [],
): Promise<Record<string, number>> {
  const client = await owner.connect();
  try {
    await client.query("begin");
    await client.query(`select set_config('${TENANT_SETTING}', $1, true)`, [tenantId]);
    const deleted: Record<string, number> = {};
    for (const t of [...tables].reverse()) {
      const { table } = names(t);
      const res = await client.query(`delete from ${table}`);
      deleted[t.table] = res.rowCount ?? 0;
    }
    // rows kept about the tenant's data (counters) and the consumers' idempotency records
    for (const name of [...derived, CONSUMED_TABLE]) {
      const exists = await client.query("select to_regclass($1) is not null as found", [name]);
      if (!exists.rows[0]?.found) continue;
      const res = await client.query(`delete from ${quoteIdentifier(name, "table")} where tenant_id = $1`, [tenantId]);
      deleted[name] = res.rowCount ?? 0;
    }
    await client.query("commit");
    return deleted;
  } catch (err) {
    await client.query("rollback").catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
