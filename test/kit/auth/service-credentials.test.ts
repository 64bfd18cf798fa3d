import { randomBytes } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  authInterceptor,
  createServiceTokenSource,
  createTokenVerifier,
  type ServiceTokenSource,
  serviceTokenInterceptor,
} from "@tessera/platform/auth";
import { runWithContext } from "@tessera/platform/context";
import { createLogger } from "@tessera/platform/log";
import { closeServiceClient, createServiceClient } from "@tessera/platform/rpc-client";
import { EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";
import {
  captureLogs,
  type RunningService,
  registerSecret,
  runMain,
  type ServiceDatabase,
  serviceDatabase,
  startMain,
  stopMain,
} from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type EchoServer, startEchoServer } from "./echo-server.ts";

const identitySrc = new URL("../../../services/identity/src/", import.meta.url).pathname;
const ISSUER = "http://identity.kit-test";

describe("service credentials against the real identity process", () => {
  let db: ServiceDatabase;
  let identity: RunningService;
  let jwksUrl: string;
  let echo: EchoServer;
  let source: ServiceTokenSource;
  const secret = registerSecret(randomBytes(24).toString("base64url"));
  const logger = createLogger({ service: "kit-service-credentials", destination: captureLogs("kit-svc-creds").stream });

  beforeAll(async () => {
    db = await serviceDatabase("kitcreds");
    const migrate = runMain(`${identitySrc}migrate.ts`, {
      MIGRATION_DATABASE_URL: db.ownerUrl,
      DATABASE_APP_ROLE: db.roles.app,
    });
    expect((await migrate.exited).code, migrate.stderr()).toBe(0);
    const cheap = { IDENTITY_ARGON2_MEMORY_KIB: "1024", IDENTITY_ARGON2_TIME_COST: "1" };
    const seed = runMain(`${identitySrc}seed.ts`, {
      DATABASE_URL: db.appUrl,
      IDENTITY_SEED_SERVICE_CLIENTS: JSON.stringify([{ id: "projects", secret, audiences: ["echo"], roles: [] }]),
      ...cheap,
    });
    expect((await seed.exited).code, seed.stderr()).toBe(0);
    identity = await startMain(`${identitySrc}main.ts`, {
      PORT: "0",
      HTTP_PORT: "0",
      METRICS_PORT: "0",
      AUTH_ISSUER: ISSUER,
      DATABASE_URL: db.appUrl,
      OUTBOX_RELAY_DATABASE_URL: db.ownerUrl,
      NATS_URL: inject("natsUrl"),
      IDENTITY_KEY_ENCRYPTION_KEY: registerSecret(randomBytes(32).toString("base64")),
      IDENTITY_CONSUME_TENANT_EVENTS: "false",
      ...cheap,
    });
    jwksUrl = String(identity.lines().find((l) => l.msg === "jwks listening")?.url);
    const verifier = createTokenVerifier({ jwksUrl, issuer: ISSUER, audience: "echo" });
    echo = await startEchoServer([authInterceptor({ verifier, log: logger })], logger);
    source = createServiceTokenSource({
      identityUrl: identity.url,
      clientId: "projects",
      clientSecret: secret,
      logger,
    });
  }, 90_000);

  afterAll(async () => {
    source?.close();
    await echo?.stop();
    if (identity) await stopMain(identity);
    await db?.drop();
  });

  it("gets a service token per audience, cached and fetched once for concurrent callers", async () => {
    const tokens = await Promise.all(Array.from({ length: 5 }, () => source.getToken("echo")));
    expect(new Set(tokens).size).toBe(1);
    expect(await source.getToken("echo")).toBe(tokens[0]);
    const verified = await createTokenVerifier({ jwksUrl, issuer: ISSUER, audience: "echo" }).verify(tokens[0] ?? "");
    expect(verified.principal).toMatchObject({ subject: "projects", kind: "service" });
    expect(verified.tenantId).toBeUndefined();
  });

  it("the interceptor authenticates calls that carry no token, and never replaces a propagated one", async () => {
    const client = createServiceClient(EchoService, {
      baseUrl: echo.baseUrl,
      interceptors: [serviceTokenInterceptor(source, "echo")],
      logger,
    });
    try {
      const res = await client.echo({ message: "hi" });
      expect(res.subject).toBe("projects");
      expect(echo.seen.at(-1)).toMatchObject({ kind: "service", subject: "projects" });
      const err = await runWithContext({ token: "not-a-valid-token" }, () => client.echo({ message: "as user" })).catch(
        (e: unknown) => ConnectError.from(e),
      );
      expect(err instanceof ConnectError && err.code).toBe(Code.Unauthenticated);
    } finally {
      closeServiceClient(client);
    }
  });

  it("a wrong secret or a foreign audience is refused by identity", async () => {
    const wrong = createServiceTokenSource({
      identityUrl: identity.url,
      clientId: "projects",
      clientSecret: "wrong-secret-wrong-secret",
      logger,
    });
    try {
      const err = await wrong.getToken("echo").catch((e: unknown) => ConnectError.from(e));
      expect(err instanceof ConnectError && err.code).toBe(Code.Unauthenticated);
      const foreign = await source.getToken("billing").catch((e: unknown) => ConnectError.from(e));
      expect(foreign instanceof ConnectError && foreign.code).toBe(Code.PermissionDenied);
    } finally {
      wrong.close();
    }
  });
});
