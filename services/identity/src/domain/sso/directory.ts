import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "@tessera/platform/log";
import { createTenantResolver, type TenantResolver } from "@tessera/platform/tenancy-client";
import { TenantStatus } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import type { TokenSigner } from "../tokens.ts";

/** A tenant as home-realm discovery needs it. */
export interface DirectoryTenant {
  id: string;
  slug: string;
  active: boolean;
}

/**
 * Where SSO finds tenants: by the verified email domain (home-realm discovery, and the check that
 * an IdP asserts only its own tenant's addresses) and by slug. Backed by tenancy's ResolveTenant.
 */
export interface TenantDirectory {
  byEmailDomain(email: string): Promise<DirectoryTenant | undefined>;
  bySlug(slug: string): Promise<DirectoryTenant | undefined>;
}

const view = (t: { id: string; slug: string; status: TenantStatus } | undefined): DirectoryTenant | undefined =>
  t && { id: t.id.toLowerCase(), slug: t.slug, active: t.status === TenantStatus.ACTIVE };

/** A directory over the kit's tenant resolver (cached answers, evicted by tenant events, deadlines). */
export function resolverDirectory(resolver: TenantResolver): TenantDirectory {
  return {
    byEmailDomain: async (email) => view(await resolver.byEmailDomain(email)),
    bySlug: async (slug) => view(await resolver.bySlug(slug)),
  };
}

/**
 * identity's own service token for tenancy (audience `tenancy`, role `service`): identity is the
 * issuer, so it signs one itself instead of asking itself over gRPC; reused until shortly before
 * it expires.
 */
export function selfServiceToken(signer: TokenSigner, ttlMs: number, audience = "tenancy"): () => Promise<string> {
  let cached: { token: string; renewAt: number } | undefined;
  return async () => {
    if (cached && Date.now() < cached.renewAt) return cached.token;
    const issued = await signer.sign(
      { sub: "identity", kind: "service", roles: ["service"], scopes: [] },
      audience,
      ttlMs,
    );
    cached = { token: issued.token, renewAt: issued.expiresAt.getTime() - Math.min(30_000, ttlMs / 2) };
    return issued.token;
  };
}

/**
 * The directory SSO uses: the one given (tests), else tenancy's ResolveTenant at
 * TENANCY_URL with identity's own service token (2 s deadline per call, answers cached
 * and evicted by tenant events when NATS is given); undefined without either (SSO starts by slug
 * only and callbacks are refused: the email domain cannot be checked).
 */
export function ssoDirectory(options: {
  given: TenantDirectory | undefined;
  tenancyUrl: string | undefined;
  signer: TokenSigner;
  serviceTokenTtlMs: number;
  logger: Logger;
  nats?: NatsConnection | undefined;
}): { directory: TenantDirectory | undefined; close(): Promise<void> } {
  if (options.given) return { directory: options.given, close: async () => undefined };
  if (!options.tenancyUrl) return { directory: undefined, close: async () => undefined };
  const resolver = createTenantResolver({
    baseUrl: options.tenancyUrl,
    token: selfServiceToken(options.signer, options.serviceTokenTtlMs),
    logger: options.logger,
    ...(options.nats && { nats: options.nats }),
  });
  return { directory: resolverDirectory(resolver), close: () => resolver.close() };
}
