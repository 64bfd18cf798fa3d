import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { freePort } from "@tessera/dev/infra";
import { authInterceptor, createTokenVerifier } from "@tessera/platform/auth";
import { startTestIssuer, type TestIssuer } from "@tessera/platform/auth/testing";
import { createLogger } from "@tessera/platform/log";
import { EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { captureLogs } from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EchoServer, HealthService, startEchoServer } from "./echo-server.ts";
import { hmacWithPublicKey, unsignedToken, withTamperedTenant } from "./forge.ts";

const AUDIENCE = "echo";
const TIMEOUT_MS = 5_000;

describe("authInterceptor on a real HTTP/2 Connect server", () => {
  const logs = captureLogs("auth-interceptor");
  const log = createLogger({ service: "auth-test", destination: logs.stream });
  /** Every token this suite creates, so the log scan can look for each. */
  const minted: string[] = [];
  let issuer: TestIssuer;
  let stranger: TestIssuer;
  let server: EchoServer;
  let transport: Transport;

  const track = async (token: Promise<string> | string): Promise<string> => {
    const t = await token;
    minted.push(t);
    return t;
  };
  const echo = (token?: string, scheme = "Bearer") =>
    createClient(EchoService, transport).echo(
      { message: "hi" },
      { timeoutMs: TIMEOUT_MS, headers: token === undefined ? {} : { authorization: `${scheme} ${token}` } },
    );
  const codeOf = (p: Promise<unknown>) =>
    p.then(
      () => "ok",
      (e: unknown) => ConnectError.from(e),
    );

  beforeAll(async () => {
    issuer = await startTestIssuer();
    stranger = await startTestIssuer();
    const verifier = createTokenVerifier({ jwksUrl: issuer.jwksUrl, issuer: issuer.issuer, audience: AUDIENCE });
    server = await startEchoServer([authInterceptor({ verifier, log })], log);
    transport = createGrpcTransport({ baseUrl: server.baseUrl });
  });
  afterAll(async () => {
    await server?.stop();
    await issuer?.stop();
    await stranger?.stop();
  });

  const rejected: Array<[string, () => Promise<string | undefined>, string?]> = [
    ["no token", async () => undefined],
    [
      "an expired token",
      () => track(issuer.mint({ aud: AUDIENCE, tid: "0c0c0c0c-0000-4000-8000-00000000000c" }, { expiresIn: -120 })),
    ],
    [
      "a token for another audience",
      () => track(issuer.mint({ aud: "billing", tid: "0c0c0c0c-0000-4000-8000-00000000000c" })),
    ],
    [
      "a token signed by an unknown key under the same kid",
      () =>
        track(
          stranger.mint(
            { aud: AUDIENCE, iss: issuer.issuer, tid: "0c0c0c0c-0000-4000-8000-00000000000c" },
            { kid: issuer.currentKid },
          ),
        ),
    ],
    [
      "a token signed by an unknown key with a new kid",
      () => track(stranger.mint({ aud: AUDIENCE, iss: issuer.issuer, tid: "0c0c0c0c-0000-4000-8000-00000000000c" })),
    ],
    ["an alg:none token", () => track(unsignedToken(issuer, AUDIENCE))],
    ["an HS256 token keyed with the public key", () => track(hmacWithPublicKey(issuer, AUDIENCE))],
    [
      "a token whose tenant was edited after signing",
      async () =>
        track(
          withTamperedTenant(
            await issuer.mint({ aud: AUDIENCE, tid: "0a0a0a0a-0000-4000-8000-00000000000a" }),
            "0b0b0b0b-0000-4000-8000-00000000000b",
          ),
        ),
    ],
    ["a malformed token", async () => "definitely.not.ajwt"],
    [
      "a valid token under another scheme",
      () => track(issuer.mint({ aud: AUDIENCE, tid: "0c0c0c0c-0000-4000-8000-00000000000c" })),
      "Basic",
    ],
  ];

  it.each(rejected)("rejects %s with UNAUTHENTICATED and a generic message", async (_name, make, scheme) => {
    const before = server.seen.length;
    const err = await codeOf(echo(await make(), scheme));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);
    expect((err as ConnectError).rawMessage).toBe("missing or invalid credentials");
    expect(server.seen.length).toBe(before);
  });

  it("runs the handler with the token's tenant, principal and token in context", async () => {
    const token = await track(
      issuer.mint({
        aud: AUDIENCE,
        sub: "user-7",
        tid: "0a0a0a0a-0000-4000-8000-00000000000a",
        roles: ["viewer"],
        act: { sub: "gateway-rest" },
      }),
    );
    const res = await echo(token);
    expect(res).toMatchObject({ message: "hi", tenantId: "0a0a0a0a-0000-4000-8000-00000000000a", subject: "user-7" });
    expect(server.seen.at(-1)).toEqual({
      method: "echo",
      tenantId: "0a0a0a0a-0000-4000-8000-00000000000a",
      subject: "user-7",
      kind: "user",
      actorChain: ["gateway-rest"],
      hasToken: true,
    });
    const line = logs
      .lines()
      .find((l) => l.msg === "echo handled" && l.tenant_id === "0a0a0a0a-0000-4000-8000-00000000000a");
    expect(line).toBeDefined();
  });

  it("keeps the context for every message of a server-streaming handler", async () => {
    const token = await track(
      issuer.mint({ aud: AUDIENCE, sub: "user-8", tid: "05050505-0000-4000-8000-000000000005" }),
    );
    const numbers: number[] = [];
    for await (const m of createClient(EchoService, transport).countTo(
      { count: 3 },
      { timeoutMs: TIMEOUT_MS, headers: { authorization: `Bearer ${token}` } },
    )) {
      numbers.push(m.number);
    }
    expect(numbers).toEqual([1, 2, 3]);
    const streamed = server.seen.filter((s) => s.method === "countTo");
    expect(streamed.map((s) => [s.tenantId, s.subject])).toEqual([
      ["05050505-0000-4000-8000-000000000005", "user-8"],
      ["05050505-0000-4000-8000-000000000005", "user-8"],
      ["05050505-0000-4000-8000-000000000005", "user-8"],
    ]);
  });

  it("lets gRPC health checks through without a token", async () => {
    const health = createClient(HealthService, transport);
    const res = await health.check({}, { timeoutMs: TIMEOUT_MS });
    expect(res.status).toBe(1);
  });

  it("answers UNAVAILABLE (retryable), not UNAUTHENTICATED, when the keys cannot be fetched", async () => {
    const verifier = createTokenVerifier({
      jwksUrl: `http://127.0.0.1:${await freePort()}/jwks`,
      issuer: issuer.issuer,
      audience: AUDIENCE,
      fetchTimeoutMs: 1_000,
    });
    const down = await startEchoServer([authInterceptor({ verifier, log })], log);
    try {
      const token = await track(issuer.mint({ aud: AUDIENCE, tid: "0c0c0c0c-0000-4000-8000-00000000000c" }));
      const err = await codeOf(
        createClient(EchoService, createGrpcTransport({ baseUrl: down.baseUrl })).echo(
          { message: "hi" },
          { timeoutMs: TIMEOUT_MS, headers: { authorization: `Bearer ${token}` } },
        ),
      );
      expect((err as ConnectError).code).toBe(Code.Unavailable);
      expect(down.seen).toEqual([]);
    } finally {
      await down.stop();
    }
  });

  it("never writes a token, or its signature, to the log", async () => {
    await echo(await track(issuer.mint({ aud: AUDIENCE, tid: "01010101-0000-4000-8000-000000000001" })));
    await codeOf(echo(await track(issuer.mint({ aud: "elsewhere", tid: "01010101-0000-4000-8000-000000000001" }))));
    const text = logs.text();
    expect(logs.lines().some((l) => l.msg === "call rejected: unauthenticated" && typeof l.reason === "string")).toBe(
      true,
    );
    expect(minted.length).toBeGreaterThan(1);
    for (const token of minted) {
      expect(text).not.toContain(token);
      const signature = token.split(".")[2] ?? "";
      if (signature.length > 0) expect(text).not.toContain(signature);
    }
  });
});
