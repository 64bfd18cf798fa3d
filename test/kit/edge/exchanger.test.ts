import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createServiceTokenSource, type ServiceTokenSource } from "@tessera/platform/auth";
import {
  createTokenExchanger,
  credentialFromHeaders,
  exchangeInterceptor,
  runWithCredential,
  type TokenExchanger,
} from "@tessera/platform/edge";
import { Unauthenticated } from "@tessera/platform/errors";
import { ApiKeyService } from "@tessera/proto/tessera/identity/v1/api_keys_pb";
import { UserService } from "@tessera/proto/tessera/identity/v1/users_pb";
import { TenantService } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { startPlatform, type TenantSeed, type TestPlatform } from "@tessera/test/harness";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

describe("edge token exchange against the real identity and tenancy", () => {
  let platform: TestPlatform;
  let tokens: ServiceTokenSource;
  let exchanger: TokenExchanger;
  let nc: NatsConnection;
  let a: TenantSeed;

  beforeAll(async () => {
    platform = await startPlatform({ services: ["tenancy"] });
    nc = await connect({ servers: platform.natsUrl, timeout: 5_000 });
    tokens = createServiceTokenSource({
      identityUrl: platform.identity.url,
      clientId: "edge",
      clientSecret: platform.clients.edge?.secret as string,
    });
    exchanger = createTokenExchanger({ identityUrl: platform.identity.url, serviceTokens: tokens, nats: nc });
    a = await platform.seed.tenant();
  }, 120_000);

  afterAll(async () => {
    await exchanger?.close();
    tokens?.close();
    await nc?.close();
    await platform?.stop();
  });

  it("reads credentials from headers and refuses malformed ones instead of ignoring them", () => {
    expect(credentialFromHeaders("Bearer abc.def.ghi", undefined)).toEqual({
      kind: "access_token",
      token: "abc.def.ghi",
    });
    expect(credentialFromHeaders(undefined, "tsk_live_abcdefgh_ijklmnop")).toEqual({
      kind: "api_key",
      key: "tsk_live_abcdefgh_ijklmnop",
    });
    expect(credentialFromHeaders("Bearer tsk_live_abcdefgh_ijklmnop", undefined)?.kind).toBe("api_key");
    expect(credentialFromHeaders(undefined, undefined)).toBeUndefined();
    expect(() => credentialFromHeaders("Basic dXNlcjpwYXNz", undefined)).toThrow(Unauthenticated);
    expect(() => credentialFromHeaders(undefined, "not-a-key")).toThrow(Unauthenticated);
  });

  it("exchanges a user's access token for an internal token of the target service, with the edge as actor", async () => {
    const member = await a.user("member");
    const credential = { kind: "access_token", token: await member.accessToken() } as const;
    const internal = await exchanger.internalToken(credential, "tenancy");
    const claims = decodeJwt(internal);
    expect(claims).toMatchObject({ aud: "tenancy", tid: a.id, sub: member.userId, kind: "user" });
    expect(JSON.stringify(claims.act)).toContain("edge");
    // reused for the same session and audience, not exchanged again
    const before = exchanger.stats().exchanges;
    expect(await exchanger.internalToken(credential, "tenancy")).toBe(internal);
    expect(exchanger.stats().exchanges).toBe(before);
  });

  it("sends the exchanged token on calls made inside the request's credential, and refuses calls outside one", async () => {
    const viewer = await a.user("viewer");
    const users = createClient(
      UserService,
      createGrpcTransport({
        baseUrl: platform.identity.url,
        interceptors: [exchangeInterceptor(exchanger, "identity")],
      }),
    );
    const credential = { kind: "access_token", token: await viewer.accessToken() } as const;
    const me = await runWithCredential(credential, () => users.getViewer({}, { timeoutMs: 5_000 }));
    expect(me.user?.id).toBe(viewer.userId);
    const outside = await users.getViewer({}, { timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(ConnectError.from(outside).code).toBe(Code.Unauthenticated);
  });

  it("exchanges an API key on every call, so a revoked key fails on its next call", async () => {
    const key = await a.apiKey("viewer", ["tenant.read"]);
    const credential = { kind: "api_key", key: key.key } as const;
    const t1 = decodeJwt(await exchanger.internalToken(credential, "tenancy"));
    expect(t1).toMatchObject({ tid: a.id, kind: "api_key", sub: key.id });
    const owner = await a.user("owner");
    const keys = createClient(ApiKeyService, createGrpcTransport({ baseUrl: platform.identity.url }));
    await keys.revokeApiKey(
      { apiKeyId: key.id },
      { headers: { authorization: `Bearer ${await owner.internalToken("identity")}` }, timeoutMs: 5_000 },
    );
    const err = await exchanger.internalToken(credential, "tenancy").catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.Unauthenticated);
  });

  it("evicts a tenant's reused tokens when the tenant is suspended, and then refuses the exchange", async () => {
    const b = await platform.seed.tenant();
    const member = await b.user("member");
    const credential = { kind: "access_token", token: await member.accessToken() } as const;
    await exchanger.internalToken(credential, "tenancy");
    const evictedBefore = exchanger.stats().evicted;
    const operator = createServiceTokenSource({
      identityUrl: platform.identity.url,
      clientId: "operator",
      clientSecret: platform.clients.operator?.secret as string,
    });
    try {
      const tenancy = createClient(
        TenantService,
        createGrpcTransport({ baseUrl: platform.services.tenancy?.url as string }),
      );
      await tenancy.suspendTenant(
        { tenantId: b.id, reason: "unpaid invoices" },
        { headers: { authorization: `Bearer ${await operator.getToken("tenancy")}` }, timeoutMs: 5_000 },
      );
    } finally {
      operator.close();
    }
    // until the suspension reaches identity: the exchange then fails with PERMISSION_DENIED (a
    // transient failure of a loaded machine, e.g. a deadline, is retried, and shown if it persists)
    let refused: ConnectError | undefined;
    let last: ConnectError | undefined;
    for (let i = 0; i < 100 && !refused; i++) {
      last = await exchanger.internalToken(credential, "tenancy").then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      if (last?.code === Code.PermissionDenied) refused = last;
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(exchanger.stats().evicted).toBeGreaterThan(evictedBefore);
    expect(refused, `last answer: ${last?.message ?? "a token"}`).toBeDefined();
  });
});
