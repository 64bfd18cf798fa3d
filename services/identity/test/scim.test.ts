import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { patchOp, type ScimClient, scimClient, scimTokenFor, userBody } from "./scim-support.ts";
import { type Identity, MembershipService, Role, type SeededTenant, startIdentity, uniqueEmail } from "./support.ts";

describe("identity SCIM 2.0: resources, filters, PATCH, ETags, errors", () => {
  let id: Identity;
  let a: SeededTenant;
  let b: SeededTenant;
  let scim: ScimClient;

  beforeAll(async () => {
    id = await startIdentity("scim");
    [a, b] = [await id.seedTenant(), await id.seedTenant()];
    scim = scimClient(id, (await scimTokenFor(id, a)).secret);
  }, 60_000);
  afterAll(async () => id?.stop());

  it("POST makes the person a member with the default role; GET, PUT and DELETE work; the global user stays", async () => {
    const email = uniqueEmail("scim");
    const created = await scim.ok("POST", "/Users", userBody(email, { externalId: "okta-1" }), 201);
    expect(created.headers.get("content-type")).toContain("application/scim+json");
    const userId = created.body.id as string;
    expect(created.headers.get("location")).toBe(`${scim.base}/Users/${userId}`);
    expect(created.headers.get("etag")).toBe((created.body.meta as { version: string }).version);
    expect(created.body).toMatchObject({ userName: email, active: true, externalId: "okta-1" });
    const members = await id.client(MembershipService, a.owner.token).listMembers({ page: { pageSize: 100 } });
    expect(members.members.find((m) => m.userId === userId)?.role).toBe(Role.MEMBER);

    const replaced = await scim.ok("PUT", `/Users/${userId}`, userBody(email, { displayName: "Countess" }));
    expect(replaced.body).toMatchObject({ displayName: "Countess", userName: email });
    expect(replaced.body.externalId).toBeUndefined();
    expect((await scim.ok("GET", `/Users/${userId}`)).body.displayName).toBe("Countess");
    expect((await scim.call("POST", "/Users", userBody(email))).body).toMatchObject({
      status: "409",
      scimType: "uniqueness",
    });

    await scim.ok("DELETE", `/Users/${userId}`, undefined, 204);
    expect((await scim.call("GET", `/Users/${userId}`)).status).toBe(404);
    const after = await id.client(MembershipService, a.owner.token).listMembers({ page: { pageSize: 100 } });
    expect(after.members.map((m) => m.userId)).not.toContain(userId);
    // the global user is still there: provisioning the same address again links the same user
    const again = await scim.ok("POST", "/Users", userBody(email), 201);
    expect(again.body.id).toBe(userId);
  });

  it("a user who belongs to another tenant joins this one and keeps that membership untouched", async () => {
    const linked = await scim.ok("POST", "/Users", userBody(b.owner.email), 201);
    expect(linked.body.id).toBe(b.owner.userId);
    // their name and address in tenant B are theirs: tenant A's directory may not change the userName
    const rename = await scim.call(
      "PATCH",
      `/Users/${b.owner.userId}`,
      patchOp({ op: "replace", path: "userName", value: uniqueEmail() }),
    );
    expect(rename.status).toBe(400);
    await scim.ok("DELETE", `/Users/${b.owner.userId}`, undefined, 204);
    const inB = await id.client(MembershipService, b.owner.token).listMembers({});
    expect(inB.members.find((m) => m.userId === b.owner.userId)?.role).toBe(Role.OWNER);
    await id.tokenFor(b.owner.email, b.owner.password, b.tenantId);
  });

  it("filters on the attributes IdPs use, and pages with startIndex/count and totalResults", async () => {
    const tag = Math.random().toString(36).slice(2, 8);
    const emails = Array.from({ length: 5 }, (_, i) => `f${i}-${tag}@filter.example`);
    const ids: string[] = [];
    for (const [i, e] of emails.entries()) {
      ids.push(
        (await scim.ok("POST", "/Users", userBody(e, { externalId: `ext-${tag}-${i}`, active: i !== 4 }), 201)).body
          .id as string,
      );
    }
    const q = async (filter: string, extra = "") =>
      (await scim.ok("GET", `/Users?filter=${encodeURIComponent(filter)}${extra}`)).body;
    expect((await q(`userName eq "${emails[1]?.toUpperCase()}"`)).Resources?.map((r) => r.id)).toEqual([ids[1]]);
    expect((await q(`externalId eq "ext-${tag}-2"`)).Resources?.map((r) => r.id)).toEqual([ids[2]]);
    expect((await q(`emails.value eq "${emails[3]}"`)).Resources?.map((r) => r.id)).toEqual([ids[3]]);
    expect((await q(`emails[type eq "work" and value eq "${emails[0]}"]`)).Resources?.map((r) => r.id)).toEqual([
      ids[0],
    ]);
    expect((await q(`userName co "${tag}"`)).totalResults).toBe(5);
    expect((await q(`userName sw "f2-${tag}"`)).totalResults).toBe(1);
    expect((await q(`userName co "${tag}" and active eq false`)).Resources?.map((r) => r.id)).toEqual([ids[4]]);
    expect((await q(`userName eq "${emails[0]}" or externalId eq "ext-${tag}-1"`)).totalResults).toBe(2);
    expect((await q(`userName co "${tag}" and externalId pr`)).totalResults).toBe(5);
    const lastModified = (await scim.ok("GET", `/Users/${ids[2]}`)).body.meta as { lastModified: string };
    expect((await q(`userName co "${tag}" and meta.lastModified gt "${lastModified.lastModified}"`)).totalResults).toBe(
      2,
    );
    expect((await q(`displayName eq "nobody-${tag}"`)).totalResults).toBe(0);

    const page1 = await q(`userName co "${tag}"`, "&startIndex=1&count=2");
    const page3 = await q(`userName co "${tag}"`, "&startIndex=5&count=2");
    expect(page1).toMatchObject({ totalResults: 5, startIndex: 1, itemsPerPage: 2 });
    expect(page3).toMatchObject({ totalResults: 5, startIndex: 5, itemsPerPage: 1 });
    expect(page3.Resources?.[0]?.id).toBe(ids[4]);
    expect((await q(`userName co "${tag}"`, "&startIndex=50")).totalResults).toBe(5);
    const slim = await q(`userName eq "${emails[0]}"`, "&attributes=userName");
    expect(Object.keys(slim.Resources?.[0] ?? {}).sort()).toEqual(["id", "meta", "schemas", "userName"]);
    const searched = await scim.ok("POST", "/Users/.search", {
      schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
      filter: `userName co "${tag}"`,
      count: 2,
      excludedAttributes: ["groups", "emails"],
    });
    expect(searched.body).toMatchObject({ totalResults: 5, itemsPerPage: 2 });
    expect(searched.body.Resources?.[0]?.emails).toBeUndefined();
  });

  it("PATCH in Okta's and Azure AD's shapes: active, names, emails, externalId; groups members add/remove", async () => {
    const email = uniqueEmail("patch");
    const userId = (await scim.ok("POST", "/Users", userBody(email), 201)).body.id as string;
    const path = `/Users/${userId}`;
    // Okta: replace without a path
    expect((await scim.ok("PATCH", path, patchOp({ op: "replace", value: { active: false } }))).body.active).toBe(
      false,
    );
    // Azure AD: capitalised ops and "True"/"False" strings
    expect((await scim.ok("PATCH", path, patchOp({ op: "Replace", path: "active", value: "True" }))).body.active).toBe(
      true,
    );
    const azure = await scim.ok(
      "PATCH",
      path,
      patchOp(
        { op: "Add", path: "externalId", value: "aad-77" },
        { op: "Replace", path: "name.givenName", value: "Grace" },
        { op: "Replace", path: 'emails[type eq "work"].value', value: "work@example.com" },
        { op: "Add", path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", value: "R&D" },
      ),
    );
    expect(azure.body).toMatchObject({ externalId: "aad-77", name: { givenName: "Grace", familyName: "Lovelace" } });
    expect(azure.body.emails).toEqual([{ value: "work@example.com", type: "work", primary: true }]);
    const removed = await scim.ok("PATCH", path, patchOp({ op: "remove", path: "externalId" }));
    expect(removed.body.externalId).toBeUndefined();

    const group = await scim.ok(
      "POST",
      "/Groups",
      { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: `g-${userId.slice(0, 8)}` },
      201,
    );
    const gpath = `/Groups/${group.body.id}`;
    // Azure AD: Add members with a list, Remove with a value filter
    const added = await scim.ok(
      "PATCH",
      gpath,
      patchOp({ op: "Add", path: "members", value: [{ value: userId }, { value: a.owner.userId }] }),
    );
    expect((added.body.members as Array<{ value: string }>).map((m) => m.value).sort()).toEqual(
      [userId, a.owner.userId].sort(),
    );
    expect(((await scim.ok("GET", path)).body.groups as Array<{ value: string }>).map((g) => g.value)).toEqual([
      group.body.id,
    ]);
    const azureRemove = await scim.ok(
      "PATCH",
      gpath,
      patchOp({ op: "Remove", path: `members[value eq "${a.owner.userId}"]` }),
    );
    expect((azureRemove.body.members as Array<{ value: string }>).map((m) => m.value)).toEqual([userId]);
    // Okta: remove with a value list, replace the displayName without a path
    const okta = await scim.ok(
      "PATCH",
      gpath,
      patchOp(
        { op: "remove", path: "members", value: [{ value: userId }] },
        { op: "replace", value: { displayName: "Okta Renamed" } },
      ),
    );
    expect(okta.body.members).toBeUndefined();
    expect(okta.body.displayName).toBe("Okta Renamed");
    expect(
      (await scim.call("PATCH", gpath, patchOp({ op: "add", path: "members", value: [{ value: b.owner.userId }] })))
        .body,
    ).toMatchObject({ status: "400", scimType: "invalidValue" });
    // read-only and unknown paths
    expect(
      (await scim.call("PATCH", path, patchOp({ op: "add", path: "groups", value: [{ value: group.body.id }] }))).body,
    ).toMatchObject({ status: "400", scimType: "mutability" });
    expect(
      (await scim.call("PATCH", path, patchOp({ op: "replace", path: "shoeSize", value: 42 }))).body,
    ).toMatchObject({ status: "400", scimType: "invalidPath" });
    expect((await scim.call("PATCH", path, patchOp({ op: "remove" }))).body).toMatchObject({
      status: "400",
      scimType: "noTarget",
    });
  });

  it("ETags: If-Match with an old version is 412, the current one passes; If-None-Match gives 304", async () => {
    const created = await scim.ok("POST", "/Users", userBody(uniqueEmail("etag")), 201);
    const path = `/Users/${created.body.id}`;
    const v1 = created.headers.get("etag") ?? "";
    expect(v1).toMatch(/^W\/".+"$/);
    const changed = await scim.ok("PATCH", path, patchOp({ op: "replace", path: "displayName", value: "v2" }), 200, {
      "if-match": v1,
    });
    const v2 = changed.headers.get("etag") ?? "";
    expect(v2).not.toBe(v1);
    const stale = await scim.call("PUT", path, userBody(created.body.userName as string), { "if-match": v1 });
    expect(stale.status).toBe(412);
    expect((await scim.call("DELETE", path, undefined, { "if-match": v1 })).status).toBe(412);
    expect((await scim.call("GET", path, undefined, { "if-none-match": v2 })).status).toBe(304);
    await scim.ok("DELETE", path, undefined, 204, { "if-match": v2 });
  });

  it("bad input is a SCIM error with a scimType, never a 500", async () => {
    const expectError = async (
      answer: Promise<{ status: number; body: Record<string, unknown> }>,
      status: number,
      scimType?: string,
    ) => {
      const { status: got, body } = await answer;
      expect(got).toBe(status);
      expect(body.schemas).toEqual(["urn:ietf:params:scim:api:messages:2.0:Error"]);
      expect(body.status).toBe(String(status));
      if (scimType) expect(body.scimType).toBe(scimType);
    };
    await expectError(scim.call("GET", `/Users?filter=${encodeURIComponent("userName eq")}`), 400, "invalidFilter");
    await expectError(scim.call("GET", `/Users?filter=${encodeURIComponent('nickName eq "x"')}`), 400, "invalidFilter");
    await expectError(scim.call("GET", `/Users?filter=${encodeURIComponent('active gt "x"')}`), 400, "invalidFilter");
    await expectError(
      scim.call("GET", `/Users?filter=${encodeURIComponent('userName eq "a\u0000"')}`),
      400,
      "invalidFilter",
    );
    await expectError(scim.call("GET", "/Users?count=abc"), 400, "invalidValue");
    await expectError(scim.call("POST", "/Users", "{not json"), 400, "invalidSyntax");
    await expectError(
      scim.call("POST", "/Users", JSON.stringify(userBody(uniqueEmail())), { "content-type": "text/plain" }),
      415,
      "invalidSyntax",
    );
    await expectError(scim.call("POST", "/Users", JSON.stringify({ userName: "x".repeat(1_100_000) })), 413);
    await expectError(
      scim.call("POST", "/Users", userBody(uniqueEmail(), { displayName: "nul\u0000byte" })),
      400,
      "invalidValue",
    );
    await expectError(
      scim.call("POST", "/Users", userBody(uniqueEmail(), { displayName: "bell\u0007" })),
      400,
      "invalidValue",
    );
    const badUtf8 = Buffer.concat([
      Buffer.from('{"userName":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('@x.example"}'),
    ]);
    await expectError(scim.call("POST", "/Users", new Uint8Array(badUtf8)), 400, "invalidSyntax");
    await expectError(scim.call("POST", "/Users", { userName: "not-an-email" }), 400, "invalidValue");
    await expectError(scim.call("POST", "/Users", { userName: 42 }), 400, "invalidValue");
    await expectError(scim.call("POST", "/Users", userBody(uniqueEmail(), { active: "maybe" })), 400, "invalidValue");
    await expectError(scim.call("POST", "/Users", ["a"]), 400, "invalidSyntax");
    await expectError(scim.call("PATCH", `/Users/${a.owner.userId}`, { Operations: [] }), 400, "invalidSyntax");
    await expectError(scim.call("GET", "/Users/not-a-uuid"), 404);
    await expectError(scim.call("GET", "/Nope"), 404);
    await expectError(scim.call("POST", "/Bulk", {}), 501);
    // application/json is accepted as well
    await scim.ok("POST", "/Users", JSON.stringify(userBody(uniqueEmail("json"))), 201, {
      "content-type": "application/json; charset=utf-8",
    });
  });

  it("serves ServiceProviderConfig, ResourceTypes and Schemas", async () => {
    const spc = (await scim.ok("GET", "/ServiceProviderConfig")).body;
    expect(spc).toMatchObject({
      patch: { supported: true },
      filter: { supported: true },
      etag: { supported: true },
      bulk: { supported: false },
    });
    const types = (await scim.ok("GET", "/ResourceTypes")).body;
    expect(types.Resources?.map((r) => r.endpoint)).toEqual(["/Users", "/Groups"]);
    const schemas = (await scim.ok("GET", "/Schemas")).body;
    expect(schemas.totalResults).toBe(2);
    await scim.ok("GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User");
    await scim.ok("GET", "/ResourceTypes/Group");
  });
});
