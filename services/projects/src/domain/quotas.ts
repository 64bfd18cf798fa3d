import type { TxEntityManager } from "@tessera/platform/db";
import { type QuotaSource, requireWithinQuota } from "@tessera/platform/plans";

export type { QuotaSource } from "@tessera/platform/plans";

/** A tenant's usage as its counters hold it (kept by triggers in the writing transaction, migration 0003). */
export interface Usage {
  /** Active (not archived) projects. */
  readonly projects: number;
  /** Stored bytes: the text of projects, tasks and comments plus 64 bytes per row. */
  readonly storageBytes: number;
}

/** The tenant's usage in this transaction (its own writes included). */
export async function usageOf(em: TxEntityManager, tenantId: string): Promise<Usage> {
  const rows = await em.execute<Array<{ projects: number; storage_bytes: string }>>(
    "select projects, storage_bytes from tenant_usage where tenant_id = ?",
    [tenantId],
  );
  const row = rows[0];
  return { projects: row?.projects ?? 0, storageBytes: Number(row?.storage_bytes ?? 0) };
}

/** The plan whose quotas a write of the caller's tenant is checked against (read before its transaction). */
export type TenantPlan = Awaited<ReturnType<QuotaSource>>;

/**
 * After a write that added a project or stored text, in its transaction: QuotaExceeded (which
 * rolls the write back) when the tenant's active projects or stored bytes are now beyond its
 * plan's quota. A write that did not grow storage (`grewStorage` false) is never refused for it,
 * so a tenant over its quota (say, after moving to a smaller plan) can still trim and delete.
 */
export async function enforceQuotas(
  em: TxEntityManager,
  tenantId: string,
  plan: TenantPlan,
  check: { readonly addedProject?: boolean; readonly grewStorage: boolean },
): Promise<void> {
  if (!check.addedProject && !check.grewStorage) return;
  const usage = await usageOf(em, tenantId);
  if (check.addedProject) requireWithinQuota(plan, "projects", usage.projects);
  if (check.grewStorage) requireWithinQuota(plan, "storage_bytes", usage.storageBytes);
}

/** UTF-8 bytes of text fields, as the usage triggers count them (to tell whether an update grows storage). */
export function textBytes(...parts: readonly string[]): number {
  let n = 0;
  for (const p of parts) n += Buffer.byteLength(p, "utf8");
  return n;
}
