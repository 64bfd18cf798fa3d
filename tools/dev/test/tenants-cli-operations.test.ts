import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// tools/dev cannot depend on the harness package (it depends on us); the file is reached directly
import { startPlatform, type TestPlatform } from "../../../test/harness/index.ts";
import { cleanEnv, runTenants, type TenantsRun } from "./cli-process.ts";

type Run = TenantsRun;

const tenants = (args: string[], env: NodeJS.ProcessEnv) => runTenants(args, env, 180_000);

function json<T>(run: Run): T {
  expect(run.code, `exit code; stderr:\n${run.stderr}\nstdout:\n${run.stdout}`).toBe(0);
  return JSON.parse(run.stdout) as T;
}

/**
 * The operator CLI's long-running commands against real identity, tenancy and projects: a tenant
 * moved to bridge and back, exported (files verified against the signed manifest with the right
 * key, and refused with a wrong one), offboarded and deleted.
 */
describe("./tessera tenants move, export and delete on the real platform", () => {
  let platform: TestPlatform;
  let env: NodeJS.ProcessEnv;
  const scratch = mkdtempSync(join(tmpdir(), "tessera-tenants-ops-"));
  const s = `ops-${randomBytes(4).toString("hex")}`;

  beforeAll(async () => {
    platform = await startPlatform({
      services: ["tenancy", "projects"],
      clients: [{ id: "tessera-cli", roles: ["platform-admin"] }],
    });
    const credential = platform.clients["tessera-cli"];
    env = cleanEnv({
      TESSERA_HOME: join(scratch, "home"),
      TESSERA_TENANCY_URL: platform.services.tenancy?.url as string,
      TESSERA_IDENTITY_URL: platform.identity.url,
      TESSERA_CLIENT_ID: credential?.id as string,
      TESSERA_CLIENT_SECRET: credential?.secret as string,
    });
    json(
      await tenants(
        ["create", "--slug", s, "--name", "Ops", "--plan", "team", "--tier", "pool", "--wait", "--json"],
        env,
      ),
    );
  }, 180_000);

  afterAll(async () => {
    await platform?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("moves to bridge and back, following the operation to SUCCEEDED", async () => {
    const there = json<{ operation: { state: string; phase: string } }>(
      await tenants(["move", s, "--to", "bridge", "--json"], env),
    );
    expect(there.operation).toMatchObject({ state: "succeeded", phase: "done" });
    const shown = json<{ tenant: { tier: string; placement: { database: string } } }>(
      await tenants(["show", s, "--json"], env),
    );
    expect(shown.tenant?.tier ?? (shown as unknown as { tier: string }).tier).toBe("bridge");
    const back = json<{ operation: { state: string } }>(await tenants(["move", s, "--to", "pool", "--json"], env));
    expect(back.operation.state).toBe("succeeded");
  }, 240_000);

  it("exports a signed bundle and verifies it; a wrong key is refused", async () => {
    const out = join(scratch, "bundle");
    const exported = await tenants(["export", s, "--out", out, "--json"], env);
    expect(exported.code, exported.stderr).toBe(0);
    const files = readdirSync(out).sort();
    expect(files).toEqual(
      expect.arrayContaining(["manifest.json", "manifest.sig", "projects.ndjson", "tenancy.ndjson"]),
    );
    const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8")) as { slug: string };
    expect(manifest.slug).toBe(s);
    const wrong = join(scratch, "wrong.pem");
    writeFileSync(wrong, generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }).toString());
    const refused = await tenants(["export", s, "--out", join(scratch, "bundle2"), "--public-key", wrong], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/signature/i);
  }, 120_000);

  it("refuses to delete without --yes, then offboards and deletes", async () => {
    const refused = await tenants(["delete", s], env);
    expect(refused.code).not.toBe(0);
    json(await tenants(["offboard", s, "--reason", "contract ended", "--json"], env));
    const deleted = json<{ operation: { state: string; exportId: string } }>(
      await tenants(["delete", s, "--yes", "--json"], env),
    );
    expect(deleted.operation.state).toBe("succeeded");
    const shown = await tenants(["show", s, "--json"], env);
    expect(shown.stdout).toMatch(/deleted/);
  }, 240_000);
});
