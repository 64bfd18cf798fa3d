import { Code } from "@connectrpc/connect";
import { decodeEnvelope } from "@tessera/platform/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { patchOp, ScimService, scimClient, scimTokenFor, userBody } from "./scim-support.ts";
import {
  AuthService,
  CLIENT,
  codeOf,
  type Identity,
  MembershipService,
  Role,
  type SeededTenant,
  startIdentity,
  TokenType,
  uniqueEmail,
} from "./support.ts";

describe("identity SCIM 2.0: tokens, tenant isolation, deactivation, group roles", () => {
  let id: Identity;
  let a: SeededTenant;
  let b: SeededTenant;

  beforeAll(async () => {
    id = await startIdentity("scimsec");
    [a, b] = [await id.seedTenant(), await id.seedTenant()];
  }, 60_000);
  afterAll(async () => id?.stop());

  it("owners create, rotate and revoke the tenant's token; members cannot; the old token lives until the new one is used", async () => {
    const asOwner = id.client(ScimService, a.owner.token);
    const created = await asOwner.createScimToken({});
    expect(created.secret).toMatch(/^tss_scim_[0-9a-f]{12}_[\w-]{43}$/);
    expect(await codeOf(asOwner.createScimToken({}))).toBe(Code.FailedPrecondition);
    const member = await id.addMember(a, Role.MEMBER);
    expect(await codeOf(id.client(ScimService, member.token).rotateScimToken({}))).toBe(Code.PermissionDenied);
    const listed = (await asOwner.listScimTokens({})).tokens;
    expect(listed.map((t) => t.prefix)).toEqual([created.secret.slice(9, 21)]);
    expect(Object.values(listed[0] ?? {})).not.toContain(created.secret);

    const old = scimClient(id, created.secret);
    await old.ok("GET", "/Users");
    const rotated = await asOwner.rotateScimToken({ overlapSeconds: 600 });
    expect(rotated.previous?.id).toBe(created.token?.id);
    await old.ok("GET", "/Users"); // still valid during the overlap
    const fresh = scimClient(id, rotated.secret);
    await fresh.ok("GET", "/Users"); // the new token's first use completes the rotation
    expect((await old.call("GET", "/Users")).status).toBe(401);

    await asOwner.revokeScimToken({ tokenId: rotated.token?.id ?? "" });
    const revoked = await fresh.call("GET", "/Users");
    expect(revoked.status).toBe(401);
    expect(revoked.headers.get("www-authenticate")).toContain("Bearer");
    expect((await scimClient(id, `tss_scim_000000000000_${"x".repeat(43)}`).call("GET", "/Users")).status).toBe(401);
    expect((await scimClient(id, "").call("GET", "/ServiceProviderConfig")).status).toBe(401);
    // a platform admin manages a named tenant's token; tenant B's owner cannot touch tenant A's
    const admin = id.client(ScimService, await id.tokenFor(id.admin.email, id.admin.password));
    expect((await admin.createScimToken({ tenantId: a.tenantId })).secret).toMatch(/^tss_scim_/);
    expect(
      await codeOf(id.client(ScimService, b.owner.token).revokeScimToken({ tokenId: created.token?.id ?? "" })),
    ).toBe(Code.NotFound);
    expect(await codeOf(id.client(ScimService, b.owner.token).listScimTokens({ tenantId: a.tenantId }))).toBe(
      Code.NotFound,
    );
  });

  it("tenant B's token can never see or change tenant A's users, memberships or groups", async () => {
    const tokenA = await id.client(ScimService, a.owner.token).rotateScimToken({});
    const clientA = scimClient(id, tokenA.secret);
    const clientB = scimClient(id, (await scimTokenFor(id, b)).secret);
    const email = uniqueEmail("iso");
    const userA = (await clientA.ok("POST", "/Users", userBody(email), 201)).body.id as string;
    const groupA = (await clientA.ok("POST", "/Groups", { displayName: "A-only", members: [{ value: userA }] }, 201))
      .body.id as string;

    for (const path of [`/Users/${userA}`, `/Users/${a.owner.userId}`, `/Groups/${groupA}`]) {
      expect((await clientB.call("GET", path)).status).toBe(404);
      expect((await clientB.call("PUT", path, userBody(email))).status).toBe(404);
      expect((await clientB.call("PATCH", path, patchOp({ op: "replace", value: { active: false } }))).status).toBe(
        404,
      );
      expect((await clientB.call("DELETE", path)).status).toBe(404);
    }
    const listed = (await clientB.ok("GET", `/Users?filter=${encodeURIComponent(`userName eq "${email}"`)}`)).body;
    expect(listed.totalResults).toBe(0);
    const all = (await clientB.ok("GET", "/Users?count=200")).body.Resources?.map((r) => r.id);
    expect(all).not.toContain(userA);
    expect(all).not.toContain(a.owner.userId);
    expect((await clientB.ok("GET", "/Groups")).body.totalResults).toBe(0);
    // a group of B cannot take A's users as members, and the URL or body naming A changes nothing
    expect((await clientB.call("POST", "/Groups", { displayName: "steal", members: [{ value: userA }] })).status).toBe(
      400,
    );
    expect((await clientB.call("GET", `/Users/${userA}?tenant_id=${a.tenantId}`)).status).toBe(404);
    // the same address provisioned in B is a membership of B only; A's stays
    await clientB.ok("POST", "/Users", userBody(email, { tenantId: a.tenantId }), 201);
    expect((await clientA.ok("GET", `/Users/${userA}`)).body.active).toBe(true);
    expect((await clientA.ok("GET", `/Groups/${groupA}`)).body.members).toHaveLength(1);
  });

  it("active=false withdraws the membership, revokes sessions and refresh tokens, and the old access token's exchange fails at once", async () => {
    const client = scimClient(id, (await id.client(ScimService, a.owner.token).rotateScimToken({})).secret);
    const person = await id.addMember(a, Role.MEMBER);
    const auth = id.client(AuthService, await id.edgeToken());
    const { tokens } = await auth.login({
      email: person.email,
      password: person.password,
      client: CLIENT,
      tenant: { case: "tenantId", value: a.tenantId },
    });
    const exchange = () =>
      auth.exchangeToken({
        subjectToken: tokens?.accessToken ?? "",
        subjectTokenType: TokenType.ACCESS_TOKEN,
        audience: "identity",
      });
    await exchange();

    const seen: Array<{ type: string; actorKind: number; actorId: string }> = [];
    const sub = id.nats.subscribe(`tessera.evt.${a.tenantId}.membership.>`);
    void (async () => {
      for await (const msg of sub) {
        const decoded = decodeEnvelope(msg.data, msg.subject);
        if (decoded.ok)
          seen.push({
            type: decoded.envelope.type,
            actorKind: decoded.envelope.actor?.kind ?? 0,
            actorId: decoded.envelope.actor?.id ?? "",
          });
      }
    })();
    const deactivated = await client.ok(
      "PATCH",
      `/Users/${person.userId}`,
      patchOp({ op: "replace", value: { active: false } }),
    );
    expect(deactivated.body.active).toBe(false);
    expect(await codeOf(exchange())).toBe(Code.Unauthenticated);
    expect(await codeOf(auth.refresh({ refreshToken: tokens?.refreshToken ?? "", client: CLIENT }))).toBe(
      Code.Unauthenticated,
    );
    expect(await codeOf(id.tokenFor(person.email, person.password, a.tenantId))).toBe(Code.Unauthenticated);
    const deadline = Date.now() + 10_000;
    while (!seen.some((e) => e.type === "membership.deactivated") && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const event = seen.find((e) => e.type === "membership.deactivated");
    expect(event?.actorId).toMatch(/^scim:[0-9a-f-]{36}$/);
    sub.unsubscribe();
    // still listed by SCIM (inactive), gone from the members
    expect(
      (await client.ok("GET", `/Users?filter=${encodeURIComponent("active eq false")}`)).body.Resources?.map(
        (r) => r.id,
      ),
    ).toContain(person.userId);
    const members = await id.client(MembershipService, a.owner.token).listMembers({ page: { pageSize: 100 } });
    expect(members.members.map((m) => m.userId)).not.toContain(person.userId);
    // reactivation gives the membership back with its role
    await client.ok("PUT", `/Users/${person.userId}`, userBody(person.email, { active: true }));
    await id.tokenFor(person.email, person.password, a.tenantId);
  });

  it("the last owner cannot be deactivated through SCIM", async () => {
    const client = scimClient(id, (await id.client(ScimService, b.owner.token).rotateScimToken({})).secret);
    const answer = await client.call(
      "PATCH",
      `/Users/${b.owner.userId}`,
      patchOp({ op: "replace", path: "active", value: false }),
    );
    expect(answer.status).toBe(400);
    await id.tokenFor(b.owner.email, b.owner.password, b.tenantId);
  });

  it("groups mapped to roles set members' roles (highest wins) and fall back to the default when they leave", async () => {
    const owner = id.client(ScimService, a.owner.token);
    const client = scimClient(id, (await owner.rotateScimToken({})).secret);
    const userId = (await client.ok("POST", "/Users", userBody(uniqueEmail("roles")), 201)).body.id as string;
    await owner.updateScimSettings({
      groupRoles: [
        { group: "Admins", role: Role.ADMIN },
        { group: "viewers-ext", role: Role.VIEWER },
      ],
    });
    const roleOf = async () =>
      (await id.client(MembershipService, a.owner.token).listMembers({ page: { pageSize: 100 } })).members.find(
        (m) => m.userId === userId,
      )?.role;
    const viewers = (
      await client.ok(
        "POST",
        "/Groups",
        { displayName: "Readers", externalId: "viewers-ext", members: [{ value: userId }] },
        201,
      )
    ).body.id;
    expect(await roleOf()).toBe(Role.VIEWER);
    const admins = (await client.ok("POST", "/Groups", { displayName: "admins", members: [{ value: userId }] }, 201))
      .body.id;
    expect(await roleOf()).toBe(Role.ADMIN);
    await client.ok("PATCH", `/Groups/${admins}`, patchOp({ op: "remove", path: `members[value eq "${userId}"]` }));
    expect(await roleOf()).toBe(Role.VIEWER);
    await client.ok("DELETE", `/Groups/${viewers}`, undefined, 204);
    expect(await roleOf()).toBe(Role.MEMBER);
    // an admin cannot map a group to owner
    const admin = await id.addMember(a, Role.ADMIN);
    expect(
      await codeOf(
        id.client(ScimService, admin.token).updateScimSettings({ groupRoles: [{ group: "x", role: Role.OWNER }] }),
      ),
    ).toBe(Code.PermissionDenied);
  });
});
