import type { Principal } from "../context/index.ts";

const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Principal kinds an internal token may carry; "system" exists only in-process (runAsTenant). */
export const TOKEN_PRINCIPAL_KINDS = ["user", "api_key", "service"] as const;

/** The kind of caller an internal token can name. */
export type TokenPrincipalKind = (typeof TOKEN_PRINCIPAL_KINDS)[number];

/** RFC 8693 actor claim: who acts on the subject's behalf, nesting earlier actors. */
export interface ActorClaim {
  readonly sub: string;
  readonly act?: ActorClaim;
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
  return {
    principal: {
      subject: sub,
      kind: kind as TokenPrincipalKind,
      roles: stringList(payload, "roles"),
      scopes: stringList(payload, "scopes"),
      actorChain: flattenActorChain(payload.act),
    },
    tenantId: tid,
  };
}
