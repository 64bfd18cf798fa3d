import { createHash } from "node:crypto";
import { InvalidArgument } from "@tessera/platform/errors";
import * as client from "openid-client";

/** Deadline of every request to an IdP (discovery, token endpoint, JWKS), in seconds. */
export const IDP_TIMEOUT_S = 5;

/** How long a discovered configuration is reused before discovery runs again. */
const CONFIG_TTL_MS = 5 * 60_000;

/** What identity needs to talk to one tenant's IdP. */
export interface IdpClient {
  issuer: string;
  clientId: string;
  clientSecret: string;
}

/** The endpoints a discovery document must name. */
export interface DiscoveredEndpoints {
  authorizationEndpoint: string;
  tokenEndpoint: string;
  jwksUri: string;
}

/** Issuers on the loopback interface may use plain http (local IdPs, tests); all others need https. */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
}

/** Parses and checks an issuer identifier: https (or loopback http), no query or fragment. */
export function issuerUrl(issuer: string): URL {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new InvalidArgument("the issuer is not a URL", [{ field: "issuer", message: "must be an absolute URL" }]);
  }
  if (url.protocol !== "https:" && !isLoopbackHttp(url)) {
    throw new InvalidArgument("the issuer must use https", [{ field: "issuer", message: "must be an https URL" }]);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new InvalidArgument("the issuer must not carry a query, fragment or credentials", [
      { field: "issuer", message: "must be a plain issuer identifier" },
    ]);
  }
  return url;
}

/** A readable reason for a failed discovery or code exchange (never a token, never a secret). */
export function describeIdpError(err: unknown): string {
  const e = err as { name?: string; code?: string; message?: string; error?: string; cause?: unknown };
  const chain: Array<{ name?: string; code?: string }> = [];
  for (let c: unknown = err; c && chain.length < 5; c = (c as { cause?: unknown }).cause) chain.push(c as never);
  if (chain.some((c) => c.name === "TimeoutError" || c.name === "AbortError"))
    return `no answer within ${IDP_TIMEOUT_S} s`;
  if (e?.error)
    return `the identity provider answered ${String(e.error)
      .replace(/[^A-Za-z0-9_.-]/g, "")
      .slice(0, 64)}`;
  if (chain.some((c) => c.code === "ECONNREFUSED")) return "connection refused";
  // openid-client wraps oauth4webapi's specific (fixed-text) reason, e.g. `unexpected JWT "aud" …`
  const innermost = chain.findLast((c) => typeof (c as { message?: unknown }).message === "string") as
    | { message: string }
    | undefined;
  return String(innermost?.message ?? e?.message ?? "unknown error")
    .replace(/\s+/g, " ")
    .slice(0, 200);
}

const cache = new Map<string, { config: client.Configuration; until: number }>();

function cacheKey(c: IdpClient): string {
  return createHash("sha256").update(`${c.issuer}\n${c.clientId}\n${c.clientSecret}`).digest("hex");
}

/**
 * Discovers the IdP (OpenID Connect Discovery; openid-client checks that the document names the
 * configured issuer) with a deadline and returns its client configuration: client_secret_basic,
 * the same deadline for every later request (token endpoint, JWKS). Cached for a few minutes per
 * issuer + client + secret, so a changed connection discovers afresh.
 */
export async function idpConfiguration(c: IdpClient, fresh = false): Promise<client.Configuration> {
  const key = cacheKey(c);
  const hit = cache.get(key);
  if (!fresh && hit && hit.until > Date.now()) return hit.config;
  const url = issuerUrl(c.issuer);
  const config = await client.discovery(url, c.clientId, undefined, client.ClientSecretBasic(c.clientSecret), {
    timeout: IDP_TIMEOUT_S,
    ...(isLoopbackHttp(url) && { execute: [client.allowInsecureRequests] }),
  });
  config.timeout = IDP_TIMEOUT_S;
  // verify ID token signatures against the IdP's JWKS even from the token endpoint (openid-client
  // relies on TLS there by default): a token signed by another key, or with alg none, is refused
  client.enableNonRepudiationChecks(config);
  endpointsOf(config);
  if (cache.size > 1_000) cache.clear();
  cache.set(key, { config, until: Date.now() + CONFIG_TTL_MS });
  return config;
}

/** The endpoints of a discovered configuration; throws when one is missing. */
export function endpointsOf(config: client.Configuration): DiscoveredEndpoints {
  const m = config.serverMetadata();
  const missing = [
    !m.authorization_endpoint && "authorization_endpoint",
    !m.token_endpoint && "token_endpoint",
    !m.jwks_uri && "jwks_uri",
  ].filter(Boolean);
  if (missing.length > 0) throw new Error(`the discovery document has no ${missing.join(", ")}`);
  return {
    authorizationEndpoint: String(m.authorization_endpoint),
    tokenEndpoint: String(m.token_endpoint),
    jwksUri: String(m.jwks_uri),
  };
}

/**
 * Validates a connection before it is saved: discovery must answer in time, name the issuer and
 * have the three endpoints. Any failure is InvalidArgument on `issuer` with the reason.
 */
export async function validateDiscovery(c: IdpClient): Promise<DiscoveredEndpoints> {
  issuerUrl(c.issuer);
  try {
    return endpointsOf(await idpConfiguration(c, true));
  } catch (err) {
    if (err instanceof InvalidArgument) throw err;
    const reason = describeIdpError(err);
    throw new InvalidArgument(`discovery of the identity provider failed: ${reason}`, [
      { field: "issuer", message: `discovery failed: ${reason}` },
    ]);
  }
}

export { client as oidc };
