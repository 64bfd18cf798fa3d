import type { TxEntityManager } from "@tessera/platform/db";
import type { TenantRole } from "../roles.ts";
import { queryOne, toDateOrUndefined } from "../sql.ts";

/** Whom a tenant requires to use a second factor. */
export type MfaPolicyMode = "off" | "admins" | "everyone";

/** A tenant's MFA policy (the default, for a tenant that never set one, is off). */
export interface MfaPolicyRecord {
  tenantId: string;
  mode: MfaPolicyMode;
  gracePeriodDays: number;
  /** When the current mode took effect; grace periods count from it (or from joining, if later). */
  requiredSince: Date | undefined;
  updatedAt: Date | undefined;
  updatedBy: string;
}

interface PolicyRow {
  tenant_id: string;
  mode: MfaPolicyMode;
  grace_period_days: number;
  required_since: unknown;
  updated_at: unknown;
  updated_by: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const COLUMNS = "tenant_id, mode, grace_period_days, required_since, updated_at, updated_by";

function fromRow(r: PolicyRow): MfaPolicyRecord {
  return {
    tenantId: r.tenant_id,
    mode: r.mode,
    gracePeriodDays: r.grace_period_days,
    requiredSince: toDateOrUndefined(r.required_since),
    updatedAt: toDateOrUndefined(r.updated_at),
    updatedBy: r.updated_by,
  };
}

/** The tenant's policy; run in the tenant's transaction (the table is tenant-owned, RLS forced). */
export async function policyOf(em: TxEntityManager, tenantId: string, lock = false): Promise<MfaPolicyRecord> {
  const row = await queryOne<PolicyRow>(
    em,
    `select ${COLUMNS} from mfa_policies where tenant_id = ?${lock ? " for update" : ""}`,
    [tenantId],
  );
  return row
    ? fromRow(row)
    : { tenantId, mode: "off", gracePeriodDays: 0, requiredSince: undefined, updatedAt: undefined, updatedBy: "" };
}

/** Stores a policy; a changed mode restarts the grace period (`required_since` = now). */
export async function storePolicy(
  em: TxEntityManager,
  input: { tenantId: string; mode: MfaPolicyMode; gracePeriodDays: number; updatedBy: string },
): Promise<MfaPolicyRecord> {
  const row = await queryOne<PolicyRow>(
    em,
    `insert into mfa_policies (tenant_id, mode, grace_period_days, required_since, updated_by)
     values (?, ?, ?, case when ? = 'off' then null else now() end, ?)
     on conflict (tenant_id) do update set
       mode = excluded.mode,
       grace_period_days = excluded.grace_period_days,
       required_since = case when excluded.mode = 'off' then null
                             when mfa_policies.mode = excluded.mode then mfa_policies.required_since
                             else now() end,
       updated_by = excluded.updated_by,
       updated_at = now()
     returning ${COLUMNS}`,
    [input.tenantId, input.mode, input.gracePeriodDays, input.mode, input.updatedBy],
  );
  if (!row) throw new Error("upsert returned no row");
  return fromRow(row);
}

/** What a policy asks of one member. */
export type Requirement =
  | { required: false }
  /** Required; without a factor the member may still sign in until `enrollBy`. */
  | { required: true; enrollBy: Date };

/** Whether the policy requires MFA of a member with `role` who joined at `memberSince`. */
export function requirementFor(policy: MfaPolicyRecord, role: TenantRole, memberSince: Date): Requirement {
  const applies = policy.mode === "everyone" || (policy.mode === "admins" && (role === "owner" || role === "admin"));
  if (!applies || !policy.requiredSince) return { required: false };
  const from = Math.max(policy.requiredSince.getTime(), memberSince.getTime());
  return { required: true, enrollBy: new Date(from + policy.gracePeriodDays * DAY_MS) };
}
