import { anyUnpack, timestampDate } from "@bufbuild/protobuf/wkt";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Orm, withTenantTransaction } from "@tessera/platform/db";
import { EVENT_SUBJECT_PREFIX, type RunningConsumer, startConsumer } from "@tessera/platform/events";
import type { Logger } from "@tessera/platform/log";
import { TenantEventSchema, TenantStatus } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { applyTenantState, type ProjectedStatus } from "../domain/tenants.ts";

/** Durable name of identity's consumer of tenancy's events. */
export const TENANT_CONSUMER = "identity_tenants";

const STATUS: Partial<Record<TenantStatus, ProjectedStatus>> = {
  [TenantStatus.PROVISIONING]: "provisioning",
  [TenantStatus.ACTIVE]: "active",
  [TenantStatus.SUSPENDED]: "suspended",
  [TenantStatus.OFFBOARDING]: "offboarding",
  [TenantStatus.DELETED]: "deleted",
};

/**
 * Keeps identity's projection of tenant status (slug and plan) from tenancy's `tenant.*` events, so
 * Login, Refresh and ExchangeToken refuse a suspended tenant's users and keys as soon as the event
 * is consumed, and invitations respect the plan's seats. Events carry the tenant as it is after the change; older ones never overwrite newer.
 */
export function startTenantConsumer(deps: {
  nats: NatsConnection;
  orm: Orm;
  logger: Logger;
  /** Durable name; every replica of one deployment shares it (default {@link TENANT_CONSUMER}). */
  durable?: string;
}): RunningConsumer {
  return startConsumer({
    nats: deps.nats,
    orm: deps.orm,
    durable: deps.durable ?? TENANT_CONSUMER,
    filterSubjects: [`${EVENT_SUBJECT_PREFIX}.*.tenant.*`],
    logger: deps.logger,
    transaction: (tenantId, fn) => withTenantTransaction(deps.orm, fn, { tenantId }),
    handler: async (envelope, { em }) => {
      const event = envelope.payload && anyUnpack(envelope.payload, TenantEventSchema);
      const tenant = event?.tenant;
      const status = tenant && STATUS[tenant.status];
      if (!tenant || !status || tenant.id.toLowerCase() !== envelope.tenantId) {
        deps.logger.warn(
          { event_id: envelope.id, type: envelope.type },
          "tenant event without a usable tenant: ignored",
        );
        return;
      }
      const at = envelope.occurredAt ? timestampDate(envelope.occurredAt) : new Date();
      await applyTenantState(em, { id: envelope.tenantId, slug: tenant.slug, status, plan: tenant.plan, at });
      deps.logger.info({ status, type: envelope.type }, "tenant status projected");
    },
  });
}
