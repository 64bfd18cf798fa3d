import { Code, ConnectError } from "@connectrpc/connect";
import { SessionService } from "@tessera/proto/tessera/identity/v1/sessions_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CLIENT,
  codeOf,
  collectEvents,
  errorOf,
  type Identity,
  MembershipService,
  newPassword,
  type Person,
  Role,
  type SeededTenant,
  startIdentity,
  TokenType,
  uniqueEmail,
  violatedFields,
} from "./support.ts";

describe("identity SessionService and concurrent invitation acceptance", () => {
  let id: Identity;
  let a: SeededTenant;
  let b: SeededTenant;
  let admin: Person;
  let member: Person;

  beforeAll(async () => {
    id = await startIdentity("selfsvc");
    [a, b] = [await id.seedTenant(), await id.seedTenant()];
    admin = await id.addMember(a, Role.ADMIN);
    member = await id.addMember(a, Role.MEMBER);
  }, 60_000);
  afterAll(async () => id?.stop());

  /** Signs in through the edge: a new session with its refresh token and an identity token for it. */
  async function signIn(p: Person, tenantId: string) {
    const auth = await id.auth();
    const { tokens } = await auth.login({
      email: p.email,
      password: p.password,
      client: CLIENT,
      tenant: { case: "tenantId", value: tenantId },
    });
    const { accessToken } = await auth.exchangeToken({
      subjectToken: tokens?.accessToken ?? "",
      subjectTokenType: TokenType.ACCESS_TOKEN,
      audience: "identity",
    });
    return { refreshToken: tokens?.refreshToken ?? "", token: accessToken };
  }

  /** "ok", or the gRPC code a call failed with. */
  const outcome = async (call: Promise<unknown>): Promise<Code | "ok"> => {
    try {
      await call;
      return "ok";
    } catch (err) {
      return ConnectError.from(err).code;
    }
  };
  const refreshes = async (refreshToken: string) =>
    outcome((await id.auth()).refresh({ refreshToken, client: CLIENT }));

  it("two invitations for the same new address, accepted at once, both succeed with one user", async () => {
    const email = uniqueEmail("race");
    const fromA = await id.client(MembershipService, a.owner.token).createInvitation({ email, role: Role.MEMBER });
    const fromB = await id.client(MembershipService, b.owner.token).createInvitation({ email, role: Role.VIEWER });
    const edge = id.client(MembershipService, await id.edgeToken());
    const password = newPassword();
    const [x, y] = await Promise.all([
      edge.acceptInvitation({ token: fromA.token, password }),
      edge.acceptInvitation({ token: fromB.token, password }),
    ]);
    expect(x.membership?.userId).toBeTruthy();
    expect(y.membership?.userId).toBe(x.membership?.userId);
    expect([x.userCreated, y.userCreated].sort()).toEqual([false, true]);
    expect(x.membership?.tenantId).toBe(a.tenantId);
    expect(y.membership?.tenantId).toBe(b.tenantId);
    // the one user signs in to both tenants with the password
    await id.tokenFor(email, password, a.tenantId);
    await id.tokenFor(email, password, b.tenantId);
  });

  it("the loser of that race with another password is refused like a wrong password, never INTERNAL", async () => {
    const email = uniqueEmail("race2");
    const fromA = await id.client(MembershipService, a.owner.token).createInvitation({ email, role: Role.MEMBER });
    const fromB = await id.client(MembershipService, b.owner.token).createInvitation({ email, role: Role.MEMBER });
    const edge = id.client(MembershipService, await id.edgeToken());
    const codes = await Promise.all([
      outcome(edge.acceptInvitation({ token: fromA.token, password: newPassword() })),
      outcome(edge.acceptInvitation({ token: fromB.token, password: newPassword() })),
    ]);
    // exactly one wins; the other is now an existing user's acceptance and needs that user's password
    expect(codes.sort()).toEqual([Code.Unauthenticated, "ok"].sort());
  });

  it("the same token accepted twice at once: one membership, the other gets the spent-token NOT_FOUND", async () => {
    const email = uniqueEmail("twice");
    const { token } = await id.client(MembershipService, a.owner.token).createInvitation({ email, role: Role.VIEWER });
    const edge = id.client(MembershipService, await id.edgeToken());
    const password = newPassword();
    const results = await Promise.allSettled([
      edge.acceptInvitation({ token, password }),
      edge.acceptInvitation({ token, password }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const failed = results.find((r) => r.status === "rejected");
    expect(ConnectError.from(failed?.reason).code).toBe(Code.NotFound);
    const members = await id.client(MembershipService, a.owner.token).listMembers({ page: { pageSize: 500 } });
    expect(members.members.filter((m) => m.user?.email === email)).toHaveLength(1);
  });

  it("admins list and end members' sessions; the ended refresh token no longer refreshes", async () => {
    const events = collectEvents(id.nats, `tessera.evt.${a.tenantId}.session.>`);
    const s1 = await signIn(member, a.tenantId);
    const s2 = await signIn(member, a.tenantId);
    const asAdmin = id.client(SessionService, admin.token);
    const listed = await asAdmin.listSessions({ userId: member.userId });
    expect(listed.sessions.length).toBeGreaterThanOrEqual(2);
    expect(listed.sessions.every((s) => s.userId === member.userId && s.tenantId === a.tenantId)).toBe(true);
    expect(JSON.stringify(listed, (_k, v) => (typeof v === "bigint" ? String(v) : v))).not.toContain("tsr_");
    const all = await asAdmin.listSessions({});
    expect(new Set(all.sessions.map((s) => s.userId))).toContain(admin.userId);

    // the member's own list names the same sessions; the newest is s2
    const own = await id.client(SessionService, s2.token).listSessions({ own: true });
    const newest = own.sessions[0];
    expect(own.sessions.map((s) => s.id).sort()).toEqual(listed.sessions.map((s) => s.id).sort());
    expect(newest?.authenticationMethods).toEqual(["pwd"]);

    const { session } = await asAdmin.revokeSession({ sessionId: newest?.id ?? "" });
    expect(session?.revokeTime).toBeDefined();
    expect(await refreshes(s2.refreshToken)).toBe(Code.Unauthenticated);
    expect(await refreshes(s1.refreshToken)).toBe("ok");
    // ending it again changes nothing
    expect((await asAdmin.revokeSession({ sessionId: newest?.id ?? "" })).session?.id).toBe(newest?.id);
    await events.waitFor((s) => s.filter((x) => x.endsWith("session.revoked")).length === 1);
    events.stop();
  });

  it("members see and end only their own sessions; they are refused the tenant's", async () => {
    const mine = await signIn(member, a.tenantId);
    const theirs = await signIn(admin, a.tenantId);
    const asMember = id.client(SessionService, mine.token);
    expect(await codeOf(asMember.listSessions({}))).toBe(Code.PermissionDenied);
    expect(await codeOf(asMember.listSessions({ userId: admin.userId }))).toBe(Code.PermissionDenied);
    const err = await errorOf(asMember.listSessions({ own: true, userId: admin.userId }));
    expect(violatedFields(err)).toContain("user_id");
    const adminSessions = await id.client(SessionService, theirs.token).listSessions({ own: true });
    const adminSession = adminSessions.sessions[0]?.id ?? "";
    expect(await codeOf(asMember.revokeSession({ sessionId: adminSession }))).toBe(Code.PermissionDenied);
    expect(await codeOf(asMember.revokeAllSessions({ userId: admin.userId }))).toBe(Code.PermissionDenied);
    expect(await refreshes(theirs.refreshToken)).toBe("ok");

    // "sign out everywhere" of oneself
    const other = await signIn(member, a.tenantId);
    const { revokedCount } = await asMember.revokeAllSessions({ userId: member.userId });
    expect(revokedCount).toBeGreaterThanOrEqual(2);
    expect(await refreshes(other.refreshToken)).toBe(Code.Unauthenticated);
  });

  it("only owners end an owner's sessions", async () => {
    const ownerSession = await signIn(a.owner, a.tenantId);
    const asAdmin = id.client(SessionService, (await signIn(admin, a.tenantId)).token);
    expect(await codeOf(asAdmin.revokeAllSessions({ userId: a.owner.userId }))).toBe(Code.PermissionDenied);
    expect(await refreshes(ownerSession.refreshToken)).toBe("ok");
  });

  it("another tenant's sessions and members are NOT_FOUND, like ids that do not exist", async () => {
    const target = await signIn(member, a.tenantId);
    const sessionId = (await id.client(SessionService, target.token).listSessions({ own: true })).sessions[0]?.id ?? "";
    const asB = id.client(SessionService, b.owner.token);
    expect(await codeOf(asB.revokeSession({ sessionId }))).toBe(Code.NotFound);
    expect(await codeOf(asB.revokeSession({ sessionId: crypto.randomUUID() }))).toBe(Code.NotFound);
    expect(await codeOf(asB.revokeAllSessions({ userId: member.userId }))).toBe(Code.NotFound);
    expect(await codeOf(asB.revokeAllSessions({ userId: crypto.randomUUID() }))).toBe(Code.NotFound);
    const listed = await asB.listSessions({ userId: member.userId });
    expect(listed.sessions).toEqual([]);
    expect((await asB.listSessions({})).sessions.map((s) => s.tenantId)).not.toContain(a.tenantId);
    expect(await refreshes(target.refreshToken)).toBe("ok");
    // a page token of A's list is no page token in B
    const page = await id.client(SessionService, admin.token).listSessions({ page: { pageSize: 1 } });
    expect(page.page?.nextPageToken).toBeTruthy();
    const err = await errorOf(asB.listSessions({ page: { pageSize: 1, pageToken: page.page?.nextPageToken ?? "" } }));
    expect(violatedFields(err)).toContain("page.page_token");
  });
});
