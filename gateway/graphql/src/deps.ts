import type { Interceptor } from "@connectrpc/connect";
import { createServiceTokenSource } from "@tessera/platform/auth";
import { createTokenExchanger } from "@tessera/platform/edge";
import { connectNats } from "@tessera/platform/events";
import type { Logger } from "@tessera/platform/log";
import { createTenantResolver, type TenantResolver } from "@tessera/platform/tenancy-client";
import type { GatewayConfig } from "./config.ts";
import { type GatewayDeps, SERVICE } from "./server.ts";
import { createServiceClients } from "./services.ts";

/** The gateway's dependencies, connected; close() releases them (after the server has drained). */
export interface ConnectedDeps extends GatewayDeps {
  /** Tenant placements (cached, evicted by tenant events): where a silo tenant's own services answer. */
  readonly resolver: TenantResolver;
  close(): Promise<void>;
}

/**
 * Connects what build() needs: NATS (task events, and evicting exchanged tokens and tenant
 * placements on identity and tenant events), the gateway's own service credential, the token
 * exchanger, the tenant resolver (placements, with the gateway's own token for tenancy), and one
 * client per service, projects' routed per tenant. `interceptors` go on every service client
 * (tests count calls with one).
 */
export async function connectDeps(
  config: GatewayConfig,
  options: { logger: Logger; interceptors?: readonly Interceptor[] },
): Promise<ConnectedDeps> {
  const { logger } = options;
  const nats = await connectNats(config.NATS_URL, SERVICE);
  const serviceTokens = createServiceTokenSource({
    identityUrl: config.IDENTITY_URL,
    clientId: config.SERVICE_CLIENT_ID,
    clientSecret: config.SERVICE_CLIENT_SECRET,
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
    logger,
  });
  const exchanger = createTokenExchanger({
    identityUrl: config.IDENTITY_URL,
    serviceTokens,
    nats,
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
    logger,
  });
  const resolver = createTenantResolver({
    baseUrl: config.TENANCY_URL,
    nats,
    token: () => serviceTokens.getToken("tenancy"),
    logger,
  });
  const clients = createServiceClients({
    identityUrl: config.IDENTITY_URL,
    projectsUrl: config.PROJECTS_URL,
    resolver,
    tenancyUrl: config.TENANCY_URL,
    auditUrl: config.AUDIT_URL,
    exchanger,
    serviceTokens,
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
    ...(options.interceptors && { interceptors: options.interceptors }),
  });
  return {
    config,
    clients,
    exchanger,
    nats,
    logger,
    resolver,
    async close() {
      clients.close();
      await resolver.close();
      await exchanger.close();
      serviceTokens.close();
      await nats.drain().catch((err: unknown) => logger.warn({ err }, "NATS drain failed"));
    },
  };
}
