import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { createLogger } from "@tessera/platform/log";
import { closeServiceClient, createServiceClient } from "@tessera/platform/rpc-client";
import type { RpcServer } from "@tessera/platform/rpc-server";
import { Health, HealthCheckResponse_ServingStatus as Status } from "@tessera/proto/grpc/health/v1/health_pb";
import { EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { captureLogs } from "@tessera/test/harness";
import { afterEach, describe, expect, it, vi } from "vitest";
import { buildEchoServer, type EchoServerDeps } from "../../fixtures/echo-service/server.ts";

const logs = captureLogs("rpc-health");
const logger = createLogger({ service: "rpc-health-test", destination: logs.stream, level: "debug" });
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(deps: EchoServerDeps = {}) {
  const server = buildEchoServer({ logger, ...deps });
  const { url } = await server.listen();
  const health = createServiceClient(Health, { baseUrl: url });
  const echo = createServiceClient(EchoService, { baseUrl: url, retry: false });
  cleanups.push(
    () => server.shutdown("test over"),
    () => closeServiceClient(health),
    () => closeServiceClient(echo),
  );
  const status = async (service: string) => (await health.check({ service })).status;
  return { server, health, echo, status };
}

describe("readiness", () => {
  it("follows the readiness checks, while liveness stays SERVING", async () => {
    let databaseUp = true;
    const { status } = await start({
      readinessChecks: [
        async function database() {
          if (!databaseUp) throw new Error("connection refused");
        },
      ],
    });
    expect(await status("")).toBe(Status.SERVING);
    databaseUp = false;
    expect(await status("")).toBe(Status.NOT_SERVING);
    expect(await status("readiness")).toBe(Status.NOT_SERVING);
    expect(await status("tessera.testing.v1.EchoService")).toBe(Status.NOT_SERVING);
    expect(await status("liveness")).toBe(Status.SERVING);
    expect(logs.lines().find((l) => l.msg === "readiness checks fail: not ready")).toMatchObject({
      failed_checks: [{ name: "database", problem: "failed: connection refused" }],
    });
    databaseUp = true;
    expect(await status("")).toBe(Status.SERVING);
  });

  it("counts a check that never answers as not ready, once its deadline passes", async () => {
    const { status } = await start({ readinessChecks: [() => new Promise(() => {})] });
    expect(await status("readiness")).toBe(Status.NOT_SERVING);
  });

  it("lets a service switch one entry off, and answers NOT_FOUND for names it does not know", async () => {
    const { server, status, health } = await start();
    server.setServing("tessera.testing.v1.EchoService", false);
    expect(await status("tessera.testing.v1.EchoService")).toBe(Status.NOT_SERVING);
    expect(await status("")).toBe(Status.SERVING);
    const err = ConnectError.from(await health.check({ service: "nope.v1.Nope" }).catch((e) => e));
    expect(err.code).toBe(Code.NotFound);
    const { statuses } = await health.list({});
    expect(statuses["tessera.testing.v1.EchoService"]?.status).toBe(Status.NOT_SERVING);
    expect(statuses.liveness?.status).toBe(Status.SERVING);
  });
});

describe("Watch", () => {
  it("streams the current status, then every change; SERVICE_UNKNOWN until a name becomes known", async () => {
    const { server, health } = await start();
    const controller = new AbortController();
    cleanups.push(() => controller.abort());
    const seen: number[] = [];
    const unknown: number[] = [];
    void (async () => {
      for await (const m of health.watch({ service: "reports" }, { signal: controller.signal, timeoutMs: 30_000 })) {
        unknown.push(m.status);
      }
    })().catch(() => {});
    void (async () => {
      for await (const m of health.watch({ service: "" }, { signal: controller.signal, timeoutMs: 30_000 })) {
        seen.push(m.status);
      }
    })().catch(() => {});
    await vi.waitFor(() => expect(seen).toEqual([Status.SERVING]));
    await vi.waitFor(() => expect(unknown).toEqual([Status.SERVICE_UNKNOWN]));
    server.setServing("", false);
    server.setServing("reports", true);
    await vi.waitFor(() => expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING]));
    await vi.waitFor(() => expect(unknown).toEqual([Status.SERVICE_UNKNOWN, Status.NOT_SERVING]));
    server.setServing("", true);
    await vi.waitFor(() => expect(unknown).toEqual([Status.SERVICE_UNKNOWN, Status.NOT_SERVING, Status.SERVING]));
  });
});

describe("health and caller interceptors", () => {
  it("answers probes even when every other call is rejected by an interceptor", async () => {
    const denyAll: Interceptor = () => async () => {
      throw new ConnectError("no credentials", Code.Unauthenticated);
    };
    const { echo, status } = await start({ interceptors: [denyAll] });
    const err = ConnectError.from(await echo.echo({ message: "hi" }).catch((e) => e));
    expect(err.code).toBe(Code.Unauthenticated);
    expect(await status("")).toBe(Status.SERVING);
  });
});

describe("shutdown()", () => {
  it("runs onShutdown hooks in order after in-flight calls finish, and reports a failing hook", async () => {
    let server: RpcServer | undefined;
    const order: string[] = [];
    const started = await start({
      onShutdown: [
        async function drainEvents() {
          order.push(`drain:${server?.inFlight()}`);
        },
        async function closeDatabase() {
          order.push("close");
          throw new Error("pool already closed");
        },
      ],
    });
    server = started.server;
    const call = started.echo.sleep({ delayMs: 300 });
    await vi.waitFor(() => expect(server?.inFlight()).toBe(1));
    const first = server.shutdown("test");
    expect(server.shutdown("again")).toBe(first);
    expect(server.isShuttingDown()).toBe(true);
    expect((await call).sleptMs).toBeGreaterThan(250);
    expect(await first).toEqual({ forced: false, hookFailures: 1 });
    expect(order).toEqual(["drain:0", "close"]);
    expect(logs.lines().find((l) => l.msg === "shutdown hook failed")).toMatchObject({ hook: "closeDatabase" });
  });
});
