/**
 * Tenant self-service administration through GraphQL against the real platform (identity, tenancy,
 * projects and audit as processes): members, invitations, API keys and sessions; refused to members
 * and viewers with FORBIDDEN; bad input named by field.
 */
import { randomBytes, randomUUID } from "node:crypto";
import {
  type EdgeIdentityClients,
  operatorIdentityClients,
  startPlatform,
  type TenantSeed,
  type TestPlatform,
  type UserSeed,
} from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codes, dataOf, type RunningGateway, startGateway } from "./support.ts";

const CLIENT = { ip: "203.0.113.10", userAgent: "graphql-self-service-test" };
const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString("base64");
const RESULT = "__typename ... on Error { code message } ... on ValidationError { fieldErrors { field message } }";

describe("GraphQL tenant self-service: members, invitations, API keys, sessions", () => {
  let platform: TestPlatform;
  let gw: RunningGateway;
  let tenant: TenantSeed;
  let admin: UserSeed;
  let viewer: UserSeed;
  let edge: EdgeIdentityClients;

  const login = async (email: string, password: string) =>
    (await edge.auth.login({ email, password, client: CLIENT, tenant: { case: "tenantId", value: tenant.id } })).tokens;

  /** Runs a mutation `field(input: $input)` and answers its result object. */
  async function mutate(token: string, field: string, inputType: string, input: unknown, select = "") {
    const res = await gw.gql(
      `mutation($input: ${inputType}!) { ${field}(input: $input) { ${RESULT} ${select} } }`,
      { input },
      token,
    );
    return dataOf<Record<string, Record<string, unknown>>>(res)[field] as Record<string, unknown>;
  }

  beforeAll(async () => {
    platform = await startPlatform({ services: ["tenancy", "projects", "audit"] });
    gw = await startGateway(platform);
    tenant = await platform.seed.tenant();
    admin = await tenant.user("admin");
    viewer = await tenant.user("viewer");
    edge = operatorIdentityClients(platform);
  }, 240_000);

  afterAll(async () => {
    edge?.close();
    await gw?.stop();
    await platform?.stop();
  });

  it("an admin invites a viewer who accepts, then promotes them: their next call may write", async () => {
    const adminToken = await admin.accessToken();
    const email = `invitee-${randomBytes(4).toString("hex")}@example.com`;
    const invited = await mutate(
      adminToken,
      "inviteMember",
      "InviteMemberInput",
      { email, role: "VIEWER" },
      "... on InviteMemberSuccess { newInvitation { token invitation { id email role state } } }",
    );
    const created = invited.newInvitation as { token: string; invitation: { id: string; state: string } };
    expect(created.token).toMatch(/^tsi_/);
    expect(created.invitation).toMatchObject({ email, role: "VIEWER", state: "PENDING" });
    const listed = dataOf<{ invitations: { edges: Array<{ node: { id: string } }> } }>(
      await gw.gql("{ invitations(first: 100) { edges { node { id email state } } } }", {}, adminToken),
    );
    expect(listed.invitations.edges.map((e) => e.node.id)).toContain(created.invitation.id);

    const password = `pw-${randomBytes(12).toString("base64url")}`;
    const accepted = await edge.members.acceptInvitation({ token: created.token, password });
    const userId = accepted.membership?.userId as string;
    const memberToken = (await login(email, password))?.accessToken as string;
    const project = { name: "by the invitee", key: `P${randomUUID().slice(0, 8).toUpperCase().replace(/-/g, "")}` };
    expect(await mutate(memberToken, "createProject", "CreateProjectInput", project)).toMatchObject({
      __typename: "ForbiddenError",
      code: "FORBIDDEN",
    });

    const promoted = await mutate(
      adminToken,
      "updateMemberRole",
      "UpdateMemberRoleInput",
      { userId: gid("User", userId), role: "MEMBER" },
      "... on UpdateMemberRoleSuccess { member { role status user { id email } } }",
    );
    expect(promoted.member).toEqual({ role: "MEMBER", status: "ACTIVE", user: { id: gid("User", userId), email } });
    // the same access token; the gateway's exchanged token is dropped on the role-change event
    let result = await mutate(memberToken, "createProject", "CreateProjectInput", project);
    for (let i = 0; i < 100 && result.__typename === "ForbiddenError"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      result = await mutate(memberToken, "createProject", "CreateProjectInput", project);
    }
    expect(result.__typename).toBe("CreateProjectSuccess");

    const members = dataOf<{
      members: { edges: Array<{ node: { role: string; joinedAt: string; user: { id: string } } }> };
    }>(
      await gw.gql("{ members(first: 100) { edges { node { role status joinedAt user { id } } } } }", {}, memberToken),
    );
    expect(members.members.edges.find((e) => e.node.user.id === gid("User", userId))?.node.role).toBe("MEMBER");

    const removed = await mutate(
      adminToken,
      "removeMember",
      "RemoveMemberInput",
      { userId: gid("User", userId) },
      "... on RemoveMemberSuccess { removedUserId }",
    );
    expect(removed.removedUserId).toBe(gid("User", userId));
  });

  it("creates an API key (secret once) that works as a credential until it is revoked", async () => {
    const adminToken = await admin.accessToken();
    const created = await mutate(
      adminToken,
      "createApiKey",
      "CreateApiKeyInput",
      { name: "dashboard", role: "VIEWER", scopes: ["projects.read"] },
      "... on CreateApiKeySuccess { newApiKey { secret apiKey { id name prefix role scopes expiresAt lastUsedAt } } }",
    );
    const { secret, apiKey } = created.newApiKey as { secret: string; apiKey: { id: string; prefix: string } };
    expect(secret).toMatch(/^tsk_live_/);
    expect(apiKey).toMatchObject({ name: "dashboard", role: "VIEWER", scopes: ["projects.read"], expiresAt: null });
    expect(codes(await gw.gql("{ projects(first: 1) { edges { node { id } } } }", {}, secret))).toEqual([]);

    const list = await gw.gql("{ apiKeys(first: 100) { edges { node { id prefix revokedAt } } } }", {}, adminToken);
    expect(JSON.stringify(list.body)).not.toContain(secret);
    expect(
      dataOf<{ apiKeys: { edges: Array<{ node: { id: string } }> } }>(list).apiKeys.edges.map((e) => e.node.id),
    ).toContain(apiKey.id);

    const revoked = await mutate(
      adminToken,
      "revokeApiKey",
      "RevokeApiKeyInput",
      { id: apiKey.id },
      "... on RevokeApiKeySuccess { apiKey { revokedAt } }",
    );
    expect((revoked.apiKey as { revokedAt: string | null }).revokedAt).not.toBeNull();
    expect(codes(await gw.gql("{ projects(first: 1) { edges { node { id } } } }", {}, secret))).toEqual([
      "UNAUTHENTICATED",
    ]);
  });

  it("lists and ends a member's session: its refresh token no longer refreshes", async () => {
    const session = await login(viewer.email, viewer.password);
    const mine = dataOf<{ mySessions: { edges: Array<{ node: { id: string; user: { id: string } } }> } }>(
      await gw.gql(
        "{ mySessions(first: 10) { edges { node { id authenticationMethods user { id } } } } }",
        {},
        session?.accessToken,
      ),
    );
    const newest = mine.mySessions.edges[0]?.node;
    expect(newest?.user.id).toBe(gid("User", viewer.userId));
    const adminToken = await admin.accessToken();
    const all = dataOf<{ sessions: { edges: Array<{ node: { id: string } }> } }>(
      await gw.gql(
        "query($u: ID) { sessions(first: 100, userId: $u) { edges { node { id } } } }",
        { u: gid("User", viewer.userId) },
        adminToken,
      ),
    );
    expect(all.sessions.edges.map((e) => e.node.id)).toContain(newest?.id);

    const ended = await mutate(
      adminToken,
      "revokeSession",
      "RevokeSessionInput",
      { id: newest?.id },
      "... on RevokeSessionSuccess { session { revokedAt } }",
    );
    expect((ended.session as { revokedAt: string | null }).revokedAt).not.toBeNull();
    const refreshed = await gw.gql(
      "mutation($input: RefreshInput!) { refresh(input: $input) { __typename ... on Error { code } } }",
      { input: { refreshToken: session?.refreshToken } },
    );
    expect(JSON.stringify(refreshed.body)).toContain("UNAUTHENTICATED");
  });

  it("a viewer is refused the administrative fields with FORBIDDEN and may read their own sessions", async () => {
    const token = await viewer.accessToken();
    for (const query of [
      "{ apiKeys(first: 1) { edges { node { id } } } }",
      "{ invitations(first: 1) { edges { node { id } } } }",
      "{ sessions(first: 1) { edges { node { id } } } }",
    ]) {
      expect(codes(await gw.gql(query, {}, token)), query).toEqual(["FORBIDDEN"]);
    }
    const forbidden = { __typename: "ForbiddenError", code: "FORBIDDEN" };
    const adminUser = gid("User", admin.userId);
    for (const [field, type, input] of [
      ["createApiKey", "CreateApiKeyInput", { name: "x", role: "VIEWER", scopes: ["projects.read"] }],
      ["inviteMember", "InviteMemberInput", { email: "x@example.com", role: "VIEWER" }],
      ["updateMemberRole", "UpdateMemberRoleInput", { userId: adminUser, role: "VIEWER" }],
      ["removeMember", "RemoveMemberInput", { userId: adminUser }],
      ["revokeAllSessions", "RevokeAllSessionsInput", { userId: adminUser }],
      ["revokeInvitation", "RevokeInvitationInput", { id: gid("Invitation", randomUUID()) }],
      ["revokeApiKey", "RevokeApiKeyInput", { id: gid("ApiKey", randomUUID()) }],
    ] as const) {
      expect(await mutate(token, field, type, input), field).toMatchObject(forbidden);
    }
    expect(
      codes(
        await gw.gql(
          "{ mySessions(first: 5) { edges { node { id } } } members(first: 5) { edges { node { role } } } }",
          {},
          token,
        ),
      ),
    ).toEqual([]);
  });

  it("bad input is a ValidationError naming the field", async () => {
    const token = await admin.accessToken();
    const fieldsOf = (r: Record<string, unknown>) => (r.fieldErrors as Array<{ field: string }>).map((f) => f.field);
    // a NUL never reaches a resolver: the gateway refuses the request body, naming the variable's path
    const nul = await gw.gql(
      `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { ${RESULT} } }`,
      { input: { name: "nul\u0000name", role: "VIEWER", scopes: ["projects.read"] } },
      token,
    );
    expect(codes(nul)).toEqual(["BAD_USER_INPUT"]);
    expect(nul.body.errors?.[0]?.extensions?.path).toBe("variables.input.name");
    for (const [input, field] of [
      [{ name: "x".repeat(201), role: "VIEWER", scopes: ["projects.read"] }, "name"],
      [{ name: "k", role: "VIEWER", scopes: ["projects.read"], expiresAt: "2001-01-01T00:00:00Z" }, "expiresAt"],
      [{ name: "k", role: "VIEWER", scopes: ["Not A Scope"] }, "scopes[0]"],
    ] as const) {
      const res = await mutate(token, "createApiKey", "CreateApiKeyInput", input);
      expect(res.__typename, JSON.stringify(res)).toBe("ValidationError");
      expect(fieldsOf(res)).toContain(field);
    }
    const email = await mutate(token, "inviteMember", "InviteMemberInput", { email: "not-an-email", role: "VIEWER" });
    expect(email.__typename).toBe("ValidationError");
    expect(fieldsOf(email)).toContain("email");
    const role = await gw.gql(
      `mutation($input: InviteMemberInput!) { inviteMember(input: $input) { ${RESULT} } }`,
      { input: { email: "a@example.com", role: "EMPEROR" } },
      token,
    );
    expect(codes(role)).toEqual(["BAD_USER_INPUT"]);
    expect(role.body.errors?.[0]?.message).toContain("role");
  });

  it("a request with both an API key and a user token is refused with BAD_USER_INPUT naming both", async () => {
    const key = await tenant.apiKey("viewer", ["projects.read"]);
    const res = await gw.gql("{ members(first: 1) { edges { node { role } } } }", {}, await admin.accessToken(), {
      "x-api-key": key.key,
    });
    expect(codes(res)).toEqual(["BAD_USER_INPUT"]);
    const errors = (res.body.errors?.[0]?.extensions?.fieldErrors ?? []) as Array<{ field: string }>;
    const fields = errors.map((f) => f.field);
    expect(fields.sort()).toEqual(["Authorization", "X-Api-Key"]);
  });
});
