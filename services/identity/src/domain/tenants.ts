import type { TxEntityManager } from "@tessera/platform/db";
import { PermissionDenied } from "@tessera/platform/errors";
import { query, queryOne } from "./sql.ts";

/** Tenant statuses as identity's projection stores them (lower-case names of tenancy's TenantStatus). */
export type ProjectedStatus = "provisioning" | "active" | "suspended" | "offboarding" | "deleted";

/** Statuses in which a tenant's users and keys get no tokens. */
export const INACTIVE_STATUSES: ReadonlySet<string> = new Set(["suspended", "offboarding", "deleted"]);

/**
 * Whether the tenant may get tokens. A tenant identity has not heard of yet (no event consumed) is
 * allowed: membership rows are what grant access, and tenancy's events arrive within seconds;
 * refusing unknown tenants would lock everyone out whenever the projection lags or is rebuilt.
 */
export async function tenantIsActive(em: TxEntityManager, tenantId: string): Promise<boolean> {
  const row = await queryOne<{ status: string }>(em, "select status from tenants where id = ?", [tenantId]);
  return row === undefined || !INACTIVE_STATUSES.has(row.status);
}

/** Throws PermissionDenied when the tenant is suspended, offboarding or deleted. */
export async function requireActiveTenant(em: TxEntityManager, tenantId: string): Promise<void> {
  if (!(await tenantIsActive(em, tenantId))) throw new PermissionDenied("the tenant is not active");
}

/** The tenant id of a slug, from the projection (undefined when unknown). */
export async function tenantIdBySlug(em: TxEntityManager, slug: string): Promise<string | undefined> {
  const rows = await query<{ id: string }>(
    em,
    "select id from tenants where slug = ? and status <> 'deleted' order by version_time desc limit 1",
    [slug],
  );
  return rows[0]?.id;
}

/** Applies one tenant event to the projection; older events than the stored one are ignored. */
export async function applyTenantState(
  em: TxEntityManager,
  state: { id: string; slug: string; status: ProjectedStatus; at: Date },
): Promise<void> {
  await query(
    em,
    `insert into tenants (id, slug, status, version_time) values (?, ?, ?, ?)
     on conflict (id) do update set slug = excluded.slug, status = excluded.status, version_time = excluded.version_time
     where tenants.version_time <= excluded.version_time`,
    [state.id, state.slug, state.status, state.at],
  );
}
