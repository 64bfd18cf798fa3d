import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../src/infra/index.ts";
import type { RuntimeInfo } from "../src/up/runtime.ts";
import { cleanEnv, fixture, fixtureWorkspace, startCli } from "./cli-process.ts";

const UP_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 60_000;
const cleanup: string[] = [];
afterAll(() => {
  for (const dir of cleanup) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanup.push(dir);
  return dir;
}

/** Whether something accepts TCP connections on 127.0.0.1:port right now. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.setTimeout(2_000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, query_timeout: 10_000 });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** A new empty database on the test run's PostgreSQL (tools/dev cannot depend on the harness package: it depends on us). */
async function freshDatabase(): Promise<{ adminUrl: string; drop: () => Promise<unknown> }> {
  const name = `up_${randomBytes(6).toString("hex")}`;
  await query(inject("pgAdminUrl"), `create database "${name}"`);
  const url = new URL(inject("pgAdminUrl"));
  url.pathname = `/${name}`;
  return {
    adminUrl: url.toString(),
    drop: () => query(inject("pgAdminUrl"), `drop database if exists "${name}" with (force)`),
  };
}

/** A pid that certainly belonged to a process that has ended. */
function deadPid(): number {
  const done = spawnSync(process.execPath, ["-e", "process.pid"]);
  return done.pid ?? 999_999;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("tessera up (embedded PostgreSQL and NATS)", () => {
  it(
    "prints the table, refuses a second run, stops on SIGINT and keeps data across restarts",
    async () => {
      const home = tempDir("tessera-home-");
      const [pgPort, natsPort] = [await freePort(), await freePort()];
      const env = cleanEnv({
        TESSERA_HOME: home,
        TESSERA_WORKSPACE: tempDir("tessera-empty-ws-"),
        TESSERA_PG_PORT: String(pgPort),
        TESSERA_NATS_PORT: String(natsPort),
      });

      const first = startCli(["up"], env);
      await first.waitFor("Tessera is up", UP_TIMEOUT_MS);
      expect(first.output()).toMatch(new RegExp(`postgres\\s+postgres\\s+postgres://\\S+@127\\.0\\.0\\.1:${pgPort}/`));
      expect(first.output()).toMatch(
        new RegExp(`nats\\s+nats\\s+nats://127\\.0\\.0\\.1:${natsPort}\\s+\\d+\\s+running`),
      );
      expect(first.output()).toContain("No services are defined yet");
      const runtime = JSON.parse(readFileSync(join(home, "runtime.json"), "utf8")) as RuntimeInfo;
      expect(runtime.pid).toBe(first.child.pid);
      expect(runtime.components.map((c) => [c.name, c.status])).toEqual([
        ["postgres", "running"],
        ["nats", "running"],
      ]);
      await query(runtime.databaseUrl, "create table kept (note text); insert into kept values ('from run 1')");

      const second = startCli(["up"], env);
      expect(await second.exited(30_000)).toBe(1);
      expect(second.output()).toContain(`Tessera is already running (pid ${first.child.pid}) — see`);
      expect(second.output()).toContain("runtime.json");

      first.child.kill("SIGINT");
      expect(await first.exited(STOP_TIMEOUT_MS)).toBe(0);
      expect(first.output()).toContain("Tessera stopped.");
      expect(await accepts(pgPort)).toBe(false);
      expect(await accepts(natsPort)).toBe(false);
      expect(existsSync(join(home, "up.lock"))).toBe(false);
      expect(existsSync(join(home, "runtime.json"))).toBe(false);

      // As if an earlier `up` had been killed without cleaning up: its lock must be taken over.
      writeFileSync(join(home, "up.lock"), JSON.stringify({ pid: deadPid(), startedAt: new Date().toISOString() }));
      const restarted = startCli(["up"], env);
      await restarted.waitFor("Tessera is up", UP_TIMEOUT_MS);
      expect(await query<{ note: string }>(runtime.databaseUrl, "select note from kept")).toEqual([
        { note: "from run 1" },
      ]);
      restarted.child.kill("SIGTERM");
      expect(await restarted.exited(STOP_TIMEOUT_MS)).toBe(0);
      expect(await accepts(pgPort)).toBe(false);
    },
    4 * UP_TIMEOUT_MS,
  );
});

describe("tessera up --check with deployables (adopting the test run's PostgreSQL and NATS)", () => {
  it(
    "migrates, starts services then gateways with their env, waits for health, prints the table and stops them",
    async () => {
      const db = await freshDatabase();
      const [servicePort, gatewayPort] = [await freePort(), await freePort()];
      const workspace = fixtureWorkspace([
        {
          dir: "services",
          name: "echo",
          tessera: {
            kind: "service",
            main: fixture("echo-service.ts"),
            migrate: fixture("echo-migrate.ts"),
            port: servicePort,
            env: { ECHO_GREETING: "hello" },
          },
        },
        {
          dir: "gateway",
          name: "edge",
          tessera: { kind: "gateway", main: fixture("edge-gateway.ts"), port: gatewayPort },
        },
      ]);
      cleanup.push(workspace);
      const home = tempDir("tessera-home-");
      const run = startCli(
        ["up", "--check"],
        cleanEnv({
          TESSERA_HOME: home,
          TESSERA_WORKSPACE: workspace,
          DATABASE_URL: db.adminUrl,
          NATS_URL: inject("natsUrl"),
        }),
      );
      try {
        expect(await run.exited(UP_TIMEOUT_MS)).toBe(0);
        const out = run.output();
        expect(out).toMatch(/echo:migrate\s+\| migrated/);
        expect(out).toMatch(/echo\s+\| echo sees 1 migrated rows, greeting=hello/);
        expect(out).toMatch(/postgres\s+postgres\s+postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/\S+\s+-\s+external/);
        expect(out).toMatch(/nats\s+nats\s+nats:\/\/127\.0\.0\.1:\d+\s+-\s+external/);
        const rows = [...out.matchAll(/^(echo|edge)\s+(service|gateway)\s+(\S+)\s+(\d+)\s+(\S+)$/gm)];
        expect(rows.map((m) => [m[1], m[2], m[3], m[5]])).toEqual([
          ["echo", "service", `http://127.0.0.1:${servicePort}`, "healthy"],
          ["edge", "gateway", `http://127.0.0.1:${gatewayPort}`, "healthy"],
        ]);
        expect(out).toMatch(/echo\s+\| stopping on SIGTERM/);
        for (const m of rows) expect(alive(Number(m[4]))).toBe(false);
        expect(await accepts(servicePort)).toBe(false);
      } finally {
        await db.drop();
      }
    },
    UP_TIMEOUT_MS + 30_000,
  );

  it(
    "reports a service that exits at start-up and fails the check",
    async () => {
      const port = await freePort();
      const workspace = fixtureWorkspace([
        { dir: "services", name: "broken", tessera: { kind: "service", main: fixture("crashing-service.ts"), port } },
      ]);
      cleanup.push(workspace);
      const run = startCli(
        ["up", "--check"],
        cleanEnv({
          TESSERA_HOME: tempDir("tessera-home-"),
          TESSERA_WORKSPACE: workspace,
          DATABASE_URL: inject("pgAdminUrl"),
          NATS_URL: inject("natsUrl"),
        }),
      );
      expect(await run.exited(UP_TIMEOUT_MS)).toBe(1);
      expect(run.output()).toMatch(/broken\s+\| crashing-service: missing configuration/);
      expect(run.output()).toMatch(/broken\s+service\s+\S+\s+\d+\s+exited: exited with code 3/);
      expect(run.output()).toContain("Check failed");
    },
    UP_TIMEOUT_MS + 30_000,
  );

  it("names every problem of a misconfigured environment before starting anything", async () => {
    const run = startCli(
      ["up"],
      cleanEnv({
        TESSERA_HOME: tempDir("tessera-home-"),
        TESSERA_PG_PORT: "not-a-port",
        NATS_URL: "http://127.0.0.1:4222",
        TESSERA_INFRA: "docker",
      }),
    );
    expect(await run.exited(30_000)).toBe(1);
    const out = run.output();
    expect(out).toContain("TESSERA_PG_PORT must be an integer from 1 to 65535");
    expect(out).toContain("NATS_URL must start with nats:// or tls://");
    expect(out).toContain("TESSERA_INFRA must be embedded or testcontainers");
  });
});
