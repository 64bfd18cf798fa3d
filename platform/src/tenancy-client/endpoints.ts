import type { ServiceRoute } from "../rpc-client/index.ts";
import type { TenantResolver } from "./resolver.ts";

/** Options of {@link placementRoute}. */
export interface PlacementRouteOptions {
  /** Connections to tenants' own instances held at most (see ServiceRoute.maxEndpoints). */
  readonly maxEndpoints?: number;
}

/**
 * Routes a service client by the tenant directory: a call made for a tenant whose placement names
 * an endpoint for `service` (a silo tenant's own instance, `placement.endpoints[service]`) goes
 * there; other tenants' calls go to the client's `baseUrl`. Answers come from the resolver's cache,
 * which tenant events evict, so a changed endpoint is followed on the next call. When the tenant
 * cannot be resolved (tenancy unreachable, the caller refused) the call fails UNAVAILABLE.
 *
 * ```ts
 * createServiceClient(ProjectService, { baseUrl, route: placementRoute(resolver, "projects") });
 * ```
 */
export function placementRoute(
  resolver: TenantResolver,
  service: string,
  options: PlacementRouteOptions = {},
): ServiceRoute {
  return {
    ...(options.maxEndpoints !== undefined && { maxEndpoints: options.maxEndpoints }),
    async endpointOf(tenantId) {
      const tenant = await resolver.byId(tenantId);
      return tenant?.placement?.endpoints[service];
    },
  };
}
