import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// tools/dev cannot depend on the harness package (it depends on us); the file is reached directly
import { startPlatform, type TestPlatform } from "../../../test/harness/index.ts";
import { cleanEnv, runTenants } from "./cli-process.ts";

const tenants = (args: string[], env: NodeJS.ProcessEnv) => runTenants(args, env, 120_000);

/** What `upgrade --json` prints. */
interface UpgradeJson {
  upgraded: number;
  upToDate: number;
  failed: number;
  notAttempted: number;
  targetVersion: string | null;
  canary: string | null;
  tenants: Array<{ slug: string; canary: boolean; result: string; error: string | null }>;
  error?: { code: string; message: string };
}

/**
 * `./tessera tenants upgrade`: its arguments, and its answers from real identity and tenancy
 * (without a compute driver: no silo tenants exist, upgrades are refused). The fleet upgrade of
 * silo tenants on a real control plane is test/e2e/tiers/silo-upgrade.test.ts.
 */
describe("./tessera tenants upgrade", () => {
  const home = mkdtempSync(join(tmpdir(), "tessera-tenants-upgrade-"));
  const slug = `upg-${randomBytes(4).toString("hex")}`;
  let platform: TestPlatform;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    platform = await startPlatform({
      services: ["tenancy"],
      clients: [{ id: "tessera-cli", roles: ["platform-admin"] }],
    });
    const credential = platform.clients["tessera-cli"];
    env = cleanEnv({
      TESSERA_HOME: home,
      TESSERA_TENANCY_URL: platform.services.tenancy?.url as string,
      TESSERA_IDENTITY_URL: platform.identity.url,
      TESSERA_CLIENT_ID: credential?.id as string,
      TESSERA_CLIENT_SECRET: credential?.secret as string,
    });
    const created = await tenants(["create", "--slug", slug, "--name", "Upgrade Co", "--plan", "team", "--wait"], env);
    expect(created.code, created.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await platform?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it("refuses contradictory or missing arguments with the usage line, exit 2, before calling anything", async () => {
    const cases: Array<[string[], string]> = [
      [[], "name a tenant, or --all for every active silo tenant"],
      [[slug, "--all"], "a tenant and --all exclude each other"],
      [["--canary", slug], "--canary goes with --all"],
      [["--all", "--force"], "--force goes with one tenant, not --all"],
      [[slug, "--timeout", "0"], "--timeout takes whole seconds"],
      [[slug, "extra"], "unexpected argument extra"],
    ];
    // no platform needed: an unreachable tenancy would turn any call into exit 1
    const offline = { ...env, TESSERA_TENANCY_URL: "http://127.0.0.1:1" };
    for (const [args, message] of cases) {
      const run = await tenants(["upgrade", ...args], offline);
      expect(run.code, `${args.join(" ")}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toContain(`tessera tenants upgrade: ${message}`);
      expect(run.stderr).toContain(
        "usage: ./tessera tenants upgrade (<id|slug> [--force] | --all [--canary <id|slug>])",
      );
      expect(run.stdout).toBe("");
    }
    const help = await tenants(["help"], offline);
    expect(help.stdout).toMatch(/upgrade\s+roll silo tenants to the platform's tenant chart version/);
  }, 60_000);

  it("--all with no active silo tenants has nothing to do (exit 0), as text and as JSON", async () => {
    const text = await tenants(["upgrade", "--all"], env);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain("no active silo tenants");
    const doc = await tenants(["upgrade", "--all", "--json"], env);
    expect(doc.code, doc.stderr).toBe(0);
    expect(JSON.parse(doc.stdout)).toEqual({
      upgraded: 0,
      upToDate: 0,
      failed: 0,
      notAttempted: 0,
      targetVersion: null,
      canary: null,
      tenants: [],
    });
  }, 60_000);

  it("a canary that is not an active silo tenant is a bad argument, named with its tier (exit 2)", async () => {
    const run = await tenants(["upgrade", "--all", "--canary", slug], env);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain(`--canary ${slug} is a pool tenant, active: only active silo tenants are upgraded`);
    const unknown = await tenants(["upgrade", "--all", "--canary", "no-such-tenant"], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('tenant "no-such-tenant" not found [NOT_FOUND]');
  }, 60_000);

  it("an upgrade tenancy refuses fails that tenant: the reason with its gRPC code on stderr and in the JSON, exit 1", async () => {
    const text = await tenants(["upgrade", slug], env);
    expect(text.code, text.stdout).toBe(1);
    expect(text.stderr).toMatch(
      new RegExp(`tessera tenants upgrade: the upgrade of ${slug} failed: .*compute driver.*\\[FAILED_PRECONDITION\\]`),
    );
    // the summary names the tenant, its result and the reason
    expect(text.stdout).toMatch(new RegExp(`${slug}\\s+-\\s+-\\s+failed\\s+not possible .*compute driver`));
    expect(text.stdout).toContain("upgrade: 0 upgraded, 1 failed");

    const doc = await tenants(["upgrade", slug, "--json"], env);
    expect(doc.code).toBe(1);
    const parsed = JSON.parse(doc.stdout) as UpgradeJson;
    expect(parsed).toMatchObject({ upgraded: 0, failed: 1, notAttempted: 0, canary: null });
    expect(parsed.tenants).toEqual([
      expect.objectContaining({
        slug,
        canary: false,
        result: "failed",
        error: expect.stringContaining("FAILED_PRECONDITION"),
      }),
    ]);
    expect(parsed.error?.code).toBe("UPGRADE_FAILED");
    expect(parsed.error?.message).toContain(`the upgrade of ${slug} failed`);
  }, 60_000);

  it("an unknown tenant is NOT_FOUND, exit 1", async () => {
    const run = await tenants(["upgrade", "no-such-tenant"], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('tenant "no-such-tenant" not found [NOT_FOUND]');
  }, 60_000);
});
