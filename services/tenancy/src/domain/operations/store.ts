import type { Orm, TxEntityManager } from "@tessera/platform/db";
import type { ComputeState } from "../saga/drivers.ts";
import { withRegistryTransaction, withTenantScope } from "../scope.ts";

/** A tier move, a deletion or a compute upgrade, as recorded in `tenant_operations`. */
export interface OperationRow {
  id: string;
  tenant_id: string;
  kind: "move" | "delete" | "upgrade";
  request_id: string | null;
  state: "running" | "succeeded" | "rolled_back";
  phase: string;
  rolling_back: boolean;
  from_tier: string;
  to_tier: string;
  source_database: string;
  target_database: string;
  target_server: string;
  attempts: number;
  last_error: string | null;
  lease_until: Date | null;
  next_attempt_at: Date;
  fenced_at: Date | null;
  switched_at: Date | null;
  export_id: string | null;
  /** The compute a move into silo (or an upgrade) installed, until the switch records it. */
  compute: ComputeState | null;
  created_at: Date;
  updated_at: Date;
}

/** Copy progress of one table of a move. */
export interface TableRow {
  service: string;
  table_name: string;
  position: number;
  rows_total: string;
  rows_done: string;
  last_key: string;
  done: boolean;
}

const COLUMNS = "*";
const DATES = ["lease_until", "next_attempt_at", "fenced_at", "switched_at", "created_at", "updated_at"] as const;

/** Raw rows carry timestamps as text: make them Dates. */
export function normalizeOperation(row: OperationRow | undefined): OperationRow | undefined {
  if (!row) return undefined;
  const out = row as unknown as Record<string, unknown>;
  for (const k of DATES) {
    const v = out[k];
    if (v !== null && v !== undefined && !(v instanceof Date)) out[k] = new Date(String(v));
  }
  return row;
}

/** The tenant's latest operation, if any. */
export async function latestOperation(orm: Orm, tenantId: string): Promise<OperationRow | undefined> {
  return withTenantScope(orm, tenantId, async (em) => {
    const rows = await em.execute<OperationRow[]>(
      `select ${COLUMNS} from tenant_operations where tenant_id = ? order by created_at desc limit 1`,
      [tenantId],
    );
    return normalizeOperation(rows[0]);
  });
}

/** An operation by the request id that started it. */
export async function operationByRequest(orm: Orm, requestId: string): Promise<OperationRow | undefined> {
  return withRegistryTransaction(orm, async (em) => {
    const rows = await em.execute<OperationRow[]>(`select ${COLUMNS} from tenant_operations where request_id = ?`, [
      requestId,
    ]);
    return normalizeOperation(rows[0]);
  });
}

/** The operation, locked for the transaction. */
export async function lockOperation(em: TxEntityManager, id: string): Promise<OperationRow | undefined> {
  const rows = await em.execute<OperationRow[]>(`select ${COLUMNS} from tenant_operations where id = ? for update`, [
    id,
  ]);
  return normalizeOperation(rows[0]);
}

/** Sets columns of an operation (updated_at too). */
export async function updateOperation(
  em: TxEntityManager,
  id: string,
  changes: Partial<Omit<OperationRow, "id" | "tenant_id" | "created_at" | "updated_at">>,
): Promise<void> {
  // jsonb goes as its text (the driver's own encoding of objects is not relied upon)
  const entries = Object.entries(changes).map(([k, v]) =>
    k === "compute" && v !== null && v !== undefined ? ([k, JSON.stringify(v)] as const) : ([k, v] as const),
  );
  if (entries.length === 0) return;
  const sets = entries.map(([k]) => `"${k}" = ?`).join(", ");
  await em.execute(
    `update tenant_operations set ${sets}, updated_at = now() where id = ?`,
    [...entries.map(([, v]) => v), id],
    "run",
  );
}

/** The copy progress rows of an operation, in copy order. */
export async function operationTables(em: TxEntityManager, operationId: string): Promise<TableRow[]> {
  return em.execute<TableRow[]>(
    `select service, table_name, position, rows_total::text, rows_done::text, last_key, done
     from operation_tables where operation_id = ? order by position`,
    [operationId],
  );
}

/**
 * Records the tables a move copies with their row counts; with `restart`, their progress starts
 * over (the fenced sync after the pre-copy).
 */
export async function recordTables(
  em: TxEntityManager,
  op: OperationRow,
  tables: ReadonlyArray<{ service: string; table: string; rows: number }>,
  restart = false,
): Promise<void> {
  for (const [position, t] of tables.entries()) {
    await em.execute(
      `insert into operation_tables (operation_id, tenant_id, service, table_name, position, rows_total)
       values (?, ?, ?, ?, ?, ?)
       on conflict (operation_id, service, table_name) do update set rows_total = excluded.rows_total
       ${restart ? ", rows_done = 0, last_key = '', done = false" : ""}`,
      [op.id, op.tenant_id, t.service, t.table, position, t.rows],
      "run",
    );
  }
}

/** Records a copied batch of one table. */
export async function recordBatch(
  orm: Orm,
  op: OperationRow,
  t: TableRow,
  batch: { copied: number; lastKey: string; done: boolean },
): Promise<void> {
  await withTenantScope(orm, op.tenant_id, (em) =>
    em.execute(
      `update operation_tables set rows_done = rows_done + ?, last_key = ?, done = ?, updated_at = now()
       where operation_id = ? and service = ? and table_name = ?`,
      [batch.copied, batch.lastKey, batch.done, op.id, t.service, t.table_name],
      "run",
    ),
  );
}

/** Ids of running operations whose next attempt is due (or whose lease ran out). */
export async function dueOperations(orm: Orm, limit: number): Promise<Array<{ id: string; tenant_id: string }>> {
  return withRegistryTransaction(orm, (em) =>
    em.execute<Array<{ id: string; tenant_id: string }>>(
      `select id, tenant_id from tenant_operations
       where state = 'running' and next_attempt_at <= now() and (lease_until is null or lease_until <= now())
       limit ${limit}`,
    ),
  );
}
