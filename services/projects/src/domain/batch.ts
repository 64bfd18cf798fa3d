import type { TxEntityManager } from "@tessera/platform/db";

/** A row of a batch list statement: the parent's id, then the child's columns (all null for a parent without one). */
export type BatchRow = Record<string, unknown> & { readonly batch_parent_id: string };

/** Runs a batch list statement (`?` placeholders) in the transaction `em` is bound to. */
export async function batchRows(em: TxEntityManager, statement: string, params: unknown[]): Promise<BatchRow[]> {
  return (await em.execute(statement, params, "all")) as BatchRow[];
}

/**
 * Children by parent id, in statement order. Every parent the statement found has an entry (empty
 * when it has no child), so parents that were not found are exactly the missing keys.
 */
export function groupRows<T>(rows: readonly BatchRow[], map: (child: Record<string, unknown>) => T): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const { batch_parent_id: parent, ...child } of rows) {
    const children = out.get(parent) ?? [];
    if (child.id != null) children.push(map(child));
    out.set(parent, children);
  }
  return out;
}

/**
 * A PostgreSQL array literal for a `?::uuid[]` parameter (the driver layer would expand a JS
 * array into a value list).
 */
export function pgUuids(ids: readonly string[]): string {
  return `{${ids.map((id) => `"${id.replace(/["\\]/g, "\\$&")}"`).join(",")}}`;
}
