import { create } from "@bufbuild/protobuf";
import type { TxEntityManager } from "@tessera/platform/db";
import { enqueueEvent } from "@tessera/platform/events";
import { TenantEventSchema } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { tenantToProto } from "../contract.ts";
import type { TenantView } from "../domain/model.ts";

/** Every event tenancy publishes; subject `tessera.evt.<tenantId>.<type>`, payload TenantEvent. */
export const TENANT_EVENT_TYPES = [
  "tenant.created",
  "tenant.activated",
  "tenant.updated",
  "tenant.plan_changed",
  "tenant.suspended",
  "tenant.resumed",
  "tenant.offboarding",
  "tenant.moving",
  "tenant.moved",
  "tenant.move_rolled_back",
  "tenant.upgraded",
  "tenant.deleted",
] as const;
/** One of {@link TENANT_EVENT_TYPES}. */
export type TenantEventType = (typeof TENANT_EVENT_TYPES)[number];

/**
 * Enqueues a tenant event in the transaction of the change (the tenant after the change). `em` must
 * be a transaction set to this tenant (withTenantScope): the outbox accepts only that tenant's rows.
 */
export async function publishTenantEvent(
  em: TxEntityManager,
  type: TenantEventType,
  tenant: TenantView,
  extra: { reason?: string; previousPlan?: string } = {},
): Promise<void> {
  await enqueueEvent(em, {
    type,
    tenantId: tenant.id,
    aggregateId: tenant.id,
    schema: TenantEventSchema,
    payload: create(TenantEventSchema, {
      tenant: tenantToProto(tenant),
      reason: extra.reason ?? "",
      previousPlan: extra.previousPlan ?? "",
    }),
  });
}
