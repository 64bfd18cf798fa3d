import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { createLocalVerifier, createTokenVerifier, type TokenVerifier } from "@tessera/platform/auth";
import { startTestIssuer, type TestIssuer } from "@tessera/platform/auth/testing";
import { Unauthenticated, Unavailable } from "@tessera/platform/errors";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hmacWithPublicKey, unsignedToken, withTamperedTenant } from "./forge.ts";

const AUDIENCE = "projects";

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
}

async function close(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

/** Expects verification to fail as Unauthenticated with the given reason, and the reason not to echo the token. */
async function expectRejected(verifier: TokenVerifier, token: string, reason: string | RegExp): Promise<void> {
  const err = await verifier.verify(token).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Unauthenticated);
  expect((err as Error).message).toMatch(reason);
  if (token.length > 10) expect((err as Error).message).not.toContain(token.slice(-10));
}

describe("createTokenVerifier against a JWKS over HTTP", () => {
  let issuer: TestIssuer;
  let other: TestIssuer;
  let verifier: TokenVerifier;

  beforeAll(async () => {
    issuer = await startTestIssuer();
    other = await startTestIssuer();
    verifier = createTokenVerifier({ jwksUrl: issuer.jwksUrl, issuer: issuer.issuer, audience: AUDIENCE });
  });
  afterAll(async () => {
    await issuer.stop();
    await other.stop();
  });

  it("accepts a valid token and turns its claims into the principal and tenant", async () => {
    const token = await issuer.mint({
      aud: AUDIENCE,
      sub: "user-42",
      tid: "0a0a0a0a-0000-4000-8000-00000000000a",
      roles: ["member", "member"],
      scopes: ["project.read"],
      act: { sub: "gateway-graphql", act: { sub: "identity" } },
    });
    const verified = await verifier.verify(token);
    expect(verified.tenantId).toBe("0a0a0a0a-0000-4000-8000-00000000000a");
    expect(verified.principal).toEqual({
      subject: "user-42",
      kind: "user",
      roles: ["member"],
      scopes: ["project.read"],
      actorChain: ["gateway-graphql", "identity"],
    });
    expect(verified.expiresAt.getTime()).toBeGreaterThan(Date.now());
  });

  it("accepts ES256 as well as EdDSA, and a token without a tenant for platform callers", async () => {
    const token = await issuer.mint({ aud: AUDIENCE, sub: "tenancy", kind: "service" }, { alg: "ES256" });
    const verified = await createTokenVerifier({
      jwksUrl: issuer.jwksUrl,
      issuer: issuer.issuer,
      audience: AUDIENCE,
    }).verify(token);
    expect(verified.principal.kind).toBe("service");
    expect(verified.tenantId).toBeUndefined();
  });

  const bad: Array<[string, (i: TestIssuer, o: TestIssuer) => Promise<string> | string, string | RegExp]> = [
    [
      "expired",
      (i) => i.mint({ aud: AUDIENCE, tid: "0c0c0c0c-0000-4000-8000-00000000000c" }, { expiresIn: -60 }),
      "token expired",
    ],
    [
      "for another audience",
      (i) => i.mint({ aud: "billing", tid: "0c0c0c0c-0000-4000-8000-00000000000c" }),
      "not for this service",
    ],
    [
      "for several audiences",
      (i) => i.mint({ aud: [AUDIENCE, "billing"], tid: "0c0c0c0c-0000-4000-8000-00000000000c" }),
      "not for this service",
    ],
    ["from another issuer", (i) => i.mint({ aud: AUDIENCE, iss: "http://evil.example" }), "untrusted issuer"],
    ["not yet valid", (i) => i.mint({ aud: AUDIENCE }, { notBefore: 600 }), "not yet valid"],
    ["issued in the future", (i) => i.mint({ aud: AUDIENCE }, { issuedAt: 600 }), "issued in the future"],
    ["without exp", (i) => i.mint({ aud: AUDIENCE }, { expiresIn: null }), '"exp"'],
    ["without kind", (i) => i.mint({ aud: AUDIENCE, kind: "" }), '"kind"'],
    ["claiming the in-process system kind", (i) => i.mint({ aud: AUDIENCE, kind: "system" }), '"kind"'],
    ["with a malformed roles claim", (i) => i.mint({ aud: AUDIENCE, roles: "admin" as never }), '"roles"'],
    ["with a malformed act claim", (i) => i.mint({ aud: AUDIENCE, act: { sub: 7 } }), '"act"'],
    ["with a tenant id that is not a UUID", (i) => i.mint({ aud: AUDIENCE, tid: "tenant-a'; --" }), '"tid"'],
    [
      "signed by another key under the same kid",
      (i, o) => o.mint({ aud: AUDIENCE, iss: i.issuer }, { kid: i.currentKid }),
      "signature invalid",
    ],
    ["signed by another key with its own kid", (i, o) => o.mint({ aud: AUDIENCE, iss: i.issuer }), "unknown key"],
    ["with alg none", (i) => unsignedToken(i, AUDIENCE), /algorithm not allowed|malformed/],
    ["HS256 signed with the public key", (i) => hmacWithPublicKey(i, AUDIENCE), "algorithm not allowed"],
    [
      "with its tenant edited after signing",
      async (i) =>
        withTamperedTenant(
          await i.mint({ aud: AUDIENCE, tid: "0a0a0a0a-0000-4000-8000-00000000000a" }),
          "0b0b0b0b-0000-4000-8000-00000000000b",
        ),
      "signature invalid",
    ],
    ["that is not a JWT", () => "not-a-jwt", "malformed token"],
    ["with garbage segments", () => "eyJhbGciOiJFZERTQSJ9.%%%.!!!", "malformed token"],
    ["that is empty", () => "", "missing token"],
    ["that is huge", () => `eyJ${"A".repeat(10_000)}.e.e`, "too large"],
  ];

  it.each(bad)("rejects a token %s", async (_name, make, reason) => {
    await expectRejected(verifier, await make(issuer, other), reason);
  });

  it("rejects an act chain nested beyond the limit", async () => {
    let act: Record<string, unknown> = { sub: "a0" };
    for (let n = 1; n < 20; n++) act = { sub: `a${n}`, act };
    await expectRejected(verifier, await issuer.mint({ aud: AUDIENCE, act }), "nested too deeply");
  });

  it("rejects bad configuration at construction", () => {
    expect(() => createTokenVerifier({ jwksUrl: "not a url", issuer: "x", audience: "y" })).toThrow(/jwksUrl/);
    expect(() => createTokenVerifier({ jwksUrl: "file:///etc/passwd", issuer: "x", audience: "y" })).toThrow(/http/);
    expect(() =>
      createTokenVerifier({ jwksUrl: issuer.jwksUrl, issuer: "x", audience: "y", fetchTimeoutMs: -1 }),
    ).toThrow(/fetchTimeoutMs/);
  });
});

describe("key rotation and JWKS fetching", () => {
  it("picks up a rotated key by refetching, and keeps old keys working while published", async () => {
    const issuer = await startTestIssuer();
    try {
      const verifier = createTokenVerifier({
        jwksUrl: issuer.jwksUrl,
        issuer: issuer.issuer,
        audience: AUDIENCE,
        jwksCooldownMs: 100,
      });
      const oldToken = await issuer.mint({ aud: AUDIENCE, tid: "0c0c0c0c-0000-4000-8000-00000000000c" });
      await verifier.verify(oldToken);
      expect(issuer.jwksRequests).toBe(1);

      await issuer.rotate();
      const newToken = await issuer.mint({ aud: AUDIENCE, tid: "0c0c0c0c-0000-4000-8000-00000000000c" });
      await sleep(150); // past the cooldown: an unknown kid may now trigger a refetch
      await expect(verifier.verify(newToken)).resolves.toMatchObject({
        tenantId: "0c0c0c0c-0000-4000-8000-00000000000c",
      });
      expect(issuer.jwksRequests).toBe(2);
      await expect(verifier.verify(oldToken)).resolves.toMatchObject({
        tenantId: "0c0c0c0c-0000-4000-8000-00000000000c",
      });
    } finally {
      await issuer.stop();
    }
  });

  it("stops accepting a retired key once the cached set expires", async () => {
    const issuer = await startTestIssuer();
    try {
      const verifier = createTokenVerifier({
        jwksUrl: issuer.jwksUrl,
        issuer: issuer.issuer,
        audience: AUDIENCE,
        jwksCacheMaxAgeMs: 100,
        verifiedCacheTtlMs: 0,
      });
      const oldKid = issuer.currentKid;
      const oldToken = await issuer.mint({ aud: AUDIENCE });
      await verifier.verify(oldToken);
      await issuer.rotate();
      issuer.retire(oldKid);
      await sleep(150);
      await expectRejected(verifier, oldToken, "unknown key");
    } finally {
      await issuer.stop();
    }
  });

  it("fetches the JWKS a bounded number of times under a flood of unknown kids", async () => {
    const issuer = await startTestIssuer();
    try {
      const verifier = createTokenVerifier({ jwksUrl: issuer.jwksUrl, issuer: issuer.issuer, audience: AUDIENCE });
      const forged = await Promise.all(
        Array.from({ length: 50 }, (_, n) => issuer.mint({ aud: AUDIENCE }, { kid: `unknown-${n}` })),
      );
      // Cold start: all arrive at once.
      const first = await Promise.allSettled(forged.map((t) => verifier.verify(t)));
      expect(first.every((r) => r.status === "rejected" && r.reason instanceof Unauthenticated)).toBe(true);
      // Then a sustained stream, one after another.
      for (const token of forged) await expectRejected(verifier, token, "unknown key");
      expect(issuer.jwksRequests).toBeLessThanOrEqual(2);
      // Good tokens keep working throughout.
      await expect(verifier.verify(await issuer.mint({ aud: AUDIENCE }))).resolves.toBeDefined();
    } finally {
      await issuer.stop();
    }
  });

  it("answers Unavailable when identity's JWKS fails, without hammering it", async () => {
    let hits = 0;
    const failing = createServer((_req, res) => {
      hits += 1;
      res.writeHead(503).end();
    });
    const jwksUrl = await listen(failing);
    try {
      const issuer = await startTestIssuer();
      const token = await issuer.mint({ aud: AUDIENCE });
      await issuer.stop();
      const verifier = createTokenVerifier({
        jwksUrl,
        issuer: issuer.issuer,
        audience: AUDIENCE,
        jwksRetryAfterFailureMs: 60_000,
      });
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => verifier.verify(token)));
      for (let n = 0; n < 20; n++) await verifier.verify(token).catch(() => undefined);
      expect(results.every((r) => r.status === "rejected" && r.reason instanceof Unavailable)).toBe(true);
      expect(hits).toBeLessThanOrEqual(2);
    } finally {
      await close(failing);
    }
  });

  it("gives up on a JWKS endpoint that never answers, at its deadline", async () => {
    const hanging = createServer(() => {
      // never responds
    });
    const jwksUrl = await listen(hanging);
    try {
      const issuer = await startTestIssuer();
      const token = await issuer.mint({ aud: AUDIENCE });
      await issuer.stop();
      const verifier = createTokenVerifier({ jwksUrl, issuer: issuer.issuer, audience: AUDIENCE, fetchTimeoutMs: 200 });
      await expect(verifier.verify(token)).rejects.toBeInstanceOf(Unavailable);
    } finally {
      await close(hanging);
    }
  });

  it("keeps verifying with recently fetched keys while identity is down (stale-if-error)", async () => {
    const issuer = await startTestIssuer();
    const token = await issuer.mint({ aud: AUDIENCE, tid: "0c0c0c0c-0000-4000-8000-00000000000c" });
    const options = {
      jwksUrl: issuer.jwksUrl,
      issuer: issuer.issuer,
      audience: AUDIENCE,
      jwksCacheMaxAgeMs: 50,
      verifiedCacheTtlMs: 0, // exercise the key set, not the verified-token cache
    };
    const tolerant = createTokenVerifier(options);
    const strict = createTokenVerifier({ ...options, jwksStaleIfErrorMs: 0 });
    await tolerant.verify(token);
    await strict.verify(token);
    await issuer.stop();
    await sleep(100);
    await expect(tolerant.verify(token)).resolves.toMatchObject({ tenantId: "0c0c0c0c-0000-4000-8000-00000000000c" });
    await expect(strict.verify(token)).rejects.toBeInstanceOf(Unavailable);
  });
});

describe("createLocalVerifier", () => {
  it("applies the same checks over an in-process key set", async () => {
    const issuer = await startTestIssuer({ alg: "ES256" });
    try {
      const local = createLocalVerifier({ keys: issuer.jwks(), issuer: issuer.issuer, audience: AUDIENCE });
      await expect(
        local.verify(await issuer.mint({ aud: AUDIENCE, tid: "0c0c0c0c-0000-4000-8000-00000000000c" })),
      ).resolves.toMatchObject({
        tenantId: "0c0c0c0c-0000-4000-8000-00000000000c",
      });
      await expectRejected(local, await issuer.mint({ aud: "billing" }), "not for this service");
      await expectRejected(local, unsignedToken(issuer, AUDIENCE), /algorithm not allowed|malformed/);
      await expectRejected(local, await issuer.mint({ aud: AUDIENCE }, { kid: "nope" }), "unknown key");
      expect(issuer.jwksRequests).toBe(0);
    } finally {
      await issuer.stop();
    }
  });
});

describe("verified-token cache", () => {
  it("checks a re-sent token's signature once, keeps tokens apart, and can be turned off", async () => {
    const issuer = await startTestIssuer();
    try {
      let keyLookups = 0;
      const keys = issuer.jwks();
      const { createLocalJWKSet } = await import("jose");
      const set = createLocalJWKSet(keys);
      const counting: Parameters<typeof createLocalVerifier>[0]["keys"] = (header, token) => {
        keyLookups++;
        return set(header, token);
      };
      const cached = createLocalVerifier({ keys: counting, issuer: issuer.issuer, audience: AUDIENCE });
      const a = await issuer.mint({ aud: AUDIENCE, tid: "0d0d0d0d-0000-4000-8000-00000000000d", sub: "user-a" });
      const b = await issuer.mint({ aud: AUDIENCE, tid: "0e0e0e0e-0000-4000-8000-00000000000e", sub: "user-b" });
      for (let i = 0; i < 5; i++)
        await expect(cached.verify(a)).resolves.toMatchObject({ tenantId: "0d0d0d0d-0000-4000-8000-00000000000d" });
      await expect(cached.verify(b)).resolves.toMatchObject({ tenantId: "0e0e0e0e-0000-4000-8000-00000000000e" });
      expect(keyLookups).toBe(2);
      // a token that fails is never cached, and a tampered copy of a cached one is not served from it
      const tampered = `${a.slice(0, -4)}AAAA`;
      await expectRejected(cached, tampered, /signature|malformed/);

      keyLookups = 0;
      const uncached = createLocalVerifier({
        keys: counting,
        issuer: issuer.issuer,
        audience: AUDIENCE,
        verifiedCacheTtlMs: 0,
      });
      for (let i = 0; i < 3; i++) await uncached.verify(a);
      expect(keyLookups).toBe(3);
    } finally {
      await issuer.stop();
    }
  });

  it("never serves a token past its exp", async () => {
    const issuer = await startTestIssuer();
    try {
      const verifier = createLocalVerifier({
        keys: issuer.jwks(),
        issuer: issuer.issuer,
        audience: AUDIENCE,
        clockToleranceSec: 0,
      });
      const shortLived = await issuer.mint({ aud: AUDIENCE }, { expiresIn: 1 });
      await verifier.verify(shortLived);
      await sleep(1_100);
      await expectRejected(verifier, shortLived, "expired");
    } finally {
      await issuer.stop();
    }
  });
});
