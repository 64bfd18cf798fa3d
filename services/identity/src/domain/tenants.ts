import type { TxEntityManager } from "@tessera/platform/db";
import { PermissionDenied } from "@tessera/platform/errors";
import type { Plan, PlanCatalogue } from "@tessera/platform/plans";
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
  state: { id: string; slug: string; status: ProjectedStatus; plan: string; at: Date },
): Promise<void> {
  await query(
    em,
    `insert into tenants (id, slug, status, plan, version_time) values (?, ?, ?, ?, ?)
     on conflict (id) do update set slug = excluded.slug, status = excluded.status, plan = excluded.plan,
       version_time = excluded.version_time
     where tenants.version_time <= excluded.version_time`,
    [state.id, state.slug, state.status, state.plan || null, state.at],
  );
}

/**
 * The tenant's plan as the projection knows it, its row locked until the transaction ends (so
 * concurrent seat checks of one tenant run one after the other). Undefined while identity has not
 * heard of the tenant's plan yet (no event consumed, or projected before plans were): like an
 * unknown status, that lets the change through rather than lock a tenant out while events lag.
 * A plan id the catalogue lacks gets the catalogue's default plan.
 */
export async function lockTenantPlan(
  em: TxEntityManager,
  catalogue: PlanCatalogue,
  tenantId: string,
): Promise<Plan | undefined> {
  const row = await queryOne<{ plan: string | null }>(em, "select plan from tenants where id = ? for update", [
    tenantId,
  ]);
  if (!row?.plan) return undefined;
  return catalogue.find(row.plan) ?? catalogue.defaultPlan;
}
