import { randomUUID } from "node:crypto";
import { type ActorClaim, acrFor, type TokenPrincipalKind } from "@tessera/platform/auth";
import { SignJWT } from "jose";
import type { KeyStore } from "./keys.ts";

/** What a token says about its subject. */
export interface TokenSubject {
  sub: string;
  kind: TokenPrincipalKind;
  tid?: string | undefined;
  roles: readonly string[];
  scopes: readonly string[];
  act?: ActorClaim | undefined;
  /** Users: how they signed in (RFC 8176), written as `amr` with the `acr` it earns. */
  amr?: readonly string[] | undefined;
  /** Users: when they last actively authenticated (`auth_time`; a refresh keeps it). */
  authTime?: Date | undefined;
}

/** A signed token and when it expires. */
export interface IssuedToken {
  token: string;
  expiresAt: Date;
}

/** Signs identity's JWTs with the key store's active key, in the shape the kit's verifier expects. */
export interface TokenSigner {
  sign(subject: TokenSubject, audience: string, ttlMs: number, notAfter?: Date): Promise<IssuedToken>;
}

/** A signer writing `iss` = issuer, one string `aud`, `iat`, `exp`, a `jti`, and the subject's claims. */
export function createTokenSigner(keys: KeyStore, issuer: string): TokenSigner {
  return {
    async sign(subject, audience, ttlMs, notAfter) {
      const key = keys.active();
      const now = Math.floor(Date.now() / 1000);
      let exp = now + Math.floor(ttlMs / 1000);
      if (notAfter) exp = Math.min(exp, Math.floor(notAfter.getTime() / 1000));
      const claims: Record<string, unknown> = {
        kind: subject.kind,
        roles: [...subject.roles],
        scopes: [...subject.scopes],
      };
      if (subject.tid !== undefined) claims.tid = subject.tid;
      if (subject.act !== undefined) claims.act = subject.act;
      if (subject.amr !== undefined) {
        claims.amr = [...subject.amr];
        claims.acr = acrFor(subject.amr);
      }
      if (subject.authTime !== undefined) claims.auth_time = Math.floor(subject.authTime.getTime() / 1000);
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT" })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(subject.sub)
        .setIssuedAt(now)
        .setExpirationTime(exp)
        .setJti(randomUUID())
        .sign(key.privateKey);
      return { token, expiresAt: new Date(exp * 1000) };
    },
  };
}
