/**
 * Role matrix on every surface: a viewer cannot write (GraphQL ForbiddenError / FORBIDDEN, REST
 * 403, gRPC PERMISSION_DENIED), a member cannot archive and an admin can; an API key without the
 * write scope cannot POST and one with it can. Members and viewers are refused tenant administration
 * (members, invitations, API keys, sessions, the MFA policy, SCIM tokens and group mapping) on
 * GraphQL (FORBIDDEN) and REST (403).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, expect, it } from "vitest";
import { globalId, type Json, projectKey, type Slice, startSlice } from "./setup.ts";

let slice: Slice;
let projectId = "";
let taskId = "";

beforeAll(async () => {
  slice = await startSlice();
  const c = slice.rpc(await slice.a.member.internalToken("projects"));
  const { project } = await c.projects.createProject({ name: "roles", key: projectKey() });
  projectId = project?.id as string;
  const { task } = await c.tasks.createTask({ projectId, title: "a task" });
  taskId = task?.id as string;
});
afterAll(async () => {
  await slice?.stop();
});

const json = (text: string): Json => JSON.parse(text);

async function rpcCode(call: () => Promise<unknown>): Promise<Code | "ok"> {
  try {
    await call();
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

async function mutate(token: string, field: string, input: string, variables: Record<string, unknown>) {
  const res = await slice.gql(
    token,
    `mutation($input: ${input}!) { ${field}(input: $input) { __typename ... on Error { code message } } }`,
    { input: variables },
  );
  expect(res.status, res.text).toBe(200);
  return json(res.text).data[field] as { __typename: string; code?: string };
}

it("a viewer cannot write through GraphQL, REST or gRPC, and can read", async () => {
  const { a } = slice;
  const token = await a.viewer.accessToken();
  const forbidden = { __typename: "ForbiddenError", code: "FORBIDDEN" };
  expect(await mutate(token, "createProject", "CreateProjectInput", { name: "x", key: projectKey() })).toMatchObject(
    forbidden,
  );
  expect(
    await mutate(token, "createTask", "CreateTaskInput", { projectId: globalId("Project", projectId), title: "x" }),
  ).toMatchObject(forbidden);
  expect(
    await mutate(token, "updateTask", "UpdateTaskInput", { id: globalId("Task", taskId), title: "x" }),
  ).toMatchObject(forbidden);
  expect(
    await mutate(token, "addComment", "AddCommentInput", { taskId: globalId("Task", taskId), body: "x" }),
  ).toMatchObject(forbidden);
  // tenant administration: members and viewers are refused every admin operation
  const adminUser = globalId("User", a.admin.userId);
  const someScimToken = globalId("ScimToken", "7d4f4e5c-0c57-4f0e-9a51-2f5b0f6f2a10");
  for (const who of [token, await a.member.accessToken()]) {
    for (const [field, input, variables] of [
      ["inviteMember", "InviteMemberInput", { email: "x@example.com", role: "VIEWER" }],
      ["updateMemberRole", "UpdateMemberRoleInput", { userId: adminUser, role: "VIEWER" }],
      ["removeMember", "RemoveMemberInput", { userId: adminUser }],
      ["createApiKey", "CreateApiKeyInput", { name: "x", role: "VIEWER", scopes: ["projects.read"] }],
      ["revokeAllSessions", "RevokeAllSessionsInput", { userId: adminUser }],
      ["setMfaPolicy", "SetMfaPolicyInput", { mode: "OFF", gracePeriodDays: 0 }],
      ["rotateScimToken", "RotateScimTokenInput", { id: someScimToken }],
      ["revokeScimToken", "RevokeScimTokenInput", { id: someScimToken }],
      ["setScimGroupMapping", "SetScimGroupMappingInput", { groupRoles: [{ group: "x", role: "ADMIN" }] }],
      [
        "setSsoConnection",
        "SetSsoConnectionInput",
        { issuer: "https://idp.example.com", clientId: "x", enabled: false },
      ],
    ] as const) {
      expect(await mutate(who, field, input, variables), field).toMatchObject(forbidden);
    }
    const created = json(
      (await slice.gql(who, "mutation { createScimToken { __typename ... on Error { code message } } }")).text,
    );
    expect(created.data.createScimToken, "createScimToken").toMatchObject(forbidden);
    const deleted = json(
      (await slice.gql(who, "mutation { deleteSsoConnection { __typename ... on Error { code message } } }")).text,
    );
    expect(deleted.data.deleteSsoConnection, "deleteSsoConnection").toMatchObject(forbidden);
    for (const query of [
      "{ apiKeys { edges { node { id } } } }",
      "{ invitations { edges { node { id } } } }",
      "{ sessions { edges { node { id } } } }",
      "{ scimTokens { id } }",
      "{ scimGroupMapping { updatedAt } }",
      "{ viewer { tenant { mfaPolicy { mode } } } }",
      "{ viewer { tenant { ssoConnection { issuer } } } }",
    ]) {
      const res = json((await slice.gql(who, query)).text);
      expect(res.errors?.[0]?.extensions?.code, query).toBe("FORBIDDEN");
    }
  }
  const read = await slice.gql(token, "query($id: ID!) { project(id: $id) { id } }", {
    id: globalId("Project", projectId),
  });
  expect(json(read.text).data.project.id).toBe(globalId("Project", projectId));

  const key = a.keys.viewer.key;
  for (const [method, path, body] of [
    ["POST", "/v1/projects", { name: "x", key: projectKey() }],
    ["PATCH", `/v1/projects/${projectId}`, { name: "x" }],
    ["POST", `/v1/projects/${projectId}/tasks`, { title: "x" }],
    ["PATCH", `/v1/tasks/${taskId}`, { title: "x" }],
    ["POST", `/v1/tasks/${taskId}/comments`, { body: "x" }],
    ["DELETE", `/v1/tasks/${taskId}`, undefined],
    ["GET", "/v1/api-keys", undefined],
    ["POST", "/v1/api-keys", { name: "x", role: "viewer", scopes: ["projects.read"] }],
    ["GET", "/v1/invitations", undefined],
    ["POST", "/v1/invitations", { email: "x@example.com", role: "viewer" }],
    ["PATCH", `/v1/members/${a.admin.userId}`, { role: "viewer" }],
    ["DELETE", `/v1/members/${a.admin.userId}`, undefined],
    ["GET", "/v1/sessions", undefined],
  ] as const) {
    const res = await slice.rest_(key, method, path, body);
    expect(res.status, `${method} ${path}: ${res.text}`).toBe(403);
    expect(res.contentType).toMatch(/^application\/problem\+json/);
    expect(json(res.text).type).toBe("urn:tessera:problem:forbidden");
  }
  expect((await slice.rest_(key, "GET", `/v1/tasks/${taskId}`)).status).toBe(200);
  // security administration over REST with members' and viewers' own sign-ins (keys lack identity
  // scopes, so a key's refusal would not show that the role is what is refused)
  for (const user of [a.viewer, a.member]) {
    const bearer = await user.accessToken();
    for (const [method, path, body] of [
      ["GET", "/v1/mfa-policy", undefined],
      ["PUT", "/v1/mfa-policy", { mode: "off", grace_period_days: 0 }],
      ["GET", "/v1/scim/tokens", undefined],
      ["POST", "/v1/scim/tokens", {}],
      ["POST", "/v1/scim/tokens/7d4f4e5c-0c57-4f0e-9a51-2f5b0f6f2a10/rotate", {}],
      ["DELETE", "/v1/scim/tokens/7d4f4e5c-0c57-4f0e-9a51-2f5b0f6f2a10", undefined],
      ["GET", "/v1/scim/group-mapping", undefined],
      ["PUT", "/v1/scim/group-mapping", { group_roles: [{ group: "x", role: "admin" }] }],
      ["GET", "/v1/sso-connection", undefined],
      ["PUT", "/v1/sso-connection", { issuer: "https://idp.example.com", client_id: "x", enabled: false }],
      ["DELETE", "/v1/sso-connection", undefined],
    ] as const) {
      const res = await fetch(`${slice.rest.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${bearer}`,
          ...(body !== undefined && { "content-type": "application/json" }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(20_000),
      });
      const text = await res.text();
      expect(res.status, `${method} ${path}: ${text}`).toBe(403);
      expect(json(text).type).toBe("urn:tessera:problem:forbidden");
    }
  }

  const c = slice.rpc(await a.viewer.internalToken("projects"));
  expect(await rpcCode(() => c.projects.createProject({ name: "x", key: projectKey() }))).toBe(Code.PermissionDenied);
  expect(await rpcCode(() => c.tasks.createTask({ projectId, title: "x" }))).toBe(Code.PermissionDenied);
  expect(await rpcCode(() => c.tasks.updateTask({ taskId, updateMask: { paths: ["title"] }, title: "x" }))).toBe(
    Code.PermissionDenied,
  );
  expect(await rpcCode(() => c.tasks.addComment({ taskId, body: "x" }))).toBe(Code.PermissionDenied);
  expect(await rpcCode(() => c.tasks.deleteTask({ taskId }))).toBe(Code.PermissionDenied);
  expect(await rpcCode(() => c.tasks.getTask({ taskId }))).toBe("ok");
});

it("a member cannot archive, an admin can (GraphQL, REST, gRPC)", async () => {
  const { a } = slice;
  const member = slice.rpc(await a.member.internalToken("projects"));
  const fresh = async () =>
    (await member.projects.createProject({ name: "archive me", key: projectKey() })).project?.id as string;

  const [p1, p2, p3] = [await fresh(), await fresh(), await fresh()];
  // GraphQL
  expect(
    await mutate(await a.member.accessToken(), "archiveProject", "ArchiveProjectInput", {
      id: globalId("Project", p1),
    }),
  ).toMatchObject({ __typename: "ForbiddenError", code: "FORBIDDEN" });
  expect(
    await mutate(await a.admin.accessToken(), "archiveProject", "ArchiveProjectInput", { id: globalId("Project", p1) }),
  ).toMatchObject({ __typename: "ArchiveProjectSuccess" });
  // REST: a member key cannot (DELETE archives), an admin key can
  const denied = await slice.rest_(a.keys.member.key, "DELETE", `/v1/projects/${p2}`);
  expect(denied.status, denied.text).toBe(403);
  const archived = await slice.rest_(a.keys.admin.key, "DELETE", `/v1/projects/${p2}`);
  expect(archived.status, archived.text).toBe(204);
  expect(json((await slice.rest_(a.keys.admin.key, "GET", `/v1/projects/${p2}`)).text).archived).toBe(true);
  // gRPC
  expect(await rpcCode(() => member.projects.archiveProject({ projectId: p3 }))).toBe(Code.PermissionDenied);
  const admin = slice.rpc(await a.admin.internalToken("projects"));
  expect((await admin.projects.archiveProject({ projectId: p3 })).project?.archived).toBe(true);
  // nothing the member tried changed anything
  expect((await member.projects.getProject({ projectId: p1 })).project?.archived).toBe(true);
});

it("API-key scopes are honoured: no write scope, no POST; with it, POST works", async () => {
  const { a } = slice;
  const readOnly = a.keys.memberReadOnly.key;
  const writer = a.keys.member.key;
  for (const [path, body] of [
    ["/v1/projects", () => ({ name: "x", key: projectKey() })],
    [`/v1/projects/${projectId}/tasks`, () => ({ title: "x" })],
    [`/v1/tasks/${taskId}/comments`, () => ({ body: "x" })],
  ] as const) {
    const denied = await slice.rest_(readOnly, "POST", path, body());
    expect(denied.status, `${path}: ${denied.text}`).toBe(403);
    expect(json(denied.text).type).toBe("urn:tessera:problem:forbidden");
    const ok = await slice.rest_(writer, "POST", path, body());
    expect(ok.status, `${path}: ${ok.text}`).toBe(201);
  }
  // reads work with the read scopes
  expect((await slice.rest_(readOnly, "GET", `/v1/projects/${projectId}/tasks`)).status).toBe(200);
  // the same keys through GraphQL and through the exchanged internal token
  expect(
    await mutate(readOnly, "createTask", "CreateTaskInput", { projectId: globalId("Project", projectId), title: "x" }),
  ).toMatchObject({ __typename: "ForbiddenError", code: "FORBIDDEN" });
  expect(
    await mutate(writer, "createTask", "CreateTaskInput", { projectId: globalId("Project", projectId), title: "x" }),
  ).toMatchObject({ __typename: "CreateTaskSuccess" });
  const c = slice.rpc(await a.keys.memberReadOnly.internalToken("projects"));
  expect(await rpcCode(() => c.tasks.createTask({ projectId, title: "x" }))).toBe(Code.PermissionDenied);
  expect(await rpcCode(() => c.tasks.listTasks({ projectId }))).toBe("ok");
});
