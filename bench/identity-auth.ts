/**
 * identity benchmark: login throughput (argon2id at the configured cost, OWASP by default), token
 * exchange throughput (user access token → internal token; API key → internal token), and JWT
 * verification with a warm JWKS cache vs. a cold one (fetching identity's JWKS over HTTP each time).
 * Starts its own PostgreSQL and NATS (or uses DATABASE_URL / NATS_URL) and identity in-process on
 * 127.0.0.1. Usage: `node bench/identity-auth.ts [--seconds N] [--cheap-argon2]`. See bench/README.md.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { startInfra } from "@tessera/dev/infra";
import { createTokenVerifier } from "@tessera/platform/auth";
import { parseConfig } from "@tessera/platform/config";
import {
  createDb,
  provisionDatabase,
  runMigrations,
  setMigrationRoles,
  withTenantTransaction,
} from "@tessera/platform/db";
import { createLogger } from "@tessera/platform/log";
import { ApiKeyService } from "@tessera/proto/tessera/identity/v1/api_keys_pb";
import { AuthService, ServiceCredentialService, TokenType } from "@tessera/proto/tessera/identity/v1/auth_pb";
import { Role } from "@tessera/proto/tessera/identity/v1/resources_pb";
import { migrations } from "../services/identity/migrations/index.ts";
import { identityEnv, settingsFrom } from "../services/identity/src/config.ts";
import { ensurePlatformAdmin } from "../services/identity/src/domain/bootstrap.ts";
import { upsertServiceClient } from "../services/identity/src/domain/service-clients.ts";
import { build } from "../services/identity/src/server.ts";
import { LatencyRecorder, percentile, runLoad } from "./support/load.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    "cheap-argon2": { type: "boolean", default: false },
  },
});
const seconds = Number(values.seconds);
const dataDir = mkdtempSync(join(tmpdir(), "tessera-bench-identity-"));
const infra = await startInfra({
  dataDir,
  persistent: false,
  fast: true,
  externalPgUrl: process.env.DATABASE_URL,
  externalNatsUrl: process.env.NATS_URL,
});
const logger = createLogger({ service: "identity-bench", level: "warn" });
const database = `bench_identity_${randomBytes(4).toString("hex")}`;
const roles = { owner: `${database}_owner`, app: `${database}_app` };
const { ownerUrl, appUrl } = await provisionDatabase({
  adminUrl: infra.pgAdminUrl,
  database,
  ownerRole: roles.owner,
  appRole: roles.app,
  passwords: { owner: randomBytes(18).toString("base64url"), app: randomBytes(18).toString("base64url") },
});
setMigrationRoles(roles);
const migrator = await createDb({ url: ownerUrl, entities: [], migrations, logger });
await runMigrations(migrator.orm);
await migrator.close();

const config = parseConfig("identity", identityEnv, {
  DATABASE_URL: appUrl,
  OUTBOX_RELAY_DATABASE_URL: ownerUrl,
  NATS_URL: infra.natsUrl,
  IDENTITY_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
  IDENTITY_IP_MAX_FAILURES_PER_MINUTE: "100000",
  ...(values["cheap-argon2"] && { IDENTITY_ARGON2_MEMORY_KIB: "1024", IDENTITY_ARGON2_TIME_COST: "1" }),
});
const app = await createDb({ url: appUrl, entities: [], logger, poolMax: 20 });
const identity = await build({ settings: settingsFrom(config), orm: app.orm, logger, port: 0, httpPort: 0 });
const { url } = await identity.server.listen();
const transport = createGrpcTransport({ baseUrl: url });

const edgeSecret = randomBytes(24).toString("base64url");
await upsertServiceClient(identity.deps, {
  id: "bench-edge",
  secret: edgeSecret,
  audiences: ["identity", "projects"],
  roles: ["edge"],
});
const password = randomBytes(16).toString("base64url");
const email = "bench-user@example.com";
const { userId } = await ensurePlatformAdmin(identity.deps, { email, password });
const tenantId = randomUUID();
await withTenantTransaction(
  app.orm,
  (em) =>
    em.execute("insert into memberships (tenant_id, user_id, role) values (?, ?, 'owner')", [tenantId, userId], "run"),
  { tenantId },
);
const edgeToken = (
  await createClient(ServiceCredentialService, transport).issueServiceToken({
    clientId: "bench-edge",
    clientSecret: edgeSecret,
    audience: "identity",
  })
).accessToken;
const headers = { authorization: `Bearer ${edgeToken}` };
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
  await runLoad(call, 500, concurrency);
  const rec = new LatencyRecorder();
  const result = await runLoad(call, seconds * 1000, concurrency, rec);
  if (result.errors > 0) console.error(`${name}: ${result.errors} errors, first:`, result.firstError);
  const sorted = rec.sorted();
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
  auth.exchangeToken({ subjectToken: apiKey, subjectTokenType: TokenType.API_KEY, audience: "projects" }, { headers }),
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

const fmt = (n: number) => (!Number.isFinite(n) ? "-" : n < 10 ? n.toFixed(2) : Math.round(n).toLocaleString("en-US"));
const header = ["scenario", "ops", "ops/s", "p50 µs", "p95 µs"];
const body = rows.map((r) => [r.name, fmt(r.ops), fmt(r.perSec), fmt(r.p50), fmt(r.p95)]);
const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? "").length)));
const line = (cells: string[]) =>
  cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
console.log(`identity bench: ${seconds}s per scenario, one process (client and server share 1 event loop)`);
console.log([line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n"));
const [cached, cold] = [rows.at(-2), rows.at(-1)];
if (cached && cold) console.log(`verification, JWKS fetched vs cached: ${(cold.p50 / cached.p50).toFixed(1)}x per op`);

await identity.server.shutdown("bench done");
await app.close();
await infra.stop();
rmSync(dataDir, { recursive: true, force: true });
