import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { startTestIssuer, type TestIssuer } from "@tessera/platform/auth/testing";
import { EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";
import {
  type RunningService,
  runMain,
  type ServiceDatabase,
  serviceDatabase,
  startMain,
  stopMain,
} from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { metricsTargets, parseMetricsArgs } from "../../tools/dev/src/metrics/command.ts";
import { repoRoot } from "../../tools/dev/src/paths.ts";

const fixture = join(repoRoot, "test/fixtures/kit-service/");
const TENANT = "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c";

const isFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ host: "127.0.0.1", port }, () => server.close(() => resolve(true)));
  });

/** A port p with p + 1000 free as well (up's convention for /metrics). */
async function portPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const p = 20_000 + Math.floor(Math.random() * 20_000);
    if ((await isFree(p)) && (await isFree(p + 1000))) return p;
  }
  throw new Error("no free port pair");
}

describe("./tessera metrics", () => {
  let db: ServiceDatabase;
  let issuer: TestIssuer;
  let service: RunningService;
  let home: string;
  let port: number;

  beforeAll(async () => {
    db = await serviceDatabase("metricscmd");
    const migrate = runMain(
      `${fixture}migrate.ts`,
      { MIGRATION_DATABASE_URL: db.ownerUrl, DATABASE_APP_ROLE: db.roles.app },
      "metrics-kit-migrate",
    );
    expect((await migrate.exited).code, migrate.stderr()).toBe(0);
    issuer = await startTestIssuer();
    port = await portPair();
    service = await startMain(
      `${fixture}main.ts`,
      {
        PORT: String(port),
        METRICS_PORT: String(port + 1000),
        AUTH_JWKS_URL: issuer.jwksUrl,
        AUTH_ISSUER: issuer.issuer,
        DATABASE_URL: db.appUrl,
        OUTBOX_RELAY_DATABASE_URL: db.ownerUrl,
        NATS_URL: inject("natsUrl"),
      },
      { logName: "metrics-kit-service" },
    );
    home = mkdtempSync(join(tmpdir(), "tessera-metrics-"));
    writeFileSync(
      join(home, "runtime.json"),
      JSON.stringify({
        pid: process.pid,
        startedAt: new Date().toISOString(),
        home,
        databaseUrl: "postgres://127.0.0.1/x",
        natsUrl: "nats://127.0.0.1:4222",
        components: [
          { name: "postgres", kind: "postgres", url: "postgres://127.0.0.1:5432", pid: 1, status: "running" },
          { name: "kit-service", kind: "service", url: service.url, pid: service.child.pid, status: "healthy" },
          { name: "gone", kind: "service", url: `http://127.0.0.1:${port + 1}`, pid: 1, status: "exited" },
        ],
      }),
    );
  }, 60_000);

  afterAll(async () => {
    if (service) await stopMain(service);
    if (home) rmSync(home, { recursive: true, force: true });
    await issuer?.stop();
    await db?.drop();
  });

  it("reads runtime.json, scrapes each process's /metrics and prints one row per endpoint", async () => {
    const echo = createClient(EchoService, createGrpcTransport({ baseUrl: service.url }));
    const token = await issuer.mint({ aud: "kit-service", tid: TENANT, sub: "user-1", kind: "user" });
    for (let i = 0; i < 3; i++) {
      await echo.echo({ message: `m${i}` }, { headers: { authorization: `Bearer ${token}` }, timeoutMs: 5_000 });
    }
    await echo.echo({ message: "no token" }, { timeoutMs: 5_000 }).catch(() => {});

    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(repoRoot, "tools/dev/src/cli.ts"), "metrics"],
      {
        env: { PATH: process.env.PATH ?? "", TESSERA_HOME: home },
        timeout: 20_000,
      },
    );
    const lines = stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^process\s+endpoint\s+requests\s+errors\s+faults\s+p50\s+p95\s+p99$/);
    const row = lines.find((l) => l.includes("tessera.testing.v1.EchoService/Echo"));
    expect(row?.split(/\s{2,}/).slice(0, 5)).toEqual([
      "kit-service",
      "tessera.testing.v1.EchoService/Echo",
      "4",
      "25.00 %",
      "0.00 %",
    ]);
    expect(row).toMatch(/\d+(\.\d+)? m?s\s+\d+(\.\d+)? m?s\s+\d+(\.\d+)? m?s$/);
    expect(stdout).toMatch(/unreachable: gone/);
    expect(stdout).not.toContain("tenant");
  });

  it("maps services and gateways to their metrics port, and refuses unknown arguments", () => {
    expect(
      metricsTargets({
        components: [
          { name: "audit", kind: "service", url: "http://127.0.0.1:50063", pid: 1, status: "healthy" },
          { name: "graphql", kind: "gateway", url: "http://127.0.0.1:4000", pid: 1, status: "healthy" },
          { name: "nats", kind: "nats", url: "nats://127.0.0.1:4222", pid: 1, status: "running" },
        ],
      }),
    ).toEqual([
      { name: "audit", url: "http://127.0.0.1:51063/metrics" },
      { name: "graphql", url: "http://127.0.0.1:5000/metrics" },
    ]);
    expect(parseMetricsArgs(["--watch", "--interval", "2"])).toEqual({ watch: true, intervalMs: 2_000 });
    expect(() => parseMetricsArgs(["--bogus"])).toThrow(/unknown argument/);
  });
});
