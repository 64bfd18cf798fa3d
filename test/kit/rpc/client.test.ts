import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { freePort } from "@tessera/dev/infra";
import { runWithContext } from "@tessera/platform/context";
import { createLogger } from "@tessera/platform/log";
import { backoffMs, closeServiceClient, createServiceClient } from "@tessera/platform/rpc-client";
import type { RpcServer } from "@tessera/platform/rpc-server";
import { EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { captureLogs } from "@tessera/test/harness";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { buildEchoServer } from "../../fixtures/echo-service/server.ts";

const logs = captureLogs("rpc-client");
const logger = createLogger({ service: "rpc-client-test", destination: logs.stream, level: "debug" });

/** Counts attempts and remembers what each carried, as the network would see it. */
function attemptRecorder() {
  const attempts: Array<{ method: string; timeout: string | null }> = [];
  const interceptor: Interceptor = (next) => (req) => {
    attempts.push({ method: req.method.name, timeout: req.header.get("grpc-timeout") });
    return next(req);
  };
  return { attempts, interceptor };
}

const fastRetry = { maxAttempts: 20, initialBackoffMs: 50, maxBackoffMs: 200 };
const toClose: object[] = [];
const toStop: RpcServer[] = [];
afterEach(async () => {
  for (const c of toClose.splice(0)) closeServiceClient(c);
  await Promise.all(toStop.splice(0).map((s) => s.shutdown("test over")));
});

describe("retries", () => {
  it("retries an idempotent method on UNAVAILABLE until the late server answers", async () => {
    const port = await freePort();
    const { attempts, interceptor } = attemptRecorder();
    const client = createServiceClient(EchoService, {
      baseUrl: `http://127.0.0.1:${port}`,
      retry: fastRetry,
      interceptors: [interceptor],
      logger,
    });
    toClose.push(client);
    const answer = client.echo({ message: "are you there" }, { timeoutMs: 10_000 });
    await vi.waitFor(() => expect(attempts.length).toBeGreaterThanOrEqual(2), { timeout: 5_000 });
    const server = buildEchoServer({ logger, port });
    toStop.push(server);
    await server.listen();
    expect((await answer).message).toBe("are you there");
    expect(attempts.every((a) => a.method === "Echo")).toBe(true);
  });

  it("does not retry a method that is not idempotent", async () => {
    const port = await freePort();
    const { attempts, interceptor } = attemptRecorder();
    const client = createServiceClient(EchoService, {
      baseUrl: `http://127.0.0.1:${port}`,
      retry: fastRetry,
      interceptors: [interceptor],
    });
    toClose.push(client);
    const err = ConnectError.from(await client.sleep({ delayMs: 1 }).catch((e) => e));
    expect(err.code).toBe(Code.Unavailable);
    expect(attempts).toHaveLength(1);
  });

  it("does not retry UNAVAILABLE answered by a handler of a non-idempotent method", async () => {
    const server = buildEchoServer({ logger });
    toStop.push(server);
    const { url } = await server.listen();
    const { attempts, interceptor } = attemptRecorder();
    const client = createServiceClient(EchoService, { baseUrl: url, retry: fastRetry, interceptors: [interceptor] });
    toClose.push(client);
    const err = ConnectError.from(await client.fail({ kind: "Unavailable", message: "try later" }).catch((e) => e));
    expect(err.code).toBe(Code.Unavailable);
    expect(attempts).toHaveLength(1);
  });

  it("stops retrying at the call's deadline, each attempt carrying only the time that is left", async () => {
    const port = await freePort();
    const { attempts, interceptor } = attemptRecorder();
    const client = createServiceClient(EchoService, {
      baseUrl: `http://127.0.0.1:${port}`,
      retry: { maxAttempts: 1_000, initialBackoffMs: 50, maxBackoffMs: 100 },
      interceptors: [interceptor],
    });
    toClose.push(client);
    const started = Date.now();
    const err = ConnectError.from(await client.echo({ message: "x" }, { timeoutMs: 800 }).catch((e) => e));
    expect(err.code).toBe(Code.Unavailable);
    expect(Date.now() - started).toBeLessThan(800 + 1_000);
    expect(attempts.length).toBeGreaterThan(1);
    expect(attempts.length).toBeLessThan(1_000);
    const timeouts = attempts.map((a) => Number.parseInt(a.timeout ?? "", 10));
    expect(timeouts[0]).toBeLessThanOrEqual(800);
    expect(timeouts.at(-1)).toBeLessThan(timeouts[0] ?? 0);
  });

  it("rejects nonsense options with a clear message", () => {
    expect(() => createServiceClient(EchoService, { baseUrl: "nats://127.0.0.1:4222" })).toThrow(
      /http:\/\/ or https:\/\//,
    );
    expect(() => createServiceClient(EchoService, { baseUrl: "not a url" })).toThrow(/not a URL/);
    expect(() =>
      createServiceClient(EchoService, { baseUrl: "http://127.0.0.1:1", retry: { ...fastRetry, maxAttempts: 0 } }),
    ).toThrow(/maxAttempts/);
    expect(() => createServiceClient(EchoService, { baseUrl: "http://127.0.0.1:1", defaultTimeoutMs: 0 })).toThrow(
      /deadline/,
    );
  });

  it("backs off exponentially with jitter, capped", () => {
    const policy = { maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 300 };
    expect(backoffMs(policy, 1, () => 0)).toBe(50);
    expect(backoffMs(policy, 1, () => 1)).toBe(100);
    expect(backoffMs(policy, 2, () => 1)).toBe(200);
    expect(backoffMs(policy, 6, () => 1)).toBe(300);
  });
});

describe("deadlines and propagation against a running server", () => {
  let server: RpcServer;
  let url: string;
  const seen: Array<{ authorization: string | null; requestId: string | null }> = [];
  const recordHeaders: Interceptor = (next) => (req) => {
    seen.push({ authorization: req.header.get("authorization"), requestId: req.header.get("x-request-id") });
    return next(req);
  };

  beforeAll(async () => {
    server = buildEchoServer({ logger, interceptors: [recordHeaders] });
    ({ url } = await server.listen());
  });
  afterAll(async () => {
    await server?.shutdown("test over");
  });

  it("applies the default deadline to a call that sets none, and the server sees it expire", async () => {
    const { attempts, interceptor } = attemptRecorder();
    const client = createServiceClient(EchoService, {
      baseUrl: url,
      defaultTimeoutMs: 300,
      interceptors: [interceptor],
    });
    toClose.push(client);
    const err = ConnectError.from(await client.sleep({ delayMs: 10_000 }).catch((e) => e));
    expect(err.code).toBe(Code.DeadlineExceeded);
    const zero = ConnectError.from(await client.sleep({ delayMs: 10_000 }, { timeoutMs: 0 }).catch((e) => e));
    expect(zero.code).toBe(Code.DeadlineExceeded);
    expect(attempts.map((a) => a.timeout)).toEqual([expect.stringMatching(/^\d+m$/), expect.stringMatching(/^\d+m$/)]);
    await vi.waitFor(() => expect(logs.lines().filter((l) => l.msg === "sleep ended early").length).toBe(2), {
      timeout: 3_000,
    });
  });

  it("carries the current context's token and request id to the next service", async () => {
    const client = createServiceClient(EchoService, { baseUrl: url });
    toClose.push(client);
    seen.length = 0;
    await runWithContext({ requestId: "req-prop-1", token: "internal.jwt.value", tenantId: "t-1" }, () =>
      client.echo({ message: "hop" }),
    );
    await client.echo({ message: "no context" });
    expect(seen).toEqual([
      { authorization: "Bearer internal.jwt.value", requestId: "req-prop-1" },
      { authorization: null, requestId: null },
    ]);
  });
});
