import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type CryptoKey, exportJWK, generateKeyPair, type JSONWebKeySet, type JWK, SignJWT } from "jose";

/** Signature algorithms the test issuer can sign with (the ones verifiers accept). */
export type TestSigningAlg = "EdDSA" | "ES256";

/** Options of {@link startTestIssuer}. */
export interface TestIssuerOptions {
  /** Algorithm of the initial signing key (default EdDSA). */
  alg?: TestSigningAlg;
}

/** Claims of a minted token; `iss`, `sub`, `kind`, `roles` and `scopes` get test defaults. */
export interface MintClaims {
  aud: string | string[];
  sub?: string;
  kind?: string;
  tid?: string;
  roles?: readonly string[];
  scopes?: readonly string[];
  act?: unknown;
  iss?: string;
  [claim: string]: unknown;
}

/** How a token is minted; times are seconds relative to now. */
export interface MintOptions {
  /** Seconds until `exp` (default 300); negative gives an expired token, null omits `exp`. */
  expiresIn?: number | null;
  /** Seconds until `nbf`; omitted by default. */
  notBefore?: number;
  /** Offset of `iat` from now (default 0). */
  issuedAt?: number;
  /** Header `kid` to write instead of the signing key's (the signature still uses the key). */
  kid?: string;
  /** Sign with this issuer's newest key of this algorithm, creating and publishing one if needed. */
  alg?: TestSigningAlg;
}

/** A real JWKS endpoint on 127.0.0.1 with real signing keys, for tests of verifying code. */
export interface TestIssuer {
  /** The JWKS URL (`/.well-known/jwks.json`). */
  readonly jwksUrl: string;
  /** The `iss` this issuer writes (its base URL). */
  readonly issuer: string;
  /** `kid` of the key that signs by default. */
  readonly currentKid: string;
  /** How many JWKS requests the endpoint has answered so far. */
  readonly jwksRequests: number;
  /** Signs a token. */
  mint(claims: MintClaims, options?: MintOptions): Promise<string>;
  /** Publishes a new key of the current algorithm (or `alg`) and signs with it from now on; old keys stay published. */
  rotate(alg?: TestSigningAlg): Promise<string>;
  /** Removes a key from the JWKS. */
  retire(kid: string): void;
  /** The key set as currently served. */
  jwks(): JSONWebKeySet;
  stop(): Promise<void>;
}

interface SigningKey {
  kid: string;
  alg: TestSigningAlg;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function newKey(alg: TestSigningAlg): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomBytes(8).toString("hex");
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

/** Starts a test issuer serving its JWKS over HTTP on a free loopback port. */
export async function startTestIssuer(options: TestIssuerOptions = {}): Promise<TestIssuer> {
  const keys: SigningKey[] = [await newKey(options.alg ?? "EdDSA")];
  let current = keys[0] as SigningKey;
  let requests = 0;
  const jwks = (): JSONWebKeySet => ({ keys: keys.map((k) => ({ ...k.publicJwk })) });

  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/.well-known/jwks.json") {
      requests += 1;
      res.writeHead(200, { "content-type": "application/jwk-set+json", "cache-control": "no-store" });
      res.end(JSON.stringify(jwks()));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;

  const keyFor = async (alg: TestSigningAlg | undefined): Promise<SigningKey> => {
    if (alg === undefined || alg === current.alg) return current;
    const existing = keys.findLast((k) => k.alg === alg);
    if (existing) return existing;
    const created = await newKey(alg);
    keys.push(created);
    return created;
  };

  return {
    jwksUrl: `${issuer}/.well-known/jwks.json`,
    issuer,
    get currentKid() {
      return current.kid;
    },
    get jwksRequests() {
      return requests;
    },
    async mint(claims, mintOptions = {}) {
      const key = await keyFor(mintOptions.alg);
      const now = Math.floor(Date.now() / 1000);
      const { aud, iss, sub, kind, roles, scopes, ...rest } = claims;
      const jwt = new SignJWT({ ...rest, kind: kind ?? "user", roles: roles ?? [], scopes: scopes ?? [] })
        .setProtectedHeader({ alg: key.alg, kid: mintOptions.kid ?? key.kid, typ: "JWT" })
        .setIssuer(iss ?? issuer)
        .setAudience(aud)
        .setSubject(sub ?? "test-user")
        .setIssuedAt(now + (mintOptions.issuedAt ?? 0));
      const expiresIn = mintOptions.expiresIn === undefined ? 300 : mintOptions.expiresIn;
      if (expiresIn !== null) jwt.setExpirationTime(now + expiresIn);
      if (mintOptions.notBefore !== undefined) jwt.setNotBefore(now + mintOptions.notBefore);
      return jwt.sign(key.privateKey);
    },
    async rotate(alg) {
      current = await newKey(alg ?? current.alg);
      keys.push(current);
      return current.kid;
    },
    retire(kid) {
      const index = keys.findIndex((k) => k.kid === kid);
      if (index >= 0) keys.splice(index, 1);
    },
    jwks,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
