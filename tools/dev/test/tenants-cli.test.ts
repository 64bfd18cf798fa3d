import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// tools/dev cannot depend on the harness package (it depends on us); the file is reached directly
import { startPlatform, type TestPlatform } from "../../../test/harness/index.ts";
import { cleanEnv, runTenants, type TenantsRun } from "./cli-process.ts";

type Run = TenantsRun;

const tenants = (args: string[], env: NodeJS.ProcessEnv) => runTenants(args, env);

/** The JSON document a successful `--json` run printed. */
function json<T>(run: Run): T {
  expect(run.code, `exit code; stderr:\n${run.stderr}\nstdout:\n${run.stdout}`).toBe(0);
  return JSON.parse(run.stdout) as T;
}

interface TenantJson {
  id: string;
  slug: string;
  displayName: string;
  tier: string;
  plan: string;
  status: string;
  region: string;
  verifiedDomains: string[];
  placement: { database: string; namespace: string } | null;
}

const slug = () => `cli-${randomBytes(4).toString("hex")}`;

/**
 * The operator CLI against real identity and tenancy processes, as an operator in a cluster runs
 * it: URLs and a platform-admin service credential (role platform-admin only) from the environment.
 */
describe("./tessera tenants", () => {
  let platform: TestPlatform;
  let env: NodeJS.ProcessEnv;
  const home = mkdtempSync(join(tmpdir(), "tessera-tenants-cli-"));

  beforeAll(async () => {
    platform = await startPlatform({
      services: ["tenancy"],
      clients: [{ id: "tessera-cli", roles: ["platform-admin"] }],
    });
    const credential = platform.clients["tessera-cli"];
    env = cleanEnv({
      // an empty home: nothing local to fall back on
      TESSERA_HOME: home,
      TESSERA_TENANCY_URL: platform.services.tenancy?.url as string,
      TESSERA_IDENTITY_URL: platform.identity.url,
      TESSERA_CLIENT_ID: credential?.id as string,
      TESSERA_CLIENT_SECRET: credential?.secret as string,
    });
  }, 120_000);
  afterAll(async () => {
    await platform?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it("creates a tenant, lists, shows, suspends, resumes and offboards it", async () => {
    const s = slug();
    const created = json<{
      tenant: TenantJson;
      provisioning: { complete: boolean; steps: Array<{ name: string; state: string }> };
    }>(
      await tenants(
        [
          "create",
          "--slug",
          s,
          "--name",
          "Acme Inc.",
          "--plan",
          "team",
          "--domain",
          `${s}.example.com`,
          "--wait",
          "--json",
        ],
        env,
      ),
    );
    expect(created.tenant).toMatchObject({
      slug: s,
      displayName: "Acme Inc.",
      tier: "pool",
      plan: "team",
      status: "active",
      region: "local",
      verifiedDomains: [`${s}.example.com`],
    });
    expect(created.tenant.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.provisioning.complete).toBe(true);
    expect(created.provisioning.steps.map((st) => [st.name, st.state])).toEqual([
      ["directory.assign_pool", "done"],
      ["tenant.activate", "done"],
    ]);
    const id = created.tenant.id;

    const listed = json<{ tenants: TenantJson[] }>(await tenants(["list", "--status", "active", "--json"], env));
    expect(listed.tenants.map((t) => t.slug)).toContain(s);
    const bridges = json<{ tenants: TenantJson[] }>(await tenants(["list", "--tier", "bridge", "--json"], env));
    expect(bridges.tenants.map((t) => t.slug)).not.toContain(s);

    for (const ref of [s, id]) {
      const shown = json<{ tenant: TenantJson; provisioning: { complete: boolean }; operation: unknown }>(
        await tenants(["show", ref, "--json"], env),
      );
      expect(shown.tenant.id).toBe(id);
      expect(shown.tenant.placement?.database).toBe("pool");
      expect(shown.provisioning.complete).toBe(true);
      expect(shown.operation).toBeNull();
    }
    const progress = json<{ complete: boolean; steps: unknown[]; operation: unknown }>(
      await tenants(["progress", s, "--json"], env),
    );
    expect(progress).toMatchObject({ complete: true, operation: null });
    expect(progress.steps).toHaveLength(2);

    const suspended = json<{ tenant: TenantJson; previousStatus: string }>(
      await tenants(["suspend", s, "--reason", "unpaid invoices", "--json"], env),
    );
    expect([suspended.previousStatus, suspended.tenant.status]).toEqual(["active", "suspended"]);
    const onlySuspended = json<{ tenants: TenantJson[] }>(
      await tenants(["list", "--status", "suspended", "--json"], env),
    );
    expect(onlySuspended.tenants.map((t) => t.slug)).toContain(s);
    expect(onlySuspended.tenants.every((t) => t.status === "suspended")).toBe(true);

    const resumed = json<{ tenant: TenantJson }>(await tenants(["resume", id, "--json"], env));
    expect(resumed.tenant.status).toBe("active");
    const offboarded = json<{ tenant: TenantJson }>(await tenants(["offboard", s, "--json"], env));
    expect(offboarded.tenant.status).toBe("offboarding");

    // a lifecycle change the status does not allow: a sentence with the code, exit 1
    const refused = await tenants(["resume", s], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^tessera tenants resume: not possible in the tenant's current state.*\[FAILED_PRECONDITION\]$/m,
    );
  }, 120_000);

  it("prints tables and sentences for people, without colours when not on a terminal", async () => {
    const s = slug();
    const created = await tenants(["create", "--slug", s, "--name", "Globex", "--plan", "team"], env);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(
      new RegExp(`^created tenant ${s} \\([0-9a-f-]{36}\\): active, pool tier, plan team`),
    );

    const list = await tenants(["list", "--plan", "team"], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^slug\s+id\s+status\s+tier\s+plan\s+region\s+created$/m);
    expect(list.stdout).toMatch(new RegExp(`^${s}\\s+[0-9a-f-]{36}\\s+active\\s+pool\\s+team\\s+local\\s`, "m"));

    const show = await tenants(["show", s], env);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/^status\s+active$/m);
    expect(show.stdout).toMatch(/^database\s+pool$/m);
    expect(show.stdout).toContain("provisioning: complete (2/2 steps)");
    expect(show.stdout).toContain("✓ directory.assign_pool");
    expect(show.stdout).not.toContain("\x1b[");
  }, 60_000);

  it("refuses bad arguments with exit code 2 and the usage line", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["frobnicate"], /unknown command "frobnicate"/],
      [["create", "--name", "x", "--plan", "team"], /--slug is required/],
      [
        ["create", "--slug", "abc", "--name", "x", "--plan", "team", "--tier", "gold"],
        /--tier must be pool, bridge or silo \(got "gold"\)/,
      ],
      [["list", "--status", "sleeping"], /--status must be provisioning, active, suspended, offboarding or deleted/],
      [["show"], /missing <tenant>/],
      [["show", "a", "b"], /unexpected argument b/],
      [["suspend", "abc", "--frob"], /unknown option --frob/],
      [["move", "abc", "--to", "gold"], /--to must be pool, bridge or silo/],
      [
        ["list", "--client-secret", "hunter22hunter22"],
        /secrets are never taken from the command line; set TESSERA_CLIENT_SECRET/,
      ],
      [["delete", "abc", "--json"], /needs --yes/],
    ];
    for (const [args, message] of cases) {
      const run = await tenants(args, env);
      expect(run.code, `${args.join(" ")}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toMatch(/usage: \.\/tessera tenants /);
      expect(run.stdout).toBe("");
    }
  }, 60_000);

  it("says a tenant is not found (exit 1), by slug and by id", async () => {
    for (const ref of ["no-such-tenant", "00000000-0000-4000-8000-000000000000"]) {
      const run = await tenants(["show", ref, "--json"], env);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(`tessera tenants show: tenant "${ref}" not found [NOT_FOUND]\n`);
      expect(JSON.parse(run.stdout)).toEqual({
        error: { code: "NOT_FOUND", message: `tenant "${ref}" not found [NOT_FOUND]` },
      });
    }
    const human = await tenants(["suspend", "no-such-tenant"], env);
    expect(human.code).toBe(1);
    expect(human.stderr).toContain("not found");
    expect(human.stdout).toBe("");
  }, 60_000);

  it("explains a refused credential, a credential without platform rights, and a missing platform", async () => {
    const wrong = await tenants(["list"], { ...env, TESSERA_CLIENT_SECRET: "not-the-secret-at-all" });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(
      /identity at \S+ refused the client credential "tessera-cli" for tenancy: .*\[UNAUTHENTICATED\]/,
    );

    const edge = platform.clients.edge;
    const unprivileged = await tenants(["create", "--slug", slug(), "--name", "x", "--plan", "team"], {
      ...env,
      TESSERA_CLIENT_ID: edge?.id as string,
      TESSERA_CLIENT_SECRET: edge?.secret as string,
    });
    expect(unprivileged.code).toBe(1);
    expect(unprivileged.stderr).toMatch(
      /permission denied: the credential lacks the platform-admin role.*\[PERMISSION_DENIED\]/,
    );

    const nowhere = await tenants(["list"], cleanEnv({ TESSERA_HOME: home }));
    expect(nowhere.code).toBe(1);
    expect(nowhere.stderr).toContain("no platform to talk to: ./tessera up is not running here");

    const noCredential = await tenants(
      ["list"],
      cleanEnv({ TESSERA_HOME: home, TESSERA_TENANCY_URL: env.TESSERA_TENANCY_URL as string }),
    );
    expect(noCredential.code).toBe(1);
    expect(noCredential.stderr).toContain(
      "no credential for --tenancy-url: set TESSERA_CLIENT_ID and TESSERA_CLIENT_SECRET",
    );
  }, 60_000);

  it("maps contract violations and conflicts to sentences", async () => {
    const s = slug();
    const bad = await tenants(["create", "--slug", "Not A Slug", "--name", "x", "--plan", "team", "--json"], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/tenancy refused the request as invalid.*slug.*\[INVALID_ARGUMENT\]/);
    expect(JSON.parse(bad.stdout).error.code).toBe("INVALID_ARGUMENT");

    json(await tenants(["create", "--slug", s, "--name", "x", "--plan", "team", "--json"], env));
    const again = await tenants(["create", "--slug", s, "--name", "x", "--plan", "team"], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists.*\[ALREADY_EXISTS\]/);
  }, 60_000);
});
