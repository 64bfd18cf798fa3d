/**
 * Tenant security administration over REST against the real platform (identity, tenancy, projects
 * and audit as processes): /v1/mfa-policy (step-up for an owner with a second factor), /v1/scim tokens used
 * against identity's real /scim/v2 endpoint (secret once, also on Idempotency-Key replays; rotation
 * overlap; revocation) and the group mapping; every change audited; members and viewers refused;
 * bad input named by field.
 */
import { createHmac, randomUUID } from "node:crypto";
import { closeServiceClient, createServiceClient } from "@tessera/platform/rpc-client";
import { MfaService } from "@tessera/proto/tessera/identity/v1/mfa_pb";
import {
  bearer,
  type CapturedLogs,
  type EdgeIdentityClients,
  operatorIdentityClients,
  registerSecret,
  type TenantSeed,
  type TestPlatform,
  type UserSeed,
} from "@tessera/test/harness";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Credential, injectAs, problemOf, type RequestAs, startEdge, type TestEdge } from "./support.ts";

type ScimTokenView = { id: string; prefix: string; state: string; expires_at: string | null; secret?: string };

/** RFC 6238 (SHA-1, 6 digits, 30 s), what authenticator apps compute. */
function totp(base32: string, steps = 0): string {
  const bits = [...base32.replace(/=+$/, "").toUpperCase()]
    .map((c) => "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".indexOf(c).toString(2).padStart(5, "0"))
    .join("");
  const key = Buffer.from(bits.match(/.{8}/g)?.map((b) => Number.parseInt(b, 2)) ?? []);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000) + steps));
  const mac = createHmac("sha1", key).update(counter).digest();
  const at = (mac[19] as number) & 0xf;
  return String((mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

describe("REST tenant security administration: /v1/mfa-policy and /v1/scim", () => {
  let platform: TestPlatform;
  let rest: TestEdge;
  let app: FastifyInstance;
  let logs: CapturedLogs;
  let tenant: TenantSeed;
  let admin: UserSeed;
  let adminKey: string;
  let scimBase: string;
  let edge: EdgeIdentityClients;

  const as = (...args: RequestAs) => injectAs(app, ...args);
  const scim = (secret: string) =>
    fetch(`${scimBase}/Users?count=1`, {
      headers: { authorization: `Bearer ${secret}` },
      signal: AbortSignal.timeout(10_000),
    });
  const fieldsOf = (res: LightMyRequestResponse) => problemOf(res).errors?.map((e) => e.field) ?? [];
  /** The audit record of `action` (and target), once audit has consumed it. */
  const audited = async (credential: Credential, action: string, target?: string) => {
    for (let i = 0; i < 100; i++) {
      const query = `action=${action}${target ? `&target_id=${target}` : ""}`;
      const record = (await as(credential, "GET", `/v1/audit-events?${query}`)).json().data?.[0];
      if (record) return record as { actor: { id: string }; target: { id: string }; outcome: string };
      await new Promise((r) => setTimeout(r, 100));
    }
    return undefined;
  };

  beforeAll(async () => {
    // the edge exchanges every credential for audience `projects` first, so projects runs too
    rest = await startEdge("rest-admin-security", {}, ["tenancy", "projects", "audit"]);
    ({ platform, app, logs } = rest);
    tenant = await platform.seed.tenant();
    admin = await tenant.user("admin");
    adminKey = (await tenant.apiKey("admin", ["identity.scim.manage", "identity.mfa_policy.manage", "audit.read"])).key;
    scimBase = platform.jwksUrl.replace("/.well-known/jwks.json", "/scim/v2");
    edge = operatorIdentityClients(platform);
  }, 240_000);

  afterAll(async () => {
    edge?.close();
    await rest?.close();
  });

  it("an owner with a second factor sets the MFA policy only after a multi-factor sign-in; it reads back and is audited", async () => {
    const own = await platform.seed.tenant();
    const owner = await own.user("owner");
    const plain = { token: await owner.accessToken() };
    const internal = await owner.internalToken("identity");
    const mfa = createServiceClient(MfaService, {
      baseUrl: platform.identity.url,
      defaultTimeoutMs: 10_000,
      interceptors: [bearer(async () => internal)],
    });
    const enrollment = (await mfa.enrollTotp({ displayName: "phone" })).enrollment;
    const secret = registerSecret(enrollment?.secret as string);
    const confirmed = await mfa.confirmTotp({ factorId: enrollment?.factor?.id as string, code: totp(secret, -1) });
    for (const c of confirmed.recoveryCodes) registerSecret(c);
    closeServiceClient(mfa);

    const policy = { mode: "admins", grace_period_days: 7 };
    const refused = await as(plain, "PUT", "/v1/mfa-policy", policy);
    expect(refused.statusCode, refused.body).toBe(403);
    expect(problemOf(refused).type).toBe("urn:tessera:problem:step-up-required");

    const client = { ip: "203.0.113.7", userAgent: "rest-admin-security-test" };
    const login = await edge.auth.login({
      email: owner.email,
      password: owner.password,
      client,
      tenant: { case: "tenantId", value: own.id },
    });
    const verified = await edge.auth.verifyMfa({
      challengeToken: login.mfaChallenge?.challengeToken as string,
      code: { case: "totpCode", value: totp(secret) },
      client,
    });
    const stepped = { token: verified.tokens?.accessToken as string };
    const set = await as(stepped, "PUT", "/v1/mfa-policy", policy);
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toMatchObject({ ...policy, updated_by: owner.userId });
    expect(set.json().required_since).not.toBeNull();
    const read = await as(stepped, "GET", "/v1/mfa-policy");
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(set.json());
    expect(await audited(stepped, "mfa_policy.changed")).toMatchObject({
      actor: { id: owner.userId },
      outcome: "success",
    });

    for (const [body, field] of [
      [{ mode: "sometimes", grace_period_days: 7 }, "mode"],
      [{ mode: "off", grace_period_days: 91 }, "grace_period_days"],
      [{ mode: "off", grace_period_days: -1 }, "grace_period_days"],
      [{ mode: "off" }, "grace_period_days"],
      [{ mode: "off", grace_period_days: 0, tenant_id: randomUUID() }, "tenant_id"],
    ] as const) {
      const res = await as(stepped, "PUT", "/v1/mfa-policy", body);
      expect(res.statusCode, `${JSON.stringify(body)}: ${res.body}`).toBe(400);
      expect(fieldsOf(res)).toContain(field);
    }
    expect((await as(stepped, "GET", "/v1/mfa-policy")).json()).toEqual(set.json());
  });

  it("a SCIM token is shown once (never on a replay), lists Users at /scim/v2, rotates with an overlap, and is refused once revoked; all audited", async () => {
    const adminToken = { token: await admin.accessToken() };
    const idem = { "idempotency-key": `scim-${randomUUID()}` };
    const created = await as({ key: adminKey }, "POST", "/v1/scim/tokens", {}, idem);
    expect(created.statusCode, created.body).toBe(201);
    const first = created.json() as ScimTokenView & { secret: string };
    registerSecret(first.secret);
    expect(first).toMatchObject({ state: "active", expires_at: null, replaces_token_id: null });
    expect(first.secret).toMatch(new RegExp(`^tss_scim_${first.prefix}_`));
    const replay = await as({ key: adminKey }, "POST", "/v1/scim/tokens", {}, idem);
    expect(replay.statusCode).toBe(201);
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(replay.json().id).toBe(first.id);
    expect(replay.body).not.toContain(first.secret);
    const second = await as(adminToken, "POST", "/v1/scim/tokens");
    expect(second.statusCode, second.body).toBe(409);
    expect(problemOf(second).type).toBe("urn:tessera:problem:conflict");

    const listed = await as(adminToken, "GET", "/v1/scim/tokens");
    expect(listed.statusCode).toBe(200);
    expect(listed.json().data.map((t: ScimTokenView) => t.id)).toContain(first.id);
    expect(listed.body).not.toContain(first.secret);
    expect(listed.body).not.toContain('"secret"');
    const users = await scim(first.secret);
    expect(users.status).toBe(200);
    expect(((await users.json()) as { schemas: string[] }).schemas).toContain(
      "urn:ietf:params:scim:api:messages:2.0:ListResponse",
    );

    const rotateIdem = { "idempotency-key": `rotate-${randomUUID()}` };
    const rotatedRes = await as(
      adminToken,
      "POST",
      `/v1/scim/tokens/${first.id}/rotate`,
      { overlap_seconds: 300 },
      rotateIdem,
    );
    expect(rotatedRes.statusCode, rotatedRes.body).toBe(201);
    const rotated = rotatedRes.json() as ScimTokenView & { secret: string; previous: ScimTokenView };
    registerSecret(rotated.secret);
    expect(rotated).toMatchObject({ state: "active", replaces_token_id: first.id });
    expect(rotated.previous).toMatchObject({ id: first.id, state: "rotated" });
    const overlapEnd = Date.parse(rotated.previous.expires_at as string) - Date.now();
    expect(overlapEnd).toBeGreaterThan(200_000);
    expect(overlapEnd).toBeLessThanOrEqual(300_000);
    const rotateReplay = await as(
      adminToken,
      "POST",
      `/v1/scim/tokens/${first.id}/rotate`,
      { overlap_seconds: 300 },
      rotateIdem,
    );
    expect(rotateReplay.json().id).toBe(rotated.id);
    expect(rotateReplay.body).not.toContain(rotated.secret);
    // the old token works until the new one is first used, then no more
    expect((await scim(first.secret)).status).toBe(200);
    expect((await scim(rotated.secret)).status).toBe(200);
    expect((await scim(first.secret)).status).toBe(401);

    expect((await as(adminToken, "POST", `/v1/scim/tokens/${first.id}/rotate`, {})).statusCode).toBe(409);
    for (const id of [randomUUID(), "not-a-uuid"]) {
      const res = await as(adminToken, "POST", `/v1/scim/tokens/${id}/rotate`);
      expect(res.statusCode, res.body).toBe(404);
      expect((await as(adminToken, "DELETE", `/v1/scim/tokens/${id}`)).statusCode).toBe(404);
    }
    for (const [body, field] of [
      [{ overlap_seconds: 86_401 }, "overlap_seconds"],
      [{ overlap_seconds: "soon" }, "overlap_seconds"],
      [{ overlap: 60 }, "overlap"],
    ] as const) {
      const res = await as(adminToken, "POST", `/v1/scim/tokens/${rotated.id}/rotate`, body);
      expect(res.statusCode, res.body).toBe(400);
      expect(fieldsOf(res)).toContain(field);
    }

    const revoked = await as(adminToken, "DELETE", `/v1/scim/tokens/${rotated.id}`);
    expect(revoked.statusCode, revoked.body).toBe(204);
    expect((await scim(rotated.secret)).status).toBe(401);
    const after = (await as(adminToken, "GET", "/v1/scim/tokens")).json().data as ScimTokenView[];
    expect(after.find((t) => t.id === rotated.id)?.state).toBe("revoked");

    expect(await audited(adminToken, "scim.token_created", first.id)).toMatchObject({ outcome: "success" });
    for (const action of ["scim.token_rotated", "scim.token_revoked"]) {
      expect(await audited(adminToken, action, rotated.id), action).toMatchObject({
        actor: { id: admin.userId },
        target: { id: rotated.id },
        outcome: "success",
      });
    }
    for (const s of [first.secret, rotated.secret]) {
      expect(logs.text()).not.toContain(s);
      expect(platform.identity.stdout()).not.toContain(s);
    }
  });

  it("the group mapping is replaced and read back (audited); only owners map to owner; bad input is named by field", async () => {
    const adminToken = { token: await admin.accessToken() };
    const mapping = [
      { group: "Engineering", role: "admin" },
      { group: "okta-readers", role: "viewer" },
    ];
    const put = await as(adminToken, "PUT", "/v1/scim/group-mapping", { group_roles: mapping });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json().group_roles).toEqual(mapping);
    const read = await as({ key: adminKey }, "GET", "/v1/scim/group-mapping");
    expect(read.json()).toEqual(put.json());
    expect(await audited(adminToken, "scim.settings_updated")).toMatchObject({
      actor: { id: admin.userId },
      outcome: "success",
    });

    const toOwner = await as(adminToken, "PUT", "/v1/scim/group-mapping", {
      group_roles: [{ group: "Engineering", role: "owner" }],
    });
    expect(toOwner.statusCode, toOwner.body).toBe(403);
    expect(problemOf(toOwner).type).toBe("urn:tessera:problem:forbidden");

    const one = (group: string, role = "member") => ({ group_roles: [{ group, role }] });
    for (const [body, field] of [
      [one("nul\u0000group"), "group_roles[0].group"],
      [one("g".repeat(257)), "group_roles[0].group"],
      [one(" "), "group_roles[0].group"],
      [one("Ops", "emperor"), "group_roles[0].role"],
      [
        {
          group_roles: [
            { group: "Ops", role: "member" },
            { group: "ops", role: "admin" },
          ],
        },
        "group_roles[1].group",
      ],
      [{ group_roles: Array.from({ length: 101 }, (_, i) => ({ group: `g${i}`, role: "member" })) }, "group_roles"],
      [{ group_roles: [{ group: "Ops", role: "member", priority: 1 }] }, "group_roles[0].priority"],
      [{}, "group_roles"],
    ] as const) {
      const res = await as(adminToken, "PUT", "/v1/scim/group-mapping", body);
      expect(res.statusCode, `${JSON.stringify(body).slice(0, 80)}: ${res.body}`).toBe(400);
      expect(fieldsOf(res)).toContain(field);
    }
    expect((await as(adminToken, "GET", "/v1/scim/group-mapping")).json()).toEqual(put.json());
  });

  it("members, viewers and keys without the scope are refused every route with 403", async () => {
    const withoutScope = { key: (await tenant.apiKey("admin", ["audit.read"])).key };
    const callers: Credential[] = [
      { token: await (await tenant.user("member")).accessToken() },
      { token: await (await tenant.user("viewer")).accessToken() },
      withoutScope,
    ];
    for (const credential of callers) {
      for (const [method, url, body] of [
        ["GET", "/v1/mfa-policy", undefined],
        ["PUT", "/v1/mfa-policy", { mode: "off", grace_period_days: 0 }],
        ["GET", "/v1/scim/tokens", undefined],
        ["POST", "/v1/scim/tokens", {}],
        ["POST", `/v1/scim/tokens/${randomUUID()}/rotate`, {}],
        ["DELETE", `/v1/scim/tokens/${randomUUID()}`, undefined],
        ["GET", "/v1/scim/group-mapping", undefined],
        ["PUT", "/v1/scim/group-mapping", { group_roles: [] }],
      ] as const) {
        const res = await as(credential, method, url, body);
        expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(403);
        expect(problemOf(res).type).toBe("urn:tessera:problem:forbidden");
      }
    }
  });
});
