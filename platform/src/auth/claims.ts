import { type Authentication, currentContext, type Principal } from "../context/index.ts";

const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Principal kinds an internal token may carry; "system" exists only in-process (runAsTenant). */
export const TOKEN_PRINCIPAL_KINDS = ["user", "api_key", "service"] as const;

/** The kind of caller an internal token can name. */
export type TokenPrincipalKind = (typeof TOKEN_PRINCIPAL_KINDS)[number];

/** RFC 8693 actor claim: who acts on the subject's behalf, nesting earlier actors. */
export interface ActorClaim {
  readonly sub: string;
  readonly act?: ActorClaim;
  /** User tokens: authentication methods (RFC 8176), e.g. ["pwd"] or ["pwd", "otp"]. */
  readonly amr?: readonly string[];
  /** User tokens: {@link ACR_MFA} after a second factor, {@link ACR_PASSWORD} otherwise. */
  readonly acr?: string;
  /** User tokens: when the user last actively authenticated, in seconds since the epoch. */
  readonly auth_time?: number;
}

/** `acr` of a sign-in that used a second factor. */
export const ACR_MFA = "urn:tessera:acr:mfa";
/** `acr` of a password-only sign-in. */
export const ACR_PASSWORD = "urn:tessera:acr:pwd";
/** `acr` of a single-factor sign-in through the tenant's identity provider (SSO). */
export const ACR_FEDERATED = "urn:tessera:acr:fed";
/**
 * `amr` values that are a second factor (RFC 8176 `otp`, `hwk`, `swk`, and `mfa`, which identity
 * writes only after SSO when the tenant trusts its IdP's second factor; Tessera's `rcv` = recovery code).
 */
export const SECOND_FACTOR_METHODS: ReadonlySet<string> = new Set(["otp", "rcv", "hwk", "swk", "mfa"]);

/** The `acr` that a set of authentication methods earns (`fed` marks a federated, SSO, sign-in). */
export function acrFor(amr: readonly string[]): string {
  if (amr.some((m) => SECOND_FACTOR_METHODS.has(m))) return ACR_MFA;
  return amr.includes("fed") ? ACR_FEDERATED : ACR_PASSWORD;
}

/**
 * The claims of a Tessera internal token, as identity mints them. Registered claims (`iss`, `aud`,
 * `exp`, `iat`, `nbf`) are checked by the verifier; these are the ones that describe the caller.
 */
export interface InternalTokenClaims {
  readonly sub: string;
  readonly kind: TokenPrincipalKind;
  /** Tenant id; absent only for platform-level callers. */
  readonly tid?: string;
  readonly roles?: readonly string[];
  readonly scopes?: readonly string[];
  readonly act?: ActorClaim;
}

/** Deep actor chains are a sign of a loop or abuse, never of a real call path. */
const MAX_ACTOR_DEPTH = 8;
const MAX_LIST_LENGTH = 256;
const MAX_STRING_LENGTH = 256;

/** Why a verified payload cannot become a principal; the message is safe to show. */
export class ClaimsError extends Error {
  override name = "ClaimsError";
}

function isShortString(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_STRING_LENGTH;
}

function stringList(payload: Record<string, unknown>, claim: string): string[] {
  const value = payload[claim];
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_LIST_LENGTH || !value.every(isShortString)) {
    throw new ClaimsError(`malformed "${claim}" claim`);
  }
  return [...new Set(value)];
}

/** Flattens a nested `act` claim into the actor chain, outermost (current) actor first. */
export function flattenActorChain(act: unknown): string[] {
  const chain: string[] = [];
  let current = act;
  while (current !== undefined) {
    if (chain.length >= MAX_ACTOR_DEPTH) throw new ClaimsError('"act" claim nested too deeply');
    if (typeof current !== "object" || current === null || Array.isArray(current)) {
      throw new ClaimsError('malformed "act" claim');
    }
    const { sub, act: next } = current as Record<string, unknown>;
    if (!isShortString(sub)) throw new ClaimsError('malformed "act" claim');
    chain.push(sub);
    current = next;
  }
  return chain;
}

/** The `amr`/`acr`/`auth_time` claims of a verified payload; undefined when it has no `amr`. */
export function authenticationFromClaims(payload: Record<string, unknown>): Authentication | undefined {
  if (payload.amr === undefined) return undefined;
  const amr = stringList(payload, "amr");
  const { acr, auth_time: authTime } = payload;
  if (acr !== undefined && !isShortString(acr)) throw new ClaimsError('malformed "acr" claim');
  if (authTime !== undefined && (typeof authTime !== "number" || !Number.isSafeInteger(authTime) || authTime < 0)) {
    throw new ClaimsError('malformed "auth_time" claim');
  }
  return { amr, acr, authTime: authTime === undefined ? undefined : new Date(authTime * 1000) };
}

/**
 * Whether the current caller signed in with a second factor no longer than `maxAgeMs` ago (a
 * "step-up" check for sensitive operations). False outside a request and for non-user callers.
 */
export function hasRecentMfa(maxAgeMs: number, now = Date.now()): boolean {
  const auth = currentContext()?.principal?.authentication;
  if (!auth || auth.acr !== ACR_MFA || auth.authTime === undefined) return false;
  return now - auth.authTime.getTime() <= maxAgeMs;
}

/** Turns a signature-verified JWT payload into the caller's principal and tenant. */
export function principalFromClaims(payload: Record<string, unknown>): {
  principal: Principal;
  tenantId: string | undefined;
} {
  const { sub, kind, tid } = payload;
  if (!isShortString(sub)) throw new ClaimsError('missing or malformed "sub" claim');
  if (typeof kind !== "string" || !(TOKEN_PRINCIPAL_KINDS as readonly string[]).includes(kind)) {
    throw new ClaimsError('missing or unknown "kind" claim');
  }
  // tenant ids are UUIDs everywhere (row-level security casts app.tenant_id to uuid)
  if (tid !== undefined && (typeof tid !== "string" || !TENANT_ID.test(tid)))
    throw new ClaimsError('malformed "tid" claim');
  const authentication = authenticationFromClaims(payload);
  return {
    principal: {
      subject: sub,
      kind: kind as TokenPrincipalKind,
      roles: stringList(payload, "roles"),
      scopes: stringList(payload, "scopes"),
      actorChain: flattenActorChain(payload.act),
      ...(authentication && { authentication }),
    },
    tenantId: tid,
  };
}
