import { type Tenant, TenantStatus } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { builder } from "../builder.ts";
import type { GatewayContext } from "../context.ts";
import { encodeGlobalId } from "../global-id.ts";
import { definedEnum } from "./common.ts";

const STATUSES = {
  PROVISIONING: TenantStatus.PROVISIONING,
  ACTIVE: TenantStatus.ACTIVE,
  SUSPENDED: TenantStatus.SUSPENDED,
  OFFBOARDING: TenantStatus.OFFBOARDING,
  DELETED: TenantStatus.DELETED,
};

const TenantStatusEnum = builder.enumType("TenantStatus", {
  values: Object.fromEntries(Object.entries(STATUSES).map(([name, value]) => [name, { value }])) as {
    [K in keyof typeof STATUSES]: { value: (typeof STATUSES)[K] };
  },
});

/** A customer organisation; the graph shows only the caller's own tenant. */
export const TenantRef = builder.objectRef<Tenant>("Tenant").implement({
  description: "A customer organisation. Only the tenant of the caller's session is shown.",
  fields: (t) => ({
    id: t.id({ resolve: (tenant) => encodeGlobalId("Tenant", tenant.id) }),
    slug: t.exposeString("slug"),
    displayName: t.exposeString("displayName"),
    plan: t.exposeString("plan"),
    status: t.field({ type: TenantStatusEnum, resolve: (tenant) => definedEnum(tenant.status, STATUSES) }),
  }),
});

const cache = new WeakMap<GatewayContext, Promise<Tenant | null>>();

/** The tenant of the caller's session (tenancy lets a tenant's own users read it), once per request. */
export function sessionTenant(ctx: GatewayContext): Promise<Tenant | null> {
  let tenant = cache.get(ctx);
  if (!tenant) {
    tenant = (async () => {
      const { tenantId } = await ctx.session();
      if (!tenantId) return null;
      return (await ctx.rpc.tenancy.getTenant({ tenantId })).tenant ?? null;
    })();
    cache.set(ctx, tenant);
  }
  return tenant;
}
