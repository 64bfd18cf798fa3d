import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { DEFAULT_PLAN as CATALOGUE_DEFAULT, findPlan } from "@tessera/platform/plans";
import type { EventEnvelope } from "@tessera/proto/tessera/common/v1/event_pb";
import { TenantEventSchema } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import type { Sql } from "./sql.ts";

/** The plan a tenant audit has heard nothing about is assumed to be on: the catalogue's `defaultPlan`. */
export const DEFAULT_PLAN: string = CATALOGUE_DEFAULT.id;

const UPSERT = `insert into audit_tenant_plans (tenant_id, plan, changed_at) values (?, ?, ?)
on conflict (tenant_id) do update set plan = excluded.plan, changed_at = excluded.changed_at
where audit_tenant_plans.changed_at <= excluded.changed_at`;

/**
 * Keeps audit's projection of each tenant's plan from tenancy's events (`tenant.created`,
 * `tenant.plan_changed`, and any other `tenant.*` carrying the tenant): an older event never
 * overwrites a newer one. Returns the plan recorded, if the event carried one.
 */
export async function projectPlan(sql: Sql, envelope: EventEnvelope, at: Date): Promise<string | undefined> {
  if (!envelope.type.startsWith("tenant.") || !envelope.payload) return undefined;
  const event = anyUnpack(envelope.payload, TenantEventSchema);
  const plan = event?.tenant?.plan;
  if (!plan || !findPlan(plan) || event.tenant?.id.toLowerCase() !== envelope.tenantId.toLowerCase()) return undefined;
  await sql(UPSERT, [envelope.tenantId.toLowerCase(), plan, at]);
  return plan;
}

/** Days a tenant's records are kept: its plan's `audit_retention_days` (the default plan's when unknown). */
export function retentionDays(plan: string | undefined): number {
  return (findPlan(plan ?? DEFAULT_PLAN) ?? CATALOGUE_DEFAULT).quotas.auditRetentionDays;
}
