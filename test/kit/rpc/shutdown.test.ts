import { Code, ConnectError } from "@connectrpc/connect";
import { closeServiceClient, createServiceClient } from "@tessera/platform/rpc-client";
import { EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type EchoProcess, startEchoProcess } from "./support/echo-process.ts";
import { grpcJsClients } from "./support/grpc-js.ts";

let proc: EchoProcess | undefined;
const cleanups: Array<() => void> = [];

afterEach(() => {
  for (const c of cleanups.splice(0)) c();
  if (proc && proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill("SIGKILL");
  proc = undefined;
});

describe("graceful shutdown of a service process", () => {
  it("on SIGTERM finishes all 200 in-flight calls, reports NOT_SERVING while draining, and exits 0", async () => {
    const graceMs = 10_000;
    proc = await startEchoProcess({ SHUTDOWN_GRACE_MS: String(graceMs), LOG_LEVEL: "debug" });
    const running = proc;
    const client = createServiceClient(EchoService, { baseUrl: running.url, defaultTimeoutMs: 20_000, retry: false });
    const probe = grpcJsClients(`127.0.0.1:${running.port}`);
    cleanups.push(
      () => closeServiceClient(client),
      () => probe.close(),
    );
    const check = async (service: string) =>
      (await probe.unary<{ status: string }>(probe.health, "check", { service })).response.status;

    expect(await check("readiness")).toBe("SERVING");
    const watched: string[] = [];
    const watch = probe.serverStream<{ status: string }>(probe.health, "watch", { service: "readiness" }, 30_000);
    watch.on("data", (m) => watched.push(m.status));
    const watchEnded = new Promise<void>((resolve) => {
      watch.on("end", resolve);
      watch.on("error", () => resolve());
    });
    await vi.waitFor(() => expect(watched).toEqual(["SERVING"]), { timeout: 5_000 });

    let settled = 0;
    const calls = Array.from({ length: 200 }, () =>
      client.sleep({ delayMs: 2_000 }).finally(() => {
        settled++;
      }),
    );
    await vi.waitFor(() => expect(running.lines().filter((l) => l.msg === "sleep started").length).toBe(200), {
      timeout: 15_000,
      interval: 50,
    });

    const signalledAt = Date.now();
    running.child.kill("SIGTERM");
    await vi.waitFor(async () => expect(await check("readiness")).toBe("NOT_SERVING"), { timeout: 5_000 });
    expect(settled, "readiness must turn NOT_SERVING while calls still drain").toBeLessThan(200);
    expect(await check("")).toBe("NOT_SERVING");
    expect(await check("tessera.testing.v1.EchoService")).toBe("NOT_SERVING");
    expect(await check("liveness")).toBe("SERVING");

    const results = await Promise.allSettled(calls);
    const failures = results.filter((r) => r.status === "rejected");
    expect(failures.map((f) => String((f as PromiseRejectedResult).reason)).slice(0, 3)).toEqual([]);
    for (const r of results) if (r.status === "fulfilled") expect(r.value.sleptMs).toBeGreaterThan(1_900);

    const exit = await running.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - signalledAt).toBeLessThan(graceMs);
    await watchEnded;
    expect(watched).toEqual(["SERVING", "NOT_SERVING"]);
    const shutDown = running.lines().find((l) => l.msg === "shut down");
    expect(shutDown).toMatchObject({ forced: false, hook_failures: 0 });
  }, 60_000);

  it("forces the exit shortly after the grace period when a call outlasts it", async () => {
    const graceMs = 1_000;
    proc = await startEchoProcess({ SHUTDOWN_GRACE_MS: String(graceMs), LOG_LEVEL: "debug" });
    const running = proc;
    const client = createServiceClient(EchoService, { baseUrl: running.url, defaultTimeoutMs: 30_000, retry: false });
    cleanups.push(() => closeServiceClient(client));

    const call = client.sleep({ delayMs: 25_000 }).then(
      () => undefined,
      (err: unknown) => ConnectError.from(err),
    );
    await vi.waitFor(() => expect(running.lines().some((l) => l.msg === "sleep started")).toBe(true), {
      timeout: 10_000,
    });
    const signalledAt = Date.now();
    running.child.kill("SIGTERM");

    const exit = await running.exited;
    expect(exit.code).toBe(1);
    expect(exit.at - signalledAt).toBeGreaterThanOrEqual(graceMs);
    expect(exit.at - signalledAt).toBeLessThan(graceMs + 5_000);
    const err = await call;
    expect(err?.code).toBe(Code.Unavailable);
    expect(running.lines().find((l) => l.msg === "shut down")).toMatchObject({ forced: true });
    expect(running.lines().map((l) => l.msg)).toContain("sleep ended early");
  }, 30_000);
});
