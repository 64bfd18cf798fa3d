import { spawn } from "node:child_process";
import { join } from "node:path";
import pg from "pg";
import { describe, expect, inject, it } from "vitest";

const benchDir = new URL("../../bench/", import.meta.url).pathname;

/**
 * Runs `node bench/<file> <args>` on the run's PostgreSQL and NATS (DATABASE_URL / NATS_URL, so it
 * starts neither) and resolves to its exit code and output.
 */
function runBench(file: string, args: readonly string[], timeoutMs: number) {
  const child = spawn(process.execPath, [join(benchDir, file), ...args], {
    env: {
      PATH: process.env.PATH ?? "",
      DATABASE_URL: inject("pgAdminUrl"),
      NATS_URL: inject("natsUrl"),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-20_000);
  });
  // the bench has its own backstop; this one only keeps a hung child from outliving the test
  const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

// Benchmarks run on demand; their smoke modes run here, with tiny counts, so they cannot rot.
describe("benchmarks, smoke mode", () => {
  it("bench/tiers.ts --smoke: moves a tenant, measures both reads and two pool-set levels, prints its tables", async () => {
    const { code, stdout, stderr } = await runBench("tiers.ts", ["--smoke"], 170_000);
    expect(code, `${stderr}\n${stdout}`).toBe(0);
    expect(stdout).toContain("SMOKE RUN");
    expect(stdout).toMatch(/^pool tenant GetTask \(shared db, RLS\) .* 0 +1\.00x +1\.00x$/m);
    expect(stdout).toMatch(/^bridge tenant GetTask \(dedicated db\) .* 0 +\d+\.\d+x +\d+\.\d+x$/m);
    expect(stdout).toMatch(/^bridge vs pool: calls\/s \d/m);
    // both levels in both tables of (b)
    expect(stdout.match(/^[13] {10,}\d/gm)?.length).toBe(4);
    // on a shared server the bench leaves nothing behind: its databases, the tenants' ones, its roles
    const admin = new pg.Client({ connectionString: inject("pgAdminUrl") });
    await admin.connect();
    try {
      const left = await admin.query(
        "select datname as name from pg_database where datname like 'bench\\_%' union all select rolname from pg_roles where rolname like 'bench\\_%'",
      );
      expect(left.rows).toEqual([]);
    } finally {
      await admin.end();
    }
  }, 180_000);

  it("bench/login-mfa.ts --smoke: signs in with and without TOTP, with a passkey as second factor and alone, and prints the ratios", async () => {
    const { code, stdout, stderr } = await runBench("login-mfa.ts", ["--smoke"], 120_000);
    expect(code, `${stderr}\n${stdout}`).toBe(0);
    expect(stdout).toContain("SMOKE RUN");
    expect(stdout).toMatch(/^password only \(Login\) .* 1\.00x$/m);
    expect(stdout).toMatch(/^password \+ TOTP \(Login, VerifyMfa\) .* \d+\.\d+x$/m);
    expect(stdout).toMatch(/^password \+ passkey \(Login, VerifyMfa\) .* \d+\.\d+x$/m);
    expect(stdout).toMatch(/^passkey only \(StartPasskeyLogin, FinishPasskeyLogin\) .* \d+\.\d+x$/m);
    expect(stdout).toContain("stand-in software authenticator");
  }, 130_000);

  it("bench/scim-list.ts --smoke: lists a tenant's users over SCIM (pages, filters) and prints p50/p95", async () => {
    const { code, stdout, stderr } = await runBench("scim-list.ts", ["--smoke"], 120_000);
    expect(code, `${stderr}\n${stdout}`).toBe(0);
    expect(stdout).toContain("SMOKE RUN");
    expect(stdout).toMatch(/^page of 100 in the middle +\d+ +\d+ +\d+\.\d +\d+\.\d$/m);
    expect(stdout).toMatch(/^userName eq \(IdP lookup\) +\d+ +\d+ +\d+\.\d +\d+\.\d$/m);
  }, 130_000);
});
