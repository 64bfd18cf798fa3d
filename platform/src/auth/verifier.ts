import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  type FetchImplementation,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from "jose";
import type { Principal } from "../context/index.ts";
import { Unauthenticated, Unavailable } from "../errors/index.ts";
import { ClaimsError, principalFromClaims } from "./claims.ts";

/** The only signature algorithms an internal token may use; never `none`, never HS*. */
export const ACCEPTED_ALGORITHMS = ["EdDSA", "ES256"] as const;

/** Tokens longer than this are rejected before any parsing. */
export const MAX_TOKEN_LENGTH = 8192;

/** What a verified internal token says about the caller. */
export interface VerifiedToken {
  readonly principal: Principal;
  /** The tenant the call runs for; undefined only for platform-level callers. */
  readonly tenantId: string | undefined;
  readonly expiresAt: Date;
}

/** Verifies internal tokens; rejects with `Unauthenticated` (bad token) or `Unavailable` (no keys). */
export interface TokenVerifier {
  verify(token: string): Promise<VerifiedToken>;
}

/** The checks every verifier applies besides the signature. */
export interface ClaimCheckOptions {
  /** Identity's URL, exactly as it writes `iss`. */
  issuer: string;
  /** This service's name; a token's `aud` must be exactly this (one audience, not a list). */
  audience: string;
  /** Allowed clock skew for `exp`, `nbf` and `iat`, in seconds (default 5). */
  clockToleranceSec?: number;
  /**
   * How long a verified token is remembered, so a caller re-sending the same token skips the
   * signature check (the dominant per-call cost). Never past the token's own `exp`. Trade-off: a
   * key removed from the JWKS keeps its already-verified tokens valid for up to this long.
   * Default 30 000 ms; 0 disables the cache.
   */
  verifiedCacheTtlMs?: number;
  /** Most tokens remembered (least recently used go first). Default 10 000. */
  verifiedCacheMaxEntries?: number;
}

/** Options of {@link createTokenVerifier}. */
export interface TokenVerifierOptions extends ClaimCheckOptions {
  /** Identity's JWKS endpoint (http or https). */
  jwksUrl: string | URL;
  /** Keys are refetched when older than this (default 10 minutes). */
  jwksCacheMaxAgeMs?: number;
  /** After a successful fetch, an unknown `kid` may trigger another fetch only after this (default 30 s). */
  jwksCooldownMs?: number;
  /** Deadline of one JWKS fetch, body included (default 3 s). */
  fetchTimeoutMs?: number;
  /** After a failed fetch, no new fetch is attempted for this long (default 1 s). */
  jwksRetryAfterFailureMs?: number;
  /** While identity is unreachable, keys fetched at most this long ago stay usable (default 1 hour). */
  jwksStaleIfErrorMs?: number;
}

/** Options of {@link createLocalVerifier}. */
export interface LocalVerifierOptions extends ClaimCheckOptions {
  /** A key set, or a jose key resolver (for example identity's own signing keys). */
  keys: JSONWebKeySet | JWTVerifyGetKey;
}

/** Raised by the key resolver when identity's JWKS cannot be fetched; never shown to callers. */
class KeySetUnavailable extends Error {
  override name = "KeySetUnavailable";
}

const KEY_SELECTION_ERRORS = new Set([
  "ERR_JWKS_NO_MATCHING_KEY",
  "ERR_JWKS_MULTIPLE_MATCHING_KEYS",
  "ERR_JOSE_NOT_SUPPORTED",
  "ERR_JWK_INVALID",
]);

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * A short, fixed reason for a failed verification. Reasons are chosen from constants (never copied
 * from the error), so neither the token nor its claims can leak into messages or logs.
 */
function reasonFor(err: unknown): string {
  switch (codeOf(err)) {
    case "ERR_JWT_EXPIRED":
      return "token expired";
    case "ERR_JWT_CLAIM_VALIDATION_FAILED": {
      const claim = (err as { claim?: unknown }).claim;
      if (claim === "aud") return "token not for this service";
      if (claim === "iss") return "token from an untrusted issuer";
      if (claim === "nbf") return "token not yet valid";
      if (claim === "exp" || claim === "sub" || claim === "iat") return `missing or invalid "${claim}" claim`;
      return "invalid token claims";
    }
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return "token algorithm not allowed";
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return "token signature invalid";
    case "ERR_JWKS_NO_MATCHING_KEY":
      return "token signed by an unknown key";
    case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
      return "token key is ambiguous";
    default:
      return "malformed token";
  }
}

function toAuthError(err: unknown): Error {
  if (err instanceof KeySetUnavailable) {
    return new Unavailable("signing keys unavailable", [], { cause: err.cause });
  }
  if (err instanceof ClaimsError) return new Unauthenticated(err.message);
  return new Unauthenticated(reasonFor(err));
}

function checkAgainst(payload: JWTPayload, options: ClaimCheckOptions, toleranceSec: number): void {
  // jose accepts any `aud` list containing ours; a multi-audience token could be replayed elsewhere.
  if (payload.aud !== options.audience) throw new Unauthenticated("token not for this service");
  const now = Math.floor(Date.now() / 1000);
  if (payload.iat !== undefined && payload.iat > now + toleranceSec) {
    throw new Unauthenticated("token issued in the future");
  }
}

/** A bounded LRU of verified tokens, each valid until the earlier of its `exp` and the TTL. */
function verifiedCache(ttlMs: number, maxEntries: number) {
  const entries = new Map<string, { verified: VerifiedToken; until: number }>();
  return {
    get(token: string): VerifiedToken | undefined {
      const hit = entries.get(token);
      if (!hit) return undefined;
      entries.delete(token);
      if (hit.until <= Date.now()) return undefined;
      entries.set(token, hit);
      return hit.verified;
    },
    set(token: string, verified: VerifiedToken): void {
      if (ttlMs === 0) return;
      entries.set(token, { verified, until: Math.min(Date.now() + ttlMs, verified.expiresAt.getTime()) });
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
    },
  };
}

function buildVerifier(getKey: JWTVerifyGetKey, options: ClaimCheckOptions): TokenVerifier {
  const clockTolerance = options.clockToleranceSec ?? 5;
  const cache = verifiedCache(
    checkDuration("verifiedCacheTtlMs", options.verifiedCacheTtlMs, 30_000),
    Math.max(1, checkDuration("verifiedCacheMaxEntries", options.verifiedCacheMaxEntries, 10_000)),
  );
  return {
    async verify(token: string): Promise<VerifiedToken> {
      if (typeof token !== "string" || token.length === 0) throw new Unauthenticated("missing token");
      if (token.length > MAX_TOKEN_LENGTH) throw new Unauthenticated("token too large");
      const cached = cache.get(token);
      if (cached) return cached;
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          algorithms: [...ACCEPTED_ALGORITHMS],
          issuer: options.issuer,
          audience: options.audience,
          clockTolerance,
          requiredClaims: ["exp", "sub"],
        }));
        checkAgainst(payload, options, clockTolerance);
        const { principal, tenantId } = principalFromClaims(payload);
        const verified = { principal, tenantId, expiresAt: new Date((payload.exp ?? 0) * 1000) };
        cache.set(token, verified);
        return verified;
      } catch (err) {
        if (err instanceof Unauthenticated) throw err;
        throw toAuthError(err);
      }
    },
  };
}

function checkDuration(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) throw new TypeError(`${name} must be a non-negative integer`);
  return value;
}

function parseJwksUrl(value: string | URL): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError("jwksUrl must be an absolute URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new TypeError("jwksUrl must be http(s)");
  return url;
}

/**
 * A verifier that checks internal tokens against identity's JWKS, fetched over HTTP with a deadline
 * and cached. An unknown `kid` refetches the set (key rotation) at most once per cooldown, and a
 * failed fetch blocks further fetches for a short while, so a flood of bad tokens or an identity
 * outage cannot turn into a flood of requests to identity. During an outage, recently fetched
 * keys stay usable (stale-if-error) so running services keep serving.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const url = parseJwksUrl(options.jwksUrl);
  const retryAfterFailure = checkDuration("jwksRetryAfterFailureMs", options.jwksRetryAfterFailureMs, 1_000);
  const staleIfError = checkDuration("jwksStaleIfErrorMs", options.jwksStaleIfErrorMs, 3_600_000);
  let blockedUntil = 0;
  let lastSuccessAt = Number.NEGATIVE_INFINITY;

  const guardedFetch: FetchImplementation = async (href, init) => {
    if (Date.now() < blockedUntil) throw new KeySetUnavailable("JWKS fetch suppressed after a recent failure");
    try {
      const response = await fetch(href, init);
      if (response.status === 200) lastSuccessAt = Date.now();
      else blockedUntil = Date.now() + retryAfterFailure;
      return response;
    } catch (err) {
      blockedUntil = Date.now() + retryAfterFailure;
      throw err;
    }
  };

  const remote = createRemoteJWKSet(url, {
    timeoutDuration: checkDuration("fetchTimeoutMs", options.fetchTimeoutMs, 3_000),
    cooldownDuration: checkDuration("jwksCooldownMs", options.jwksCooldownMs, 30_000),
    cacheMaxAge: checkDuration("jwksCacheMaxAgeMs", options.jwksCacheMaxAgeMs, 600_000),
    [customFetch]: guardedFetch,
  });

  const getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      const code = codeOf(err);
      if (code !== undefined && KEY_SELECTION_ERRORS.has(code)) throw err;
      const cached = remote.jwks();
      if (cached && Date.now() - lastSuccessAt <= staleIfError) return createLocalJWKSet(cached)(header, token);
      throw new KeySetUnavailable("JWKS unavailable", { cause: err });
    }
  };

  return buildVerifier(getKey, options);
}

/**
 * A verifier over keys already in the process: identity verifying its own tokens, and tests.
 * Applies exactly the same algorithm, claim and principal checks as {@link createTokenVerifier}.
 */
export function createLocalVerifier(options: LocalVerifierOptions): TokenVerifier {
  const getKey = typeof options.keys === "function" ? options.keys : createLocalJWKSet(options.keys);
  return buildVerifier(getKey, options);
}
