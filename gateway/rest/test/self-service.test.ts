/**
 * Tenant self-service administration over REST against the real platform (identity, tenancy,
 * projects and audit as processes): members, invitations, API keys and sessions, by a tenant admin
 * with a user token or an API key, refused to members and viewers, with bad input named by field.
 */
import { randomBytes, randomUUID } from "node:crypto";
import {
  type EdgeIdentityClients,
  operatorIdentityClients,
  type TenantSeed,
  type TestPlatform,
  type UserSeed,
} from "@tessera/test/harness";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALL_SCOPES, injectAs, problemOf, projectKey, type RequestAs, startEdge, type TestEdge } from "./support.ts";

const CLIENT = { ip: "203.0.113.9", userAgent: "rest-self-service-test" };
const ADMIN_SCOPES = [
  ...ALL_SCOPES,
  "audit.read",
  "identity.members.read",
  "identity.members.manage",
  "identity.invitations.manage",
  "identity.api_keys.manage",
];

describe("REST tenant self-service: members, invitations, API keys, sessions", () => {
  let platform: TestPlatform;
  let rest: TestEdge;
  let app: FastifyInstance;
  let tenant: TenantSeed;
  let admin: UserSeed;
  let viewer: UserSeed;
  let adminKey: string;
  let edge: EdgeIdentityClients;

  /** A request as a user (Bearer access token) or an API key (X-Api-Key). */
  const as = (...args: RequestAs) => injectAs(app, ...args);

  const login = async (email: string, password: string) =>
    (
      await edge.auth.login({
        email,
        password,
        client: CLIENT,
        tenant: { case: "tenantId", value: tenant.id },
      })
    ).tokens;

  beforeAll(async () => {
    rest = await startEdge("rest-self-service", {}, ["tenancy", "projects", "audit"]);
    ({ platform, app } = rest);
    tenant = await platform.seed.tenant();
    admin = await tenant.user("admin");
    viewer = await tenant.user("viewer");
    adminKey = (await tenant.apiKey("admin", ADMIN_SCOPES)).key;
    edge = operatorIdentityClients(platform);
  }, 240_000);

  afterAll(async () => {
    edge?.close();
    await rest?.close();
  });

  it("an admin invites a viewer who accepts, then promotes them: their next request may write", async () => {
    const adminToken = { token: await admin.accessToken() };
    const email = `invitee-${randomBytes(4).toString("hex")}@example.com`;
    const idem = { "idempotency-key": `invite-${randomUUID()}` };
    const invited = await as(adminToken, "POST", "/v1/invitations", { email, role: "viewer" }, idem);
    expect(invited.statusCode, invited.body).toBe(201);
    const invitation = invited.json();
    expect(invitation).toMatchObject({ email, role: "viewer", state: "pending" });
    expect(invitation.token).toMatch(/^tsi_/);
    // the replay answers the same invitation, without handing the token out again
    const replay = await as(adminToken, "POST", "/v1/invitations", { email, role: "viewer" }, idem);
    expect(replay.statusCode).toBe(201);
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(replay.json().id).toBe(invitation.id);
    expect(replay.body).not.toContain(invitation.token);

    const listed = await as(adminToken, "GET", "/v1/invitations?limit=100");
    expect(listed.json().data.map((i: { id: string }) => i.id)).toContain(invitation.id);
    expect(listed.body).not.toContain("tsi_");

    const password = `pw-${randomBytes(12).toString("base64url")}`;
    const accepted = await edge.members.acceptInvitation({ token: invitation.token, password });
    const userId = accepted.membership?.userId as string;
    const member = { token: (await login(email, password))?.accessToken as string };
    const denied = await as(member, "POST", "/v1/projects", { name: "x", key: projectKey() });
    expect(denied.statusCode, denied.body).toBe(403);

    const promoted = await as(adminToken, "PATCH", `/v1/members/${userId}`, { role: "member" });
    expect(promoted.statusCode, promoted.body).toBe(200);
    expect(promoted.json()).toMatchObject({ user_id: userId, email, role: "member", status: "active" });
    // the same access token: the edge drops its exchanged token on the role-change event, the next exchange reads the role
    let allowed = denied;
    for (let i = 0; i < 100 && allowed.statusCode === 403; i++) {
      await new Promise((r) => setTimeout(r, 100));
      allowed = await as(member, "POST", "/v1/projects", { name: "now allowed", key: projectKey() });
    }
    expect(allowed.statusCode, allowed.body).toBe(201);
    const members = await as({ key: adminKey }, "GET", "/v1/members?limit=100");
    expect(members.json().data.find((m: { user_id: string }) => m.user_id === userId)).toMatchObject({
      role: "member",
      status: "active",
    });

    const removed = await as(adminToken, "DELETE", `/v1/members/${userId}`);
    expect(removed.statusCode, removed.body).toBe(204);
    let after = await as(member, "GET", "/v1/projects");
    for (let i = 0; i < 100 && after.statusCode === 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await as(member, "GET", "/v1/projects");
    }
    expect(after.statusCode, after.body).toBe(401);
  });

  it("creates an API key (secret once), which works until it is revoked; lists never show the secret", async () => {
    const created = await as({ key: adminKey }, "POST", "/v1/api-keys", {
      name: "partner sync",
      role: "member",
      scopes: ["projects.read", "projects.write"],
      expires_at: new Date(Date.now() + 86_400_000).toISOString(),
    });
    expect(created.statusCode, created.body).toBe(201);
    const key = created.json();
    expect(key.secret).toMatch(/^tsk_live_/);
    expect(key.secret).toContain(key.prefix);
    expect(key).toMatchObject({ name: "partner sync", role: "member", revoked_at: null });
    expect((await as({ key: key.secret }, "GET", "/v1/projects")).statusCode).toBe(200);

    const listed = await as({ key: adminKey }, "GET", "/v1/api-keys?limit=100");
    expect(listed.statusCode).toBe(200);
    expect(listed.json().data.find((k: { id: string }) => k.id === key.id)).toMatchObject({ prefix: key.prefix });
    expect(listed.body).not.toContain(key.secret);
    expect(listed.body).not.toContain('"secret"');

    const revoked = await as({ key: adminKey }, "DELETE", `/v1/api-keys/${key.id}`);
    expect(revoked.statusCode, revoked.body).toBe(204);
    const refused = await as({ key: key.secret }, "GET", "/v1/projects");
    expect(refused.statusCode).toBe(401);
    expect(problemOf(refused).type).toBe("urn:tessera:problem:unauthenticated");
    const after = await as({ key: adminKey }, "GET", "/v1/api-keys?limit=100");
    expect(after.json().data.find((k: { id: string }) => k.id === key.id).revoked_at).not.toBeNull();
  });

  it("lists and ends a member's session: that refresh token no longer refreshes; it is audited", async () => {
    const session = await login(viewer.email, viewer.password);
    const listed = await as({ key: adminKey }, "GET", `/v1/sessions?user_id=${viewer.userId}&limit=100`);
    expect(listed.statusCode, listed.body).toBe(200);
    const sessions = listed.json().data as Array<{ id: string; user_id: string; authentication_methods: string[] }>;
    expect(sessions.length).toBeGreaterThan(0);
    expect(sessions.every((s) => s.user_id === viewer.userId)).toBe(true);
    expect(listed.body).not.toContain("tsr_");
    // the viewer's own list: the newest is the one just started
    const own = await as({ token: session?.accessToken as string }, "GET", "/v1/sessions?mine=true");
    expect(own.statusCode, own.body).toBe(200);
    const newest = own.json().data[0] as { id: string };
    const ended = await as({ token: await admin.accessToken() }, "DELETE", `/v1/sessions/${newest.id}`);
    expect(ended.statusCode, ended.body).toBe(204);
    await expect(edge.auth.refresh({ refreshToken: session?.refreshToken as string, client: CLIENT })).rejects.toThrow(
      /invalid or expired refresh token/,
    );

    // audit records the admin actions with actor, target and outcome
    for (const [action, target] of [["session.revoked", newest.id]] as const) {
      let record: { actor: { id: string }; target: { id: string }; outcome: string } | undefined;
      for (let i = 0; i < 100 && !record; i++) {
        const res = await as({ key: adminKey }, "GET", `/v1/audit-events?action=${action}&target_id=${target}`);
        record = res.json().data?.[0];
        if (!record) await new Promise((r) => setTimeout(r, 100));
      }
      expect(record, action).toMatchObject({ actor: { id: admin.userId }, target: { id: target }, outcome: "success" });
    }
  });

  it("a viewer is refused every administrative route, and may list their own sessions", async () => {
    const token = { token: await viewer.accessToken() };
    await admin.accessToken();
    const adminSessions = await as({ key: adminKey }, "GET", `/v1/sessions?user_id=${admin.userId}`);
    const adminSession = adminSessions.json().data[0].id as string;
    for (const [method, url, body] of [
      ["GET", "/v1/api-keys", undefined],
      ["POST", "/v1/api-keys", { name: "x", role: "viewer", scopes: ["projects.read"] }],
      ["DELETE", `/v1/api-keys/${randomUUID()}`, undefined],
      ["GET", "/v1/invitations", undefined],
      ["POST", "/v1/invitations", { email: "x@example.com", role: "viewer" }],
      ["DELETE", `/v1/invitations/${randomUUID()}`, undefined],
      ["PATCH", `/v1/members/${admin.userId}`, { role: "viewer" }],
      ["DELETE", `/v1/members/${admin.userId}`, undefined],
      ["GET", "/v1/sessions", undefined],
      ["DELETE", `/v1/sessions/${adminSession}`, undefined],
    ] as const) {
      const res = await as(token, method, url, body);
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(403);
      expect(problemOf(res).type).toBe("urn:tessera:problem:forbidden");
    }
    expect((await as(token, "GET", "/v1/members")).statusCode).toBe(200);
    expect((await as(token, "GET", "/v1/sessions?mine=true")).statusCode).toBe(200);
  });

  it("bad input is a 400 naming the field", async () => {
    const key = { key: adminKey };
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ["/v1/api-keys", { name: "nul\u0000name", role: "viewer", scopes: ["projects.read"] }, "name"],
      ["/v1/api-keys", { name: "x".repeat(201), role: "viewer", scopes: ["projects.read"] }, "name"],
      ["/v1/api-keys", { name: "k", role: "god", scopes: ["projects.read"] }, "role"],
      [
        "/v1/api-keys",
        { name: "k", role: "viewer", scopes: ["projects.read"], expires_at: "2001-01-01T00:00:00Z" },
        "expires_at",
      ],
      ["/v1/invitations", { email: "not-an-email", role: "viewer" }, "email"],
      ["/v1/invitations", { email: "a@example.com", role: "superuser" }, "role"],
    ];
    for (const [url, body, field] of cases) {
      const res = await as(key, "POST", url, body);
      expect(res.statusCode, `${url} ${JSON.stringify(body)}: ${res.body}`).toBe(400);
      expect(problemOf(res).errors?.map((e) => e.field)).toContain(field);
    }
    const patch = await as(key, "PATCH", `/v1/members/${admin.userId}`, { role: "emperor" });
    expect(patch.statusCode).toBe(400);
    expect(problemOf(patch).errors?.map((e) => e.field)).toContain("role");
  });

  it("a request with both an API key and a user token is refused as ambiguous (400)", async () => {
    const res = await app.inject({
      method: "GET",
      url: "/v1/members",
      headers: { "x-api-key": adminKey, authorization: `Bearer ${await admin.accessToken()}` },
    });
    expect(res.statusCode, res.body).toBe(400);
    const problem = problemOf(res);
    expect(problem.type).toBe("urn:tessera:problem:invalid-request");
    expect(problem.errors?.map((e) => e.field).sort()).toEqual(["Authorization", "X-Api-Key"]);
  });
});
