import { randomUUID } from "node:crypto";
import { toJsonString } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { createLocalVerifier } from "@tessera/platform/auth";
import { ListApiKeysResponseSchema } from "@tessera/proto/tessera/identity/v1/api_keys_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ApiKeyService,
  codeOf,
  collectEvents,
  EDGE_ID,
  errorOf,
  type Identity,
  Role,
  type SeededTenant,
  startIdentity,
  TokenType,
  violatedFields,
} from "./support.ts";

describe("identity ApiKeyService", () => {
  let id: Identity;
  let a: SeededTenant;
  let b: SeededTenant;

  beforeAll(async () => {
    id = await startIdentity("keys");
    [a, b] = [await id.seedTenant(), await id.seedTenant()];
  }, 60_000);
  afterAll(async () => id?.stop());

  const exchange = async (key: string) =>
    (await id.auth()).exchangeToken({ subjectToken: key, subjectTokenType: TokenType.API_KEY, audience: "projects" });

  it("creates a key shown once with a visible prefix; it exchanges into a scoped internal token; revocation counts on the next call", async () => {
    const events = collectEvents(id.nats, `tessera.evt.${a.tenantId}.api_key.*`);
    const keys = id.client(ApiKeyService, a.owner.token);
    const created = await keys.createApiKey({ displayName: "CI", role: Role.MEMBER, scopes: ["project.read"] });
    expect(created.secret).toMatch(/^tsk_live_[0-9a-f]{12}_/);
    expect(created.secret.startsWith(`tsk_live_${created.apiKey?.prefix}_`)).toBe(true);
    const keyId = created.apiKey?.id ?? "";
    const listed = await keys.listApiKeys({});
    expect(toJsonString(ListApiKeysResponseSchema, listed)).not.toContain(created.secret.slice(-20));

    const exchanged = await exchange(created.secret);
    const verified = await createLocalVerifier({
      keys: id.built.deps.keys.getKey,
      issuer: id.built.deps.settings.issuer,
      audience: "projects",
    }).verify(exchanged.accessToken);
    expect(verified.principal).toMatchObject({
      subject: keyId,
      kind: "api_key",
      roles: ["member"],
      scopes: ["project.read"],
      actorChain: [EDGE_ID],
    });
    expect(verified.tenantId).toBe(a.tenantId);
    expect((await keys.getApiKey({ apiKeyId: keyId })).apiKey?.lastUsedTime).toBeDefined();

    await keys.revokeApiKey({ apiKeyId: keyId });
    expect(await codeOf(exchange(created.secret))).toBe(Code.Unauthenticated);
    expect((await keys.revokeApiKey({ apiKeyId: keyId })).apiKey?.revokeTime).toBeDefined();
    await events.waitFor(
      (s) => s.some((x) => x.endsWith("api_key.created")) && s.some((x) => x.endsWith("api_key.revoked")),
    );
    expect(events.seen.filter((x) => x.endsWith("api_key.revoked"))).toHaveLength(1);
    events.stop();
  });

  it("refuses forged, malformed and expired keys alike", async () => {
    const keys = id.client(ApiKeyService, a.owner.token);
    const created = await keys.createApiKey({
      displayName: "short-lived",
      role: Role.VIEWER,
      scopes: ["project.read"],
    });
    const forged = created.secret.slice(0, -4) + (created.secret.endsWith("AAAA") ? "BBBB" : "AAAA");
    for (const key of [forged, "tsk_live_nothing", "plainly wrong"]) {
      expect(await codeOf(exchange(key))).toBe(Code.Unauthenticated);
    }
    // expire the key as time would (the owner role, still bound by forced RLS)
    const pg = await import("pg");
    const owner = new pg.default.Client({ connectionString: id.db.ownerUrl });
    await owner.connect();
    try {
      await owner.query("begin");
      await owner.query("select set_config('app.tenant_id', $1, true)", [a.tenantId]);
      await owner.query("update api_keys set expires_at = now() - interval '1 second' where id = $1", [
        created.apiKey?.id,
      ]);
      await owner.query("commit");
    } finally {
      await owner.end();
    }
    expect(await codeOf(exchange(created.secret))).toBe(Code.Unauthenticated);
  });

  it("enforces the creator's role, an admin-only permission and field rules", async () => {
    const member = await id.addMember(a, Role.MEMBER);
    expect(
      await codeOf(
        id.client(ApiKeyService, member.token).createApiKey({ displayName: "x", role: Role.VIEWER, scopes: ["a.b"] }),
      ),
    ).toBe(Code.PermissionDenied);
    const admin = await id.addMember(a, Role.ADMIN);
    const asAdmin = id.client(ApiKeyService, admin.token);
    const bad = await errorOf(asAdmin.createApiKey({ displayName: "", role: Role.OWNER, scopes: ["Not A Scope"] }));
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(violatedFields(bad)).toEqual(expect.arrayContaining(["display_name", "role", "scopes"]));
    const past = await errorOf(
      asAdmin.createApiKey({
        displayName: "old",
        role: Role.VIEWER,
        scopes: ["project.read"],
        expireTime: timestampFromDate(new Date(Date.now() - 60_000)),
      }),
    );
    expect(past.code).toBe(Code.InvalidArgument);
    expect(violatedFields(past)).toEqual(["expire_time"]);
    expect(await codeOf(asAdmin.getApiKey({ apiKeyId: "x" }))).toBe(Code.InvalidArgument);
  });

  it("tenant B's admin cannot read, list or revoke tenant A's keys: NOT_FOUND like a nonexistent id", async () => {
    const ofA = await id.client(ApiKeyService, a.owner.token).createApiKey({
      displayName: "A's key",
      role: Role.VIEWER,
      scopes: ["project.read"],
    });
    const asB = id.client(ApiKeyService, b.owner.token);
    for (const apiKeyId of [ofA.apiKey?.id ?? "", randomUUID()]) {
      const read = await errorOf(asB.getApiKey({ apiKeyId }));
      const revoke = await errorOf(asB.revokeApiKey({ apiKeyId }));
      expect([read.code, revoke.code]).toEqual([Code.NotFound, Code.NotFound]);
      expect(read.rawMessage).toBe("API key not found");
    }
    expect((await asB.listApiKeys({})).apiKeys.map((k) => k.id)).not.toContain(ofA.apiKey?.id);
    // A's key still works
    expect((await exchange(ofA.secret)).accessToken).not.toBe("");
  });

  it("pages through keys newest first", async () => {
    const keys = id.client(ApiKeyService, b.owner.token);
    for (const name of ["k1", "k2", "k3"])
      await keys.createApiKey({ displayName: name, role: Role.VIEWER, scopes: ["a.b"] });
    const first = await keys.listApiKeys({ page: { pageSize: 2 } });
    const rest = await keys.listApiKeys({ page: { pageSize: 2, pageToken: first.page?.nextPageToken ?? "" } });
    expect([...first.apiKeys, ...rest.apiKeys].map((k) => k.displayName).slice(0, 3)).toEqual(["k3", "k2", "k1"]);
  });
});
