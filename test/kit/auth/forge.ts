import type { TestIssuer } from "@tessera/platform/auth/testing";
import { base64url, SignJWT } from "jose";

const encode = (value: unknown) => base64url.encode(JSON.stringify(value));

function standardClaims(issuer: TestIssuer, audience: string) {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: issuer.issuer,
    aud: audience,
    sub: "mallory",
    kind: "user",
    tid: "0a0a0a0a-0000-4000-8000-00000000000a",
    iat: now,
    exp: now + 300,
  };
}

/** An unsigned token (`alg: none`) carrying otherwise valid claims and the issuer's kid. */
export function unsignedToken(issuer: TestIssuer, audience: string): string {
  return `${encode({ alg: "none", typ: "JWT", kid: issuer.currentKid })}.${encode(standardClaims(issuer, audience))}.`;
}

/** Algorithm confusion: an HS256 token whose HMAC secret is the issuer's public key bytes. */
export async function hmacWithPublicKey(issuer: TestIssuer, audience: string): Promise<string> {
  const jwk = issuer.jwks().keys.find((k) => k.kid === issuer.currentKid);
  if (!jwk?.x) throw new Error("issuer key has no public x coordinate");
  const secret = base64url.decode(jwk.x);
  return new SignJWT({ kind: "user", tid: "0a0a0a0a-0000-4000-8000-00000000000a" })
    .setProtectedHeader({ alg: "HS256", kid: issuer.currentKid, typ: "JWT" })
    .setIssuer(issuer.issuer)
    .setAudience(audience)
    .setSubject("mallory")
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(secret);
}

/** A validly signed token whose payload was edited afterwards (another tenant), signature kept. */
export function withTamperedTenant(token: string, tenantId: string): string {
  const [header, payload, signature] = token.split(".");
  const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload ?? ""))) as Record<string, unknown>;
  return `${header}.${encode({ ...claims, tid: tenantId })}.${signature}`;
}
