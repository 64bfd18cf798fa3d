/**
 * identity benchmark: login throughput (argon2id at the configured cost, OWASP by default), token
 * exchange throughput (user access token → internal token; API key → internal token), and JWT
 * verification with a warm JWKS cache vs. a cold one (fetching identity's JWKS over HTTP each time).
 * Starts its own PostgreSQL and NATS (or uses DATABASE_URL / NATS_URL) and identity in-process on
 * 127.0.0.1. Usage: `node bench/identity-auth.ts [--seconds N] [--cheap-argon2]`. See bench/README.md.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createTokenVerifier } from "@tessera/platform/auth";
import { withTenantTransaction } from "@tessera/platform/db";
import { ApiKeyService } from "@tessera/proto/tessera/identity/v1/api_keys_pb";
import { AuthService, TokenType } from "@tessera/proto/tessera/identity/v1/auth_pb";
import { Role } from "@tessera/proto/tessera/identity/v1/resources_pb";
import { ensurePlatformAdmin } from "../services/identity/src/domain/bootstrap.ts";
import { runIdentityBench } from "./support/identity.ts";
import { measureLoad, percentile } from "./support/load.ts";
import { textTable } from "./support/report.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    "cheap-argon2": { type: "boolean", default: false },
  },
});
const seconds = Number(values.seconds);
await runIdentityBench(
  {
    label: "identity",
    poolMax: 20,
    env: {
      IDENTITY_IP_MAX_FAILURES_PER_MINUTE: "100000",
      ...(values["cheap-argon2"] && { IDENTITY_ARGON2_MEMORY_KIB: "1024", IDENTITY_ARGON2_TIME_COST: "1" }),
    },
  },
  async ({ config, app: { orm }, identity, transport, edgeHeaders }) => {
    const password = randomBytes(16).toString("base64url");
    const email = "bench-user@example.com";
    const { userId } = await ensurePlatformAdmin(identity.deps, { email, password });
    const tenantId = randomUUID();
    await withTenantTransaction(
      orm,
      (em) =>
        em.execute(
          "insert into memberships (tenant_id, user_id, role) values (?, ?, 'owner')",
          [tenantId, userId],
          "run",
        ),
      { tenantId },
    );
    const headers = await edgeHeaders(["identity", "projects"]);
    const auth = createClient(AuthService, transport);
    const loginOnce = () =>
      auth.login({ email, password, client: { ip: "127.0.0.1", userAgent: "bench" } }, { headers, timeoutMs: 30_000 });
    const session = (await loginOnce()).tokens;
    const userToken = session?.accessToken ?? "";
    const ownerInternal = (
      await auth.exchangeToken(
        { subjectToken: userToken, subjectTokenType: TokenType.ACCESS_TOKEN, audience: "identity" },
        { headers },
      )
    ).accessToken;
    const apiKey = (
      await createClient(ApiKeyService, transport).createApiKey(
        { displayName: "bench", role: Role.MEMBER, scopes: ["project.read"] },
        { headers: { authorization: `Bearer ${ownerInternal}` } },
      )
    ).secret;

    interface Row {
      name: string;
      ops: number;
      perSec: number;
      p50: number;
      p95: number;
    }
    const rows: Row[] = [];
    async function measure(name: string, concurrency: number, call: () => Promise<unknown>) {
      const { result, sorted } = await measureLoad(name, call, {
        warmupMs: 500,
        durationMs: seconds * 1000,
        concurrency,
      });
      rows.push({
        name,
        ops: result.calls,
        perSec: result.calls / result.elapsedSec,
        p50: percentile(sorted, 0.5) / 1000,
        p95: percentile(sorted, 0.95) / 1000,
      });
    }

    await measure(
      `login (argon2id m=${config.IDENTITY_ARGON2_MEMORY_KIB} t=${config.IDENTITY_ARGON2_TIME_COST})`,
      4,
      loginOnce,
    );
    await measure("exchange user token → internal", 16, () =>
      auth.exchangeToken(
        { subjectToken: userToken, subjectTokenType: TokenType.ACCESS_TOKEN, audience: "projects" },
        { headers },
      ),
    );
    await measure("exchange API key → internal", 16, () =>
      auth.exchangeToken(
        { subjectToken: apiKey, subjectTokenType: TokenType.API_KEY, audience: "projects" },
        { headers },
      ),
    );

    const jwksUrl = identity.jwksUrl();
    const verifyOptions = { jwksUrl, issuer: config.AUTH_ISSUER, audience: "tessera-edge" };
    // The kit's verifier may remember verified tokens (verifiedCacheTtlMs); the middle row switches
    // that off so every op checks the signature against the cached JWKS.
    const noTokenCache = { ...verifyOptions, verifiedCacheTtlMs: 0 };
    const remembered = createTokenVerifier(verifyOptions);
    const signatureOnly = createTokenVerifier(noTokenCache);
    await remembered.verify(userToken);
    await signatureOnly.verify(userToken);
    await measure("verify JWT, same token again (verifier's defaults)", 1, () => remembered.verify(userToken));
    await measure("verify JWT, JWKS cached, signature checked", 1, () => signatureOnly.verify(userToken));
    await measure("verify JWT, JWKS fetched each time", 1, () => createTokenVerifier(noTokenCache).verify(userToken));

    const fmt = (n: number) =>
      !Number.isFinite(n) ? "-" : n < 10 ? n.toFixed(2) : Math.round(n).toLocaleString("en-US");
    const header = ["scenario", "ops", "ops/s", "p50 µs", "p95 µs"];
    const body = rows.map((r) => [r.name, fmt(r.ops), fmt(r.perSec), fmt(r.p50), fmt(r.p95)]);
    console.log(`identity bench: ${seconds}s per scenario, one process (client and server share 1 event loop)`);
    console.log(textTable(header, body));
    const [cached, cold] = [rows.at(-2), rows.at(-1)];
    if (cached && cold)
      console.log(`verification, JWKS fetched vs cached: ${(cold.p50 / cached.p50).toFixed(1)}x per op`);
  },
);
