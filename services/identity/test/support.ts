import { randomBytes, randomUUID } from "node:crypto";
import type { DescService } from "@bufbuild/protobuf";
import { ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { type Client, type Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { parseConfig } from "@tessera/platform/config";
import { createDb, type Db } from "@tessera/platform/db";
import { ensureStreams, type OutboxRelay, startOutboxRelay } from "@tessera/platform/events";
import { createLogger } from "@tessera/platform/log";
import { BadRequestSchema } from "@tessera/proto/google/rpc/error_details_pb";
import { ApiKeyService } from "@tessera/proto/tessera/identity/v1/api_keys_pb";
import { AuthService, ServiceCredentialService, TokenType } from "@tessera/proto/tessera/identity/v1/auth_pb";
import { MembershipService } from "@tessera/proto/tessera/identity/v1/memberships_pb";
import { Role } from "@tessera/proto/tessera/identity/v1/resources_pb";
import { UserService } from "@tessera/proto/tessera/identity/v1/users_pb";
import {
  captureLogs,
  migrateServiceDatabase,
  registerSecret,
  type ServiceDatabase,
  serviceDatabase,
} from "@tessera/test/harness";
import { expect, inject } from "vitest";
import { migrations } from "../migrations/index.ts";
import { identityEnv, settingsFrom } from "../src/config.ts";
import { ensurePlatformAdmin } from "../src/domain/bootstrap.ts";
import { upsertServiceClient } from "../src/domain/service-clients.ts";
import { type BuildOptions, build, type IdentityServer } from "../src/server.ts";

/** Cheap argon2 for tests (the process test runs the OWASP defaults). */
export const CHEAP_ARGON2 = { IDENTITY_ARGON2_MEMORY_KIB: "1024", IDENTITY_ARGON2_TIME_COST: "1" };

export const EDGE_ID = "test-edge";
export const CLIENT = { ip: "198.51.100.7", userAgent: "vitest" };

/** A running in-process identity with its database, NATS, relay and bootstrap identities. */
export interface Identity {
  db: ServiceDatabase;
  app: Db;
  nats: NatsConnection;
  relay: OutboxRelay;
  built: IdentityServer;
  url: string;
  edgeSecret: string;
  admin: { email: string; password: string; userId: string };
  client<S extends DescService>(service: S, token?: string): Client<S>;
  /** A fresh service token of the test edge for `audience` (default identity). */
  edgeToken(audience?: string): Promise<string>;
  /** Edge-authenticated clients. */
  auth(): Promise<Client<typeof AuthService>>;
  /** Login (through the edge) and exchange for an internal token addressed to identity. */
  tokenFor(email: string, password: string, tenantId?: string): Promise<string>;
  /** A new tenant with an owner who accepted the platform admin's invitation. */
  seedTenant(): Promise<SeededTenant>;
  /** Invites and accepts a member into a tenant, returning their credentials and id. */
  addMember(tenant: SeededTenant, role: Role): Promise<Person>;
  stop(): Promise<void>;
}

export interface Person {
  email: string;
  password: string;
  userId: string;
  token: string;
}

export interface SeededTenant {
  tenantId: string;
  owner: Person;
}

export const uniqueEmail = (label = "user") => `${label}-${randomBytes(5).toString("hex")}@example.com`;
export const newPassword = () => registerSecret(`pw-${randomBytes(12).toString("base64url")}`);

/** The gRPC code of a failed call (fails the test when the call succeeded). */
export async function codeOf(call: Promise<unknown>): Promise<Code> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err).code;
  }
  expect.fail("the call succeeded");
}

/** The failed call's error. */
export async function errorOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  expect.fail("the call succeeded");
}

/** Field names a failed call reports: protovalidate violations and domain BadRequest details. */
export function violatedFields(err: ConnectError): string[] {
  const fromProto = err
    .findDetails(ViolationsSchema)
    .flatMap((d) => d.violations.map((v) => (v.field?.elements ?? []).map((e) => e.fieldName).join(".")));
  const fromDomain = err.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map((v) => v.field));
  return [...fromProto, ...fromDomain];
}

/** Starts identity in-process against a fresh database; `env` overrides configuration. */
export async function startIdentity(
  name: string,
  env: Record<string, string> = {},
  /** Extra build options (e.g. SSO's tenant directory). */
  extra: Pick<BuildOptions, "tenantDirectory"> = {},
): Promise<Identity> {
  const db = await serviceDatabase(`id${name}`);
  await migrateServiceDatabase(db, [], migrations);
  const logs = captureLogs(`identity-${name}`);
  const logger = createLogger({ service: "identity", destination: logs.stream, level: "info" });
  const config = parseConfig("identity", identityEnv, {
    DATABASE_URL: db.appUrl,
    OUTBOX_RELAY_DATABASE_URL: db.ownerUrl,
    NATS_URL: inject("natsUrl"),
    IDENTITY_KEY_ENCRYPTION_KEY: registerSecret(randomBytes(32).toString("base64")),
    ...CHEAP_ARGON2,
    ...env,
  });
  const app = await createDb({ url: db.appUrl, entities: [], logger });
  const nats = await connect({ servers: inject("natsUrl"), timeout: 5_000, maxReconnectAttempts: -1 });
  await ensureStreams(await jetstreamManager(nats, { timeout: 5_000 }));
  const relay = startOutboxRelay({ pg: db.ownerUrl, nats, logger, pollIntervalMs: 50 });
  const built = await build({
    settings: settingsFrom(config),
    orm: app.orm,
    logger,
    nats,
    consumeTenantEvents: true,
    tenantConsumerName: `identity_test_${db.name}`,
    port: 0,
    httpPort: 0,
    shutdownGraceMs: 2_000,
    ...extra,
  });
  const { url } = await built.server.listen();
  const transport = createGrpcTransport({ baseUrl: url });
  const edgeSecret = registerSecret(randomBytes(24).toString("base64url"));
  await upsertServiceClient(built.deps, {
    id: EDGE_ID,
    secret: edgeSecret,
    audiences: ["identity", "projects"],
    roles: ["edge"],
  });
  const adminPassword = newPassword();
  const adminEmail = uniqueEmail("platform-admin");
  const { userId: adminId } = await ensurePlatformAdmin(built.deps, { email: adminEmail, password: adminPassword });

  const client = <S extends DescService>(service: S, token?: string): Client<S> =>
    createClient(service, {
      ...transport,
      unary: (method, signal, timeoutMs, header, input, ctx) => {
        const h = new Headers(header);
        if (token) h.set("authorization", `Bearer ${token}`);
        return transport.unary(method, signal, timeoutMs ?? 10_000, h, input, ctx);
      },
    });
  const creds = client(ServiceCredentialService);
  const edgeToken = async (audience = "identity") =>
    (await creds.issueServiceToken({ clientId: EDGE_ID, clientSecret: edgeSecret, audience })).accessToken;
  const auth = async () => client(AuthService, await edgeToken());
  const tokenFor = async (email: string, password: string, tenantId?: string) => {
    const a = await auth();
    const { tokens } = await a.login({
      email,
      password,
      client: CLIENT,
      ...(tenantId && { tenant: { case: "tenantId", value: tenantId } }),
    });
    const exchanged = await a.exchangeToken({
      subjectToken: tokens?.accessToken ?? "",
      subjectTokenType: TokenType.ACCESS_TOKEN,
      audience: "identity",
    });
    return exchanged.accessToken;
  };
  const acceptAs = async (token: string, email: string) => {
    const password = newPassword();
    const members = client(MembershipService, await edgeToken());
    const accepted = await members.acceptInvitation({ token, password, displayName: email.split("@")[0] ?? "" });
    const userId = accepted.membership?.userId ?? "";
    const tenantId = accepted.membership?.tenantId ?? "";
    return { email, password, userId, token: await tokenFor(email, password, tenantId) };
  };
  const seedTenant = async (): Promise<SeededTenant> => {
    const tenantId = randomUUID();
    const adminToken = await tokenFor(adminEmail, adminPassword);
    const email = uniqueEmail("owner");
    const invited = await client(MembershipService, adminToken).createInvitation({ email, role: Role.OWNER, tenantId });
    return { tenantId, owner: await acceptAs(invited.token, email) };
  };
  const addMember = async (tenant: SeededTenant, role: Role) => {
    const email = uniqueEmail("member");
    const invited = await client(MembershipService, tenant.owner.token).createInvitation({ email, role });
    return acceptAs(invited.token, email);
  };
  return {
    db,
    app,
    nats,
    relay,
    built,
    url,
    edgeSecret,
    admin: { email: adminEmail, password: adminPassword, userId: adminId },
    client,
    edgeToken,
    auth,
    tokenFor,
    seedTenant,
    addMember,
    async stop() {
      await built.server.shutdown("test over");
      await relay.stop();
      await nats.drain();
      await app.close();
      await db.drop();
    },
  };
}

/** Collects events published on a subject pattern (core NATS) until stopped. */
export function collectEvents(nats: NatsConnection, subject: string) {
  const seen: string[] = [];
  const sub = nats.subscribe(subject);
  void (async () => {
    for await (const msg of sub) seen.push(msg.subject);
  })();
  return {
    seen,
    async waitFor(predicate: (subjects: string[]) => boolean, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(seen)) {
        if (Date.now() > deadline) expect.fail(`events not seen in time; got ${JSON.stringify(seen)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop: () => sub.unsubscribe(),
  };
}

export { ApiKeyService, AuthService, MembershipService, Role, TokenType, UserService };
