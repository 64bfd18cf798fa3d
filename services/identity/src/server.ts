import type { NatsConnection } from "@nats-io/nats-core";
import { createLocalVerifier } from "@tessera/platform/auth";
import type { Orm } from "@tessera/platform/db";
import type { RunningConsumer } from "@tessera/platform/events";
import type { Logger } from "@tessera/platform/log";
import { CATALOGUE, type PlanCatalogue } from "@tessera/platform/plans";
import type { ReadinessCheck, RpcServer, ShutdownHook } from "@tessera/platform/rpc-server";
import { createServiceServer } from "@tessera/platform/service";
import type { IdentitySettings } from "./config.ts";
import type { IdentityDeps } from "./domain/deps.ts";
import { createKeyStore } from "./domain/keys.ts";
import { createPasswordHasher } from "./domain/passwords.ts";
import { createAudienceCache } from "./domain/service-clients.ts";
import { ssoDirectory, type TenantDirectory } from "./domain/sso/directory.ts";
import { registerIdentityTenantData } from "./domain/tenant-data.ts";
import { createTokenSigner } from "./domain/tokens.ts";
import { startTenantConsumer } from "./events/consume-tenant-events.ts";
import { createJwksServer, type JwksServer } from "./jwks-http.ts";
import { PUBLIC_SERVICES, routes } from "./routes.ts";
import { createScimHandler, SCIM_PATH } from "./scim/router.ts";
import { createSsoHandler, SSO_PATH } from "./sso/router.ts";

/** The service name: the `aud` of internal tokens addressed to identity. */
export const SERVICE = "identity";

/** Slack on top of the longest token lifetime before a rotated key leaves the JWKS. */
const RETAIN_SLACK_MS = 60_000;

/** What build() needs; main.ts fills it from the kit's runtime, tests from their own resources. */
export interface BuildOptions {
  settings: IdentitySettings;
  orm: Orm;
  logger: Logger;
  /** When given (and consumeTenantEvents), tenancy's events feed the tenant-status projection. */
  nats?: NatsConnection | undefined;
  consumeTenantEvents?: boolean;
  /** Durable name of the tenant-event consumer (one per deployment; default identity_tenants). */
  tenantConsumerName?: string;
  host?: string;
  port?: number;
  httpPort?: number;
  shutdownGraceMs?: number;
  onShutdown?: readonly ShutdownHook[];
  readinessChecks?: readonly ReadinessCheck[];
  /** The plan catalogue for seat quotas (default: this process's, from TESSERA_PLANS_FILE or config/plans.yaml). */
  plans?: PlanCatalogue;
  /**
   * With the owner role's URL of identity's database, identity serves TenantDataService (export
   * and deletion of a tenant's memberships, invitations and API keys).
   */
  tenantDataOwnerUrl?: string;
  /** Where SSO finds tenants by verified email domain (default: tenancy at TENANCY_URL). */
  tenantDirectory?: TenantDirectory;
}

/** identity, built and not yet listening: the gRPC server plus the JWKS endpoint and the consumer. */
export interface IdentityServer {
  /** The gRPC server; its listen() also starts the JWKS endpoint and the tenant consumer. */
  server: RpcServer;
  deps: IdentityDeps;
  /** The JWKS URL, known once listening. */
  jwksUrl(): string;
}

/**
 * Builds identity: password hasher, signing keys (loaded from the database, the first one created),
 * token signer, its own verifier (tokens addressed to `identity` are checked against the key store
 * in-process, not over HTTP), the routes, and the kit's server with IssueServiceToken public.
 */
export async function build(options: BuildOptions): Promise<IdentityServer> {
  const { settings, orm, logger } = options;
  const hasher = await createPasswordHasher(settings.argon2);
  const longest = Math.max(settings.accessTokenTtlMs, settings.internalTokenTtlMs, settings.serviceTokenTtlMs);
  const keys = await createKeyStore({
    orm,
    keyEncryptionKey: settings.keyEncryptionKey,
    alg: settings.signingAlg,
    retainAfterRotationMs: longest + RETAIN_SLACK_MS,
    reloadMs: settings.keyReloadMs,
    logger,
  });
  const deps: IdentityDeps = {
    orm,
    settings,
    hasher,
    keys,
    signer: createTokenSigner(keys, settings.issuer),
    userTokenVerifier: createLocalVerifier({
      keys: keys.getKey,
      issuer: settings.issuer,
      audience: settings.edgeAudience,
    }),
    logger,
    plans: options.plans ?? CATALOGUE,
  };
  const sso = ssoDirectory({
    given: options.tenantDirectory,
    tenancyUrl: settings.sso.tenancyUrl,
    signer: deps.signer,
    serviceTokenTtlMs: settings.serviceTokenTtlMs,
    logger,
    nats: options.nats,
  });
  const jwks: JwksServer = createJwksServer({
    keys,
    host: options.host ?? "127.0.0.1",
    port: options.httpPort ?? 0,
    logger,
    routes: [
      { prefix: SCIM_PATH, handle: createScimHandler(deps) },
      { prefix: SSO_PATH, handle: createSsoHandler(deps, sso.directory) },
    ],
  });
  let consumer: RunningConsumer | undefined;
  let jwksUrl = "";
  const rpc = createServiceServer({
    service: SERVICE,
    register: (router) => {
      routes(deps, createAudienceCache(deps))(router);
      if (options.tenantDataOwnerUrl) registerIdentityTenantData(router, orm, options.tenantDataOwnerUrl, logger);
    },
    verifier: createLocalVerifier({ keys: keys.getKey, issuer: settings.issuer, audience: SERVICE }),
    publicServices: PUBLIC_SERVICES,
    logger,
    ...(options.host !== undefined && { host: options.host }),
    ...(options.port !== undefined && { port: options.port }),
    ...(options.shutdownGraceMs !== undefined && { shutdownGraceMs: options.shutdownGraceMs }),
    ...(options.readinessChecks && { readinessChecks: options.readinessChecks }),
    onShutdown: [
      async () => consumer?.stop(),
      () => jwks.close(),
      () => sso.close(),
      async () => keys.stop(),
      ...(options.onShutdown ?? []),
    ],
  });
  const server: RpcServer = {
    ...rpc,
    async listen() {
      jwksUrl = (await jwks.listen()).url;
      if (options.nats && options.consumeTenantEvents !== false) {
        consumer = startTenantConsumer({
          nats: options.nats,
          orm,
          logger,
          ...(options.tenantConsumerName && { durable: options.tenantConsumerName }),
        });
      }
      return rpc.listen();
    },
  };
  return { server, deps, jwksUrl: () => jwksUrl };
}
