import type { TxEntityManager } from "@tessera/platform/db";
import { requireWithinQuota } from "@tessera/platform/plans";
import type { IdentityDeps } from "./deps.ts";
import { queryOne } from "./sql.ts";
import { lockTenantPlan } from "./tenants.ts";

/** The tenant's seats in use: its memberships of users who are not disabled. */
export async function seatsInUse(em: TxEntityManager, tenantId: string): Promise<number> {
  const row = await queryOne<{ n: number }>(
    em,
    `select count(*)::int as n from memberships m join users u on u.id = m.user_id
     where m.tenant_id = ? and u.disabled_at is null`,
    [tenantId],
  );
  return row?.n ?? 0;
}

/**
 * QuotaExceeded (RESOURCE_EXHAUSTED naming `seats` and the limit) when the tenant's seats in use,
 * plus `adding`, go past its plan's seat quota. The plan comes from identity's tenant projection
 * (tenancy's events), whose row stays locked until the transaction ends, so two members added at
 * once are counted one after the other. A tenant whose plan identity has not heard of yet is let
 * through (see lockTenantPlan). Call it in the transaction that adds the membership; with
 * `adding` 0 after the insert.
 */
export async function requireSeats(
  deps: Pick<IdentityDeps, "plans">,
  em: TxEntityManager,
  tenantId: string,
  adding: number,
): Promise<void> {
  const plan = await lockTenantPlan(em, deps.plans, tenantId);
  if (!plan) return;
  requireWithinQuota(plan, "seats", (await seatsInUse(em, tenantId)) + adding);
}
