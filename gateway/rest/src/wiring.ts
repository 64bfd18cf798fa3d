import type { NatsConnection } from "@nats-io/nats-core";
import { createServiceTokenSource } from "@tessera/platform/auth";
import { createTokenExchanger } from "@tessera/platform/edge";
import { connectNats } from "@tessera/platform/events";
import type { Logger } from "@tessera/platform/log";
import { createTenantResolver } from "@tessera/platform/tenancy-client";
import type { RestConfig } from "./config.ts";
import { SERVICE } from "./config.ts";
import { createKvIdempotencyStore } from "./idempotency.ts";
import { createRateLimiter, planQuotaSource } from "./rate-limit.ts";
import type { RestDeps } from "./server.ts";

/** The edge's dependencies and how to release them (after the server closed). */
export interface Wired {
  readonly deps: RestDeps;
  readonly nats: NatsConnection;
  close(): Promise<void>;
}

/**
 * Connects what the edge needs from its configuration: NATS (idempotency bucket, cache evictions),
 * its own service credential at identity, the token exchanger, and — with TENANCY_URL — the
 * tenant resolver the rate limits read plans from and projects' calls are routed by (a silo
 * tenant's own instance). Used by main.ts and by tests alike.
 */
export async function wire(config: RestConfig, logger: Logger, apiVersion?: string): Promise<Wired> {
  const nats = await connectNats(config.NATS_URL, SERVICE);
  const serviceTokens = createServiceTokenSource({
    identityUrl: config.IDENTITY_URL,
    clientId: config.SERVICE_CLIENT_ID,
    clientSecret: config.SERVICE_CLIENT_SECRET,
    logger,
  });
  const exchanger = createTokenExchanger({
    identityUrl: config.IDENTITY_URL,
    serviceTokens,
    nats,
    timeoutMs: config.EXCHANGE_TIMEOUT_MS,
    logger,
  });
  const resolver = config.TENANCY_URL
    ? createTenantResolver({
        baseUrl: config.TENANCY_URL,
        nats,
        token: () => serviceTokens.getToken("tenancy"),
        logger,
      })
    : undefined;
  const idempotency = await createKvIdempotencyStore(nats, {
    bucket: config.IDEMPOTENCY_BUCKET,
    ttlMs: config.IDEMPOTENCY_TTL_MS,
    lockMs: config.IDEMPOTENCY_LOCK_MS,
  });
  const deps: RestDeps = {
    logger,
    exchanger,
    projectsUrl: config.PROJECTS_URL,
    resolver,
    auditUrl: config.AUDIT_URL,
    identityUrl: config.IDENTITY_URL,
    identityHttpUrl: config.IDENTITY_HTTP_URL,
    idempotency,
    rateLimiter: config.RATE_LIMIT_ENABLED
      ? createRateLimiter({ quotaOf: planQuotaSource(resolver, config.RATE_LIMIT_DEFAULT_PLAN, logger) })
      : undefined,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    upstreamTimeoutMs: config.UPSTREAM_TIMEOUT_MS,
    versions: {
      v1: { deprecatedAt: config.V1_DEPRECATED_AT, sunsetAt: config.V1_SUNSET_AT, link: config.V1_DEPRECATION_LINK },
    },
    publicBaseUrl: config.PUBLIC_BASE_URL,
    ...(apiVersion !== undefined && { apiVersion }),
  };
  return {
    deps,
    nats,
    async close() {
      await exchanger.close();
      await resolver?.close();
      serviceTokens.close();
      await nats.drain().catch(() => undefined);
    },
  };
}
