import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ApiKeyService,
  AuthService,
  codeOf,
  collectEvents,
  errorOf,
  type Identity,
  MembershipService,
  newPassword,
  Role,
  type SeededTenant,
  startIdentity,
  UserService,
  uniqueEmail,
  violatedFields,
} from "./support.ts";

describe("identity MembershipService and UserService", () => {
  let id: Identity;
  let a: SeededTenant;
  let b: SeededTenant;

  beforeAll(async () => {
    id = await startIdentity("members");
    [a, b] = [await id.seedTenant(), await id.seedTenant()];
  }, 60_000);
  afterAll(async () => id?.stop());

  it("invitations are single-use and create the user, who can then log in as a member", async () => {
    const events = collectEvents(id.nats, `tessera.evt.${a.tenantId}.>`);
    const members = id.client(MembershipService, a.owner.token);
    const email = uniqueEmail("invitee");
    const { invitation, token } = await members.createInvitation({ email, role: Role.MEMBER });
    expect(invitation?.tenantId).toBe(a.tenantId);
    expect(token).toMatch(/^tsi_/);
    const edge = id.client(MembershipService, await id.edgeToken());
    const password = newPassword();
    const accepted = await edge.acceptInvitation({ token, password, displayName: "Invitee" });
    expect(accepted.userCreated).toBe(true);
    expect(accepted.membership?.role).toBe(Role.MEMBER);
    expect(await codeOf(edge.acceptInvitation({ token, password }))).toBe(Code.NotFound);

    const listed = await members.listInvitations({});
    expect(listed.invitations.find((i) => i.id === invitation?.id)?.state).toBe(2); // ACCEPTED
    await id.tokenFor(email, password, a.tenantId);
    await events.waitFor(
      (s) => s.some((x) => x.endsWith("invitation.accepted")) && s.some((x) => x.endsWith("membership.created")),
    );
    events.stop();
  });

  it("an existing user accepting must give their password; a revoked invitation cannot be used", async () => {
    const members = id.client(MembershipService, a.owner.token);
    const edge = id.client(MembershipService, await id.edgeToken());
    const first = await members.createInvitation({ email: b.owner.email, role: Role.VIEWER });
    expect(await codeOf(edge.acceptInvitation({ token: first.token, password: "not-their-password" }))).toBe(
      Code.Unauthenticated,
    );
    await members.revokeInvitation({ invitationId: first.invitation?.id ?? "" });
    expect(await codeOf(edge.acceptInvitation({ token: first.token, password: b.owner.password }))).toBe(Code.NotFound);
    const second = await members.createInvitation({ email: b.owner.email, role: Role.VIEWER });
    const accepted = await edge.acceptInvitation({ token: second.token, password: b.owner.password });
    expect(accepted.userCreated).toBe(false);
    expect(accepted.membership?.userId).toBe(b.owner.userId);
    expect(await codeOf(members.createInvitation({ email: b.owner.email, role: Role.VIEWER }))).toBe(
      Code.AlreadyExists,
    );
  });

  it("lists members with pages, changes roles with the owner rules, and reports role changes", async () => {
    const admin = await id.addMember(a, Role.ADMIN);
    const member = await id.addMember(a, Role.MEMBER);
    const asOwner = id.client(MembershipService, a.owner.token);
    const asAdmin = id.client(MembershipService, admin.token);

    const page1 = await asOwner.listMembers({ page: { pageSize: 2 } });
    expect(page1.members).toHaveLength(2);
    const page2 = await asOwner.listMembers({ page: { pageSize: 100, pageToken: page1.page?.nextPageToken ?? "" } });
    const all = [...page1.members, ...page2.members].map((m) => m.userId);
    expect(all).toEqual(expect.arrayContaining([a.owner.userId, admin.userId, member.userId]));
    expect(new Set(all).size).toBe(all.length);
    expect(page2.page?.nextPageToken).toBe("");

    const events = collectEvents(id.nats, `tessera.evt.${a.tenantId}.membership.role_changed`);
    const changed = await asAdmin.changeMemberRole({ userId: member.userId, role: Role.VIEWER });
    expect(changed.membership?.role).toBe(Role.VIEWER);
    await events.waitFor((s) => s.length === 1);
    events.stop();

    expect(await codeOf(asAdmin.changeMemberRole({ userId: member.userId, role: Role.OWNER }))).toBe(
      Code.PermissionDenied,
    );
    expect(await codeOf(asAdmin.changeMemberRole({ userId: a.owner.userId, role: Role.MEMBER }))).toBe(
      Code.PermissionDenied,
    );
    expect(await codeOf(asOwner.changeMemberRole({ userId: a.owner.userId, role: Role.ADMIN }))).toBe(
      Code.FailedPrecondition,
    );
    const viewer = id.client(MembershipService, member.token);
    expect(await codeOf(viewer.changeMemberRole({ userId: admin.userId, role: Role.VIEWER }))).toBe(
      Code.PermissionDenied,
    );
    // the role in a fresh token is the new one
    const fresh = await id.tokenFor(member.email, member.password, a.tenantId);
    expect((await id.client(UserService, fresh).getViewer({})).memberships[0]?.role).toBe(Role.VIEWER);
  });

  it("refuses bad input with field-level messages", async () => {
    const members = id.client(MembershipService, a.owner.token);
    const bad = await errorOf(members.createInvitation({ email: "nope", role: Role.UNSPECIFIED }));
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(violatedFields(bad)).toEqual(expect.arrayContaining(["email", "role"]));
    const badId = await errorOf(members.changeMemberRole({ userId: "not-a-uuid", role: Role.MEMBER }));
    expect(violatedFields(badId)).toContain("user_id");
    const badPage = await errorOf(members.listMembers({ page: { pageSize: 10, pageToken: "garbage" } }));
    expect(badPage.code).toBe(Code.InvalidArgument);
    expect(violatedFields(badPage)).toContain("page.page_token");
    const weak = await errorOf(
      id.client(MembershipService, await id.edgeToken()).acceptInvitation({ token: "tsi_x", password: "short" }),
    );
    expect(violatedFields(weak)).toContain("password");
  });

  it("every remaining RPC refuses malformed input with INVALID_ARGUMENT naming the field", async () => {
    const edgeToken = await id.edgeToken();
    const auth = id.client(AuthService, edgeToken);
    const members = id.client(MembershipService, a.owner.token);
    const users = id.client(UserService, a.owner.token);
    const keys = id.client(ApiKeyService, a.owner.token);
    const cases: Array<[string, () => Promise<unknown>]> = [
      ["refresh_token", () => auth.refresh({ refreshToken: "", client: { ip: "127.0.0.1", userAgent: "" } })],
      ["client", () => auth.refresh({ refreshToken: "tsr_x" })],
      ["refresh_token", () => auth.logout({ refreshToken: "" })],
      ["user_id", () => users.getUser({ userId: "42" })],
      ["user_ids", () => users.batchGetUsers({ userIds: ["nope"] })],
      ["user_id", () => members.removeMember({ userId: "" })],
      ["invitation_id", () => members.revokeInvitation({ invitationId: "x" })],
      ["page.page_token", () => members.listInvitations({ page: { pageSize: 5, pageToken: "Zm9v" } })],
      ["page.page_size", () => keys.listApiKeys({ page: { pageSize: 100_000 } })],
      ["api_key_id", () => keys.revokeApiKey({ apiKeyId: "" })],
      [
        "token",
        () => id.client(MembershipService, edgeToken).acceptInvitation({ token: "", password: "x".repeat(12) }),
      ],
    ];
    for (const [field, call] of cases) {
      const err = await errorOf(call());
      expect(err.code, field).toBe(Code.InvalidArgument);
      expect(
        violatedFields(err).some((f) => f.startsWith(field)),
        `${field}: ${violatedFields(err)}`,
      ).toBe(true);
    }
  });

  it("tenant B's admin cannot read, list, update or act on tenant A's users, memberships or invitations", async () => {
    const memberOfA = await id.addMember(a, Role.MEMBER);
    const invitationOfA = (
      await id.client(MembershipService, a.owner.token).createInvitation({ email: uniqueEmail(), role: Role.VIEWER })
    ).invitation;
    const asB = id.client(MembershipService, b.owner.token);
    const usersAsB = id.client(UserService, b.owner.token);
    const ghost = randomUUID();

    for (const userId of [memberOfA.userId, ghost]) {
      const readErr = await errorOf(usersAsB.getUser({ userId }));
      expect(readErr.code).toBe(Code.NotFound);
      expect(readErr.rawMessage).toBe("user not found");
      expect(await codeOf(asB.changeMemberRole({ userId, role: Role.VIEWER }))).toBe(Code.NotFound);
      expect(await codeOf(asB.removeMember({ userId }))).toBe(Code.NotFound);
    }
    expect(
      (await usersAsB.batchGetUsers({ userIds: [memberOfA.userId, b.owner.userId] })).users.map((u) => u.id),
    ).toEqual([b.owner.userId]);
    const listed = await asB.listMembers({});
    expect(listed.members.map((m) => m.userId)).not.toContain(memberOfA.userId);
    expect((await asB.listInvitations({})).invitations.map((i) => i.id)).not.toContain(invitationOfA?.id);
    expect(await codeOf(asB.revokeInvitation({ invitationId: invitationOfA?.id ?? "" }))).toBe(Code.NotFound);
    expect(await codeOf(asB.revokeInvitation({ invitationId: ghost }))).toBe(Code.NotFound);
    // naming tenant A explicitly does not help
    expect(await codeOf(asB.createInvitation({ email: uniqueEmail(), role: Role.ADMIN, tenantId: a.tenantId }))).toBe(
      Code.NotFound,
    );
    // a page token of tenant A's list is refused in tenant B
    const pageOfA = await id.client(MembershipService, a.owner.token).listMembers({ page: { pageSize: 1 } });
    expect(await codeOf(asB.listMembers({ page: { pageSize: 1, pageToken: pageOfA.page?.nextPageToken ?? "" } }))).toBe(
      Code.InvalidArgument,
    );
    // tenant A still has everything
    expect((await id.client(UserService, a.owner.token).getUser({ userId: memberOfA.userId })).user?.id).toBe(
      memberOfA.userId,
    );
  });

  it("GetViewer returns the caller and all memberships; BatchGetUsers returns visible users", async () => {
    const viewer = await id.client(UserService, a.owner.token).getViewer({});
    expect(viewer.user?.email).toBe(a.owner.email);
    expect(viewer.memberships.map((m) => m.tenantId)).toContain(a.tenantId);
    const batch = await id
      .client(UserService, a.owner.token)
      .batchGetUsers({ userIds: [a.owner.userId, randomUUID()] });
    expect(batch.users.map((u) => u.id)).toEqual([a.owner.userId]);
    expect(await codeOf(id.client(UserService, a.owner.token).batchGetUsers({ userIds: [] }))).toBe(
      Code.InvalidArgument,
    );
    // without a token: refused
    expect(await codeOf(id.client(UserService).getViewer({}))).toBe(Code.Unauthenticated);
  });

  it("only a platform admin (without a tenant) invites into a named tenant; tenant callers cannot bootstrap", async () => {
    const adminToken = await id.tokenFor(id.admin.email, id.admin.password);
    const asAdmin = id.client(MembershipService, adminToken);
    const missing = await errorOf(asAdmin.createInvitation({ email: uniqueEmail(), role: Role.OWNER }));
    expect(missing.code).toBe(Code.InvalidArgument);
    expect(violatedFields(missing)).toContain("tenant_id");
    const owner = id.client(MembershipService, a.owner.token);
    await owner.removeMember({ userId: b.owner.userId }).catch(() => undefined);
    const member = await id.addMember(a, Role.ADMIN);
    expect(
      await codeOf(
        id.client(MembershipService, member.token).createInvitation({ email: uniqueEmail(), role: Role.OWNER }),
      ),
    ).toBe(Code.PermissionDenied);
  });
});
