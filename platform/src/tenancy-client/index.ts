/**
 * Tenant lookups for edges and services: {@link createTenantResolver} wraps tenancy's ResolveTenant
 * with a bounded cache that tenant events invalidate, and `requireActive` refuses tenants that are
 * not ACTIVE (a suspended tenant's users and keys are refused as soon as its event arrives, and at
 * the latest when the cached answer expires). {@link placementRoute} routes a service client to a
 * silo tenant's own instance of the service.
 */
export { type PlacementRouteOptions, placementRoute } from "./endpoints.ts";
export { ExpiringLru } from "./lru.ts";
export {
  createTenantResolver,
  type ResolverStats,
  TENANT_EVENTS_SUBJECT,
  type TenantResolver,
  type TenantResolverOptions,
} from "./resolver.ts";
