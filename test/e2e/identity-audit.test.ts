/**
 * identity and audit as real processes on one NATS: every security-relevant identity action
 * lands in audit's log exactly once, with tenant, actor, action, target and outcome.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { join } from "node:path";
import { type CallOptions, type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { type RunningNats, startNats } from "@tessera/dev/infra";
import { type AuditEvent, AuditService } from "@tessera/proto/tessera/audit/v1/audit_pb";
import { ActorKind, Outcome } from "@tessera/proto/tessera/common/v1/event_pb";
import { ApiKeyService } from "@tessera/proto/tessera/identity/v1/api_keys_pb";
import { AuthService, ServiceCredentialService, TokenType } from "@tessera/proto/tessera/identity/v1/auth_pb";
import { MembershipService } from "@tessera/proto/tessera/identity/v1/memberships_pb";
import { Role } from "@tessera/proto/tessera/identity/v1/resources_pb";
import {
  type RunningService,
  registerSecret,
  runMain,
  type ServiceDatabase,
  serviceDatabase,
  startMain,
  stopMain,
} from "@tessera/test/harness";
import { afterAll, beforeAll, expect, inject, it } from "vitest";

const repo = new URL("../../", import.meta.url).pathname;
const identitySrc = `${repo}services/identity/src/`;
const auditSrc = `${repo}services/audit/src/`;
const PLATFORM_TENANT = "00000000-0000-0000-0000-000000000000";
const ISSUER = "http://identity.e2e.test";
const CLIENT = { ip: "198.51.100.23", userAgent: "e2e-browser/1.0" };
const EDGE = "e2e-edge";

let nats: RunningNats;
let identityDb: ServiceDatabase;
let auditDb: ServiceDatabase;
let identity: RunningService;
let audit: RunningService;
const edgeSecret = registerSecret(randomBytes(24).toString("base64url"));
const adminEmail = `root-${randomBytes(4).toString("hex")}@example.com`;
const adminPassword = registerSecret(`admin-${randomBytes(12).toString("base64url")}`);
const cheapArgon2 = { IDENTITY_ARGON2_MEMORY_KIB: "1024", IDENTITY_ARGON2_TIME_COST: "1" };

async function migrate(main: string, db: ServiceDatabase, name: string): Promise<void> {
  const run = runMain(main, { MIGRATION_DATABASE_URL: db.ownerUrl, DATABASE_APP_ROLE: db.roles.app }, name);
  expect((await run.exited).code, run.stderr() + run.stdout()).toBe(0);
}

beforeAll(async () => {
  nats = await startNats({ storeDir: join(inject("runDir"), `nats-idaudit-${randomBytes(4).toString("hex")}`) });
  [identityDb, auditDb] = await Promise.all([serviceDatabase("e2e_identity"), serviceDatabase("e2e_audit")]);
  await Promise.all([
    migrate(`${identitySrc}migrate.ts`, identityDb, "e2e-identity-migrate"),
    migrate(`${auditSrc}migrate.ts`, auditDb, "e2e-audit-migrate"),
  ]);
  const seed = runMain(
    `${identitySrc}seed.ts`,
    {
      DATABASE_URL: identityDb.appUrl,
      IDENTITY_SEED_SERVICE_CLIENTS: JSON.stringify([
        { id: EDGE, secret: edgeSecret, audiences: ["identity", "audit"], roles: ["edge"] },
      ]),
      IDENTITY_SEED_PLATFORM_ADMIN_EMAIL: adminEmail,
      IDENTITY_SEED_PLATFORM_ADMIN_PASSWORD: adminPassword,
      ...cheapArgon2,
    },
    "e2e-identity-seed",
  );
  expect((await seed.exited).code, seed.stderr() + seed.stdout()).toBe(0);
  identity = await startMain(
    `${identitySrc}main.ts`,
    {
      PORT: "0",
      HTTP_PORT: "0",
      METRICS_PORT: "0",
      AUTH_ISSUER: ISSUER,
      DATABASE_URL: identityDb.appUrl,
      OUTBOX_RELAY_DATABASE_URL: identityDb.ownerUrl,
      NATS_URL: nats.url,
      IDENTITY_KEY_ENCRYPTION_KEY: registerSecret(randomBytes(32).toString("base64")),
      IDENTITY_LOCKOUT_THRESHOLD: "3",
      ...cheapArgon2,
    },
    { logName: "e2e-identity" },
  );
  const jwks = String(identity.lines().find((l) => l.msg === "jwks listening")?.url);
  audit = await startMain(
    `${auditSrc}main.ts`,
    {
      PORT: "0",
      METRICS_PORT: "0",
      AUTH_ISSUER: ISSUER,
      AUTH_JWKS_URL: jwks,
      DATABASE_URL: auditDb.appUrl,
      OUTBOX_RELAY_DATABASE_URL: auditDb.ownerUrl,
      NATS_URL: nats.url,
    },
    { logName: "e2e-audit" },
  );
}, 120_000);

afterAll(async () => {
  if (audit) await stopMain(audit);
  if (identity) await stopMain(identity);
  await nats?.stop();
  await Promise.all([identityDb?.drop(), auditDb?.drop()]);
});

const bearer = (token: string): CallOptions => ({ headers: { authorization: `Bearer ${token}` }, timeoutMs: 10_000 });
const client = <S extends Parameters<typeof createClient>[0]>(service: S, url: string): Client<S> =>
  createClient(service, createGrpcTransport({ baseUrl: url })) as Client<S>;

it("records each security-relevant identity action exactly once, with tenant, actor, action, target and outcome", async () => {
  const creds = client(ServiceCredentialService, identity.url);
  const edge = bearer(
    (
      await creds.issueServiceToken(
        { clientId: EDGE, clientSecret: edgeSecret, audience: "identity" },
        { timeoutMs: 10_000 },
      )
    ).accessToken,
  );
  const auth = client(AuthService, identity.url);
  const members = client(MembershipService, identity.url);
  const keys = client(ApiKeyService, identity.url);
  const exchange = async (accessToken: string, audience = "identity") =>
    (await auth.exchangeToken({ subjectToken: accessToken, subjectTokenType: TokenType.ACCESS_TOKEN, audience }, edge))
      .accessToken;

  // the platform admin (a platform session: its login is a platform-tenant event) invites a tenant's first owner
  const adminLogin = await auth.login({ email: adminEmail, password: adminPassword, client: CLIENT }, edge);
  const tenantId = randomUUID();
  const ownerEmail = `owner-${randomBytes(4).toString("hex")}@example.com`;
  const ownerPassword = registerSecret(`pw-${randomBytes(12).toString("base64url")}`);
  const invite = await members.createInvitation(
    { email: ownerEmail, role: Role.OWNER, tenantId },
    bearer(await exchange(adminLogin.tokens?.accessToken ?? "")),
  );
  const accepted = await members.acceptInvitation(
    { token: invite.token, password: ownerPassword, displayName: "Owner" },
    edge,
  );
  const ownerId = accepted.membership?.userId ?? "";
  const ownerLogin = await auth.login({ email: ownerEmail, password: ownerPassword, client: CLIENT }, edge);
  const owner = bearer(await exchange(ownerLogin.tokens?.accessToken ?? ""));

  // API key created and revoked
  const key = await keys.createApiKey({ displayName: "ci", role: Role.ADMIN, scopes: ["audit.read"] }, owner);
  const keyId = key.apiKey?.id ?? "";
  await keys.revokeApiKey({ apiKeyId: keyId }, owner);

  // a member joins; the owner changes their role
  const memberEmail = `member-${randomBytes(4).toString("hex")}@example.com`;
  const memberInvite = await members.createInvitation({ email: memberEmail, role: Role.MEMBER }, owner);
  const memberPassword = registerSecret(`pw-${randomBytes(12).toString("base64url")}`);
  const member = await members.acceptInvitation(
    { token: memberInvite.token, password: memberPassword, displayName: "M" },
    edge,
  );
  const memberId = member.membership?.userId ?? "";
  await members.changeMemberRole({ userId: memberId, role: Role.ADMIN }, owner);

  // three wrong passwords lock the member out (threshold 3)
  for (let i = 0; i < 3; i++) {
    const failed = await auth
      .login({ email: memberEmail, password: `wrong-${i}-${randomBytes(6).toString("hex")}`, client: CLIENT }, edge)
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(Error);
  }

  // a spent refresh token presented again
  const refresh = ownerLogin.tokens?.refreshToken ?? "";
  await auth.refresh({ refreshToken: refresh, client: CLIENT }, edge);
  expect(await auth.refresh({ refreshToken: refresh, client: CLIENT }, edge).catch((e: unknown) => e)).toBeInstanceOf(
    Error,
  );

  // the owner reads the tenant's audit log through audit (a token exchanged for audience "audit")
  const auditor = client(AuditService, audit.url);
  const ownerAudit = bearer(await exchange(ownerLogin.tokens?.accessToken ?? "", "audit"));
  const expectedCount = 15;
  let events: AuditEvent[] = [];
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    events = (await auditor.listAuditEvents({ page: { pageSize: 500 } }, ownerAudit)).events.reverse();
    if (events.length >= expectedCount) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 500));
  events = (await auditor.listAuditEvents({ page: { pageSize: 500 } }, ownerAudit)).events.reverse();

  const count = (action: string) => events.filter((e) => e.action === action).length;
  expect(Object.fromEntries([...new Set(events.map((e) => e.action))].sort().map((a) => [a, count(a)]))).toEqual({
    "api_key.created": 1,
    "api_key.revoked": 1,
    "invitation.accepted": 2,
    "invitation.created": 2,
    "membership.created": 2,
    "membership.role_changed": 1,
    "refresh_token.reuse_detected": 1,
    "user.locked_out": 1,
    "user.login_failed": 3,
    "user.login_succeeded": 1,
  });
  expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
  expect(events.map((e) => Number(e.sequence))).toEqual(events.map((_, i) => i + 1));
  for (const e of events) {
    expect(e.tenantId).toBe(tenantId);
    expect(e.actor?.kind, e.action).not.toBe(ActorKind.UNSPECIFIED);
    expect(e.actor?.id, e.action).not.toBe("");
    expect(e.target?.id, e.action).not.toBe("");
    expect(e.outcome, e.action).not.toBe(Outcome.UNSPECIFIED);
  }
  const one = (action: string) => events.find((e) => e.action === action);
  expect(one("user.login_succeeded")).toMatchObject({
    actor: { kind: ActorKind.USER, id: ownerId },
    target: { type: "user", id: ownerId },
    outcome: Outcome.SUCCESS,
    sourceIp: CLIENT.ip,
    userAgent: CLIENT.userAgent,
  });
  expect(one("user.login_failed")).toMatchObject({
    target: { type: "user", id: memberId },
    outcome: Outcome.FAILURE,
    sourceIp: CLIENT.ip,
  });
  expect(one("user.locked_out")).toMatchObject({
    target: { type: "user", id: memberId },
    outcome: Outcome.DENIED,
    sourceIp: CLIENT.ip,
  });
  expect(one("api_key.created")).toMatchObject({
    actor: { kind: ActorKind.USER, id: ownerId },
    target: { type: "api_key", id: keyId },
    outcome: Outcome.SUCCESS,
  });
  expect(one("api_key.revoked")).toMatchObject({ actor: { id: ownerId }, target: { type: "api_key", id: keyId } });
  expect(one("membership.role_changed")).toMatchObject({
    actor: { kind: ActorKind.USER, id: ownerId },
    target: { type: "membership", id: memberId },
  });
  expect(one("refresh_token.reuse_detected")).toMatchObject({
    target: { type: "refresh_token" },
    outcome: Outcome.DENIED,
    sourceIp: CLIENT.ip,
  });
  expect((await auditor.verifyChain({}, ownerAudit)).ok).toBe(true);

  // the platform admin's own login is a platform event: in the platform tenant's log, which only platform admins read
  const adminAudit = bearer(await exchange(adminLogin.tokens?.accessToken ?? "", "audit"));
  const platform = await auditor.listAuditEvents(
    { tenantId: PLATFORM_TENANT, filter: { action: "user.login_succeeded" } },
    adminAudit,
  );
  expect(platform.events.map((e) => [e.tenantId, e.outcome])).toEqual([[PLATFORM_TENANT, Outcome.SUCCESS]]);
  const refused = await auditor.listAuditEvents({ tenantId: PLATFORM_TENANT }, ownerAudit).catch((e: unknown) => e);
  expect(String(refused)).toMatch(/not_found/);
}, 90_000);

it("audit drains and exits 0 on SIGTERM, with no secret in its logs", async () => {
  expect(await stopMain(audit)).toBe(0);
  for (const secret of [edgeSecret, adminPassword]) expect(audit.stdout()).not.toContain(secret);
});
