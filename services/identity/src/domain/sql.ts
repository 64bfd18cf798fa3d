import type { TxEntityManager } from "@tessera/platform/db";

/**
 * Runs one parameterised statement (`?` placeholders) in the transaction `em` is bound to.
 * Repositories speak SQL because the lookups identity needs (by hash, by prefix, across tenants
 * under narrow RLS policies) are clearer in SQL than through the ORM.
 */
export async function query<T>(em: TxEntityManager, sql: string, params: readonly unknown[] = []): Promise<T[]> {
  return (await em.execute(sql, [...params], "all")) as T[];
}

/** The first row, or undefined. */
export async function queryOne<T>(
  em: TxEntityManager,
  sql: string,
  params: readonly unknown[] = [],
): Promise<T | undefined> {
  return (await query<T>(em, sql, params))[0];
}

/**
 * A PostgreSQL array literal for a `?::text[]` / `?::uuid[]` parameter (the driver layer would
 * expand a JS array into a value list).
 */
export function pgArray(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/["\\]/g, "\\$&")}"`).join(",")}}`;
}

/** A timestamptz column as a Date (the driver hands them over as text). */
export function toDate(value: unknown): Date {
  if (value instanceof Date) return value;
  const text = String(value)
    .replace(" ", "T")
    .replace(/([+-]\d\d)$/, "$1:00");
  return new Date(text);
}

/** Like toDate, for nullable columns. */
export function toDateOrUndefined(value: unknown): Date | undefined {
  return value === null || value === undefined ? undefined : toDate(value);
}

/** Sets a transaction-local setting that opens one of the narrow lookup policies. */
export async function setLocal(em: TxEntityManager, name: string, value: string): Promise<void> {
  await em.execute("select set_config(?, ?, true)", [name, value], "run");
}
