import { randomBytes } from "node:crypto";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createTokenVerifier } from "@tessera/platform/auth";
import { Health, HealthCheckResponse_ServingStatus } from "@tessera/proto/grpc/health/v1/health_pb";
import { AuthService, ServiceCredentialService } from "@tessera/proto/tessera/identity/v1/auth_pb";
import { UserService } from "@tessera/proto/tessera/identity/v1/users_pb";
import {
  type RunningService,
  registerSecret,
  runMain,
  type ServiceDatabase,
  serviceDatabase,
  startMain,
  stopMain,
} from "@tessera/test/harness";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

const src = new URL("../src/", import.meta.url).pathname;

describe("identity as a real process (OWASP argon2 defaults)", () => {
  let db: ServiceDatabase;
  let service: RunningService;
  let jwksUrl: string;
  const edgeSecret = registerSecret(randomBytes(24).toString("base64url"));
  const adminPassword = registerSecret(`admin-${randomBytes(12).toString("base64url")}`);
  const adminEmail = "root@example.com";
  const issuer = "http://identity.test";

  beforeAll(async () => {
    db = await serviceDatabase("idproc");
    const migrate = runMain(
      `${src}migrate.ts`,
      { MIGRATION_DATABASE_URL: db.ownerUrl, DATABASE_APP_ROLE: db.roles.app },
      "identity-migrate",
    );
    expect((await migrate.exited).code, migrate.stderr() + migrate.stdout()).toBe(0);
    const seed = runMain(
      `${src}seed.ts`,
      {
        DATABASE_URL: db.appUrl,
        IDENTITY_SEED_SERVICE_CLIENTS: JSON.stringify([
          { id: "graphql-gateway", secret: edgeSecret, audiences: ["identity", "projects"], roles: ["edge"] },
        ]),
        IDENTITY_SEED_PLATFORM_ADMIN_EMAIL: adminEmail,
        IDENTITY_SEED_PLATFORM_ADMIN_PASSWORD: adminPassword,
      },
      "identity-seed",
    );
    expect((await seed.exited).code, seed.stderr() + seed.stdout()).toBe(0);
    service = await startMain(`${src}main.ts`, {
      PORT: "0",
      HTTP_PORT: "0",
      METRICS_PORT: "0",
      AUTH_ISSUER: issuer,
      DATABASE_URL: db.appUrl,
      OUTBOX_RELAY_DATABASE_URL: db.ownerUrl,
      NATS_URL: inject("natsUrl"),
      IDENTITY_KEY_ENCRYPTION_KEY: registerSecret(randomBytes(32).toString("base64")),
      IDENTITY_TENANT_CONSUMER_NAME: `identity_proc_${db.name}`,
    });
    const line = service.lines().find((l) => l.msg === "jwks listening");
    jwksUrl = String(line?.url);
  }, 90_000);

  afterAll(async () => {
    if (service) await stopMain(service);
    await db?.drop();
  });

  const transport = () => createGrpcTransport({ baseUrl: service.url });

  it("serves health, the JWKS over HTTP/1.1, and refuses calls without a token", async () => {
    const health = await createClient(Health, transport()).check({ service: "" }, { timeoutMs: 5_000 });
    expect(health.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const res = await fetch(jwksUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toContain("max-age=");
    const jwks = (await res.json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys[0]).toMatchObject({ alg: "EdDSA", use: "sig" });
    expect(JSON.stringify(jwks)).not.toMatch(/"d":/);
    const err = await createClient(UserService, transport())
      .getViewer({}, { timeoutMs: 5_000 })
      .catch((e: unknown) => ConnectError.from(e));
    expect(err instanceof ConnectError && err.code).toBe(Code.Unauthenticated);
  });

  it("seeded credentials work with OWASP-cost hashes; tokens verify against the served JWKS", async () => {
    const creds = createClient(ServiceCredentialService, transport());
    const { accessToken: edgeToken } = await creds.issueServiceToken(
      { clientId: "graphql-gateway", clientSecret: edgeSecret, audience: "identity" },
      { timeoutMs: 10_000 },
    );
    const auth = createClient(AuthService, transport());
    const { tokens } = await auth.login(
      { email: adminEmail, password: adminPassword, client: { ip: "127.0.0.1", userAgent: "vitest" } },
      { headers: { authorization: `Bearer ${edgeToken}` }, timeoutMs: 10_000 },
    );
    const verifier = createTokenVerifier({ jwksUrl, issuer, audience: "tessera-edge" });
    const verified = await verifier.verify(tokens?.accessToken ?? "");
    expect(verified.principal).toMatchObject({ kind: "user", roles: ["platform-admin"] });

    const owner = new pg.Client({ connectionString: db.ownerUrl });
    await owner.connect();
    try {
      const users = await owner.query<{ password_hash: string }>("select password_hash from users");
      const clients = await owner.query<{ secret_hash: string }>("select secret_hash from service_clients");
      for (const hash of [...users.rows.map((r) => r.password_hash), ...clients.rows.map((r) => r.secret_hash)]) {
        expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      }
      const keys = await owner.query<{ private_key_enc: Buffer }>("select private_key_enc from signing_keys");
      // encrypted at rest: no PKCS#8 structure visible
      expect(keys.rows[0]?.private_key_enc.subarray(0, 2).toString("hex")).not.toBe("302e");
    } finally {
      await owner.end();
    }
  });

  it("drains and exits 0 on SIGTERM, with no secret in its logs", async () => {
    expect(await stopMain(service)).toBe(0);
    for (const secret of [edgeSecret, adminPassword]) expect(service.stdout()).not.toContain(secret);
  });
});
