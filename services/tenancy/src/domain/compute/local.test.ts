import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "@tessera/proto/grpc/health/v1/health_pb";
import { afterAll, describe, expect, it } from "vitest";
import { ComputeUpgradeFailed, type TenantSpec } from "../saga/drivers.ts";
import { localComputeDriver } from "./local.ts";
import { LocalComputeSpecError, loadLocalComputeSpec } from "./local-spec.ts";

/**
 * The `local` compute driver with real processes (a stand-in service answering gRPC health): what
 * the saga does not exercise by itself — a second install, a broken build, upgrades, a crashed
 * tenancy's processes adopted, uninstall twice.
 */

const dir = mkdtempSync(join(tmpdir(), "tessera-local-driver-"));
const specFile = join(dir, "spec.json");
const stateDir = join(dir, "state");
const serviceMain = new URL("./local-test-service.ts", import.meta.url).pathname;
const from = 20_000 + Math.floor(Math.random() * 10_000);

/** Writes the spec (another file and state directory: as another machine's tenancy would have). */
function writeSpec(version: string, env: Record<string, string> = {}, file = specFile, state = stateDir): void {
  writeFileSync(
    file,
    JSON.stringify({
      version,
      ports: { from, to: from + 99 },
      stateDir: state,
      startTimeoutMs: 20_000,
      stopGraceMs: 3_000,
      drainMs: 500,
      services: {
        projects: { command: process.execPath, args: [serviceMain], cwd: dir, env, metricsPort: true },
      },
    }),
    { mode: 0o600 },
  );
}

const spec = (): TenantSpec => ({
  tenantId: randomUUID(),
  slug: `t-${randomBytes(3).toString("hex")}`,
  region: "local",
  plan: "business",
});
const signal = () => AbortSignal.timeout(30_000);
const drivers = [localComputeDriver({ specFile })];
const driver = drivers[0] as ReturnType<typeof localComputeDriver>;

const stateOf = (tenantId: string, state = stateDir) =>
  JSON.parse(readFileSync(join(state, `${tenantId}.json`), "utf8")) as {
    services: Record<string, { pid: number; port: number; metricsPort?: number }>;
    retired: Array<{ pid: number }>;
  };
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
async function serving(url: string): Promise<boolean> {
  try {
    const res = await createClient(Health, createGrpcTransport({ baseUrl: url })).check({}, { timeoutMs: 2_000 });
    return res.status === HealthCheckResponse_ServingStatus.SERVING;
  } catch {
    return false;
  }
}

afterAll(async () => {
  for (const d of drivers) await d.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the local compute driver (stand-in service processes; the real projects in test/e2e/tiers/silo-local.test.ts)", () => {
  const tenant = spec();
  const orphaned = spec();

  it("install starts the tenant's own process on its own ports; a second install finds it instead of starting another", async () => {
    writeSpec("1.0.0");
    const first = await driver.install(tenant, "main/t_x", signal());
    expect(first).toMatchObject({ namespace: `local/${tenant.slug}`, version: "1.0.0" });
    const url = first.endpoints.projects as string;
    expect(await serving(url)).toBe(true);
    const { pid, port, metricsPort } = stateOf(tenant.tenantId).services.projects ?? { pid: 0, port: 0 };
    expect(url).toBe(`http://127.0.0.1:${port}`);
    expect(metricsPort).not.toBe(port);
    expect(readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")).toEqual(
      expect.arrayContaining([`SERVICE_TENANT_ID=${tenant.tenantId}`, `PORT=${port}`, `METRICS_PORT=${metricsPort}`]),
    );

    const again = await driver.install(tenant, "main/t_x", signal());
    expect(again).toEqual(first);
    expect(stateOf(tenant.tenantId).services.projects?.pid).toBe(pid);
  });

  it("refuses a spec file that group or others may read (it holds credentials)", () => {
    const open = join(dir, "open.json");
    writeFileSync(open, readFileSync(specFile));
    chmodSync(open, 0o644);
    expect(() => loadLocalComputeSpec(open)).toThrow(LocalComputeSpecError);
    expect(() => loadLocalComputeSpec(open)).toThrow("chmod 600");
  });

  it("a build that fails at start-up fails install with its own words, and leaves nothing running", async () => {
    const broken = spec();
    writeSpec("1.0.0", { LOCAL_TEST_BROKEN: "1" });
    await expect(driver.install(broken, "main/t_y", signal())).rejects.toThrow(/this build is broken/);
    const pid = stateOf(broken.tenantId).services.projects?.pid as number;
    expect(alive(pid)).toBe(false);
    await driver.uninstall(broken, signal());
  });

  it("upgrade to a build that does not become healthy throws ComputeUpgradeFailed and keeps the previous one serving", async () => {
    const before = stateOf(tenant.tenantId).services.projects;
    writeSpec("2.0.0", { LOCAL_TEST_BROKEN: "1" });
    const failed = driver.upgrade(tenant, "main/t_x", signal());
    await expect(failed).rejects.toThrow(ComputeUpgradeFailed);
    await expect(failed).rejects.toThrow(/version 2\.0\.0 did not become healthy, 1\.0\.0 keeps running/);
    expect(stateOf(tenant.tenantId).services.projects).toEqual(before);
    expect(await serving(`http://127.0.0.1:${before?.port}`)).toBe(true);
  });

  it("upgrade to a good build serves it on a new endpoint and stops the previous one after the drain", async () => {
    const before = stateOf(tenant.tenantId).services.projects as { pid: number; port: number };
    writeSpec("2.0.1");
    expect(await driver.targetVersion(signal())).toBe("2.0.1");
    const upgraded = await driver.upgrade(tenant, "main/t_x", signal());
    expect(upgraded.version).toBe("2.0.1");
    expect(upgraded.endpoints.projects).not.toBe(`http://127.0.0.1:${before.port}`);
    expect(await serving(upgraded.endpoints.projects as string)).toBe(true);
    // the previous one still serves right after (callers follow the directory), then stops
    expect(alive(before.pid)).toBe(true);
    const deadline = Date.now() + 15_000;
    while (alive(before.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(alive(before.pid)).toBe(false);
    expect(stateOf(tenant.tenantId).retired).toEqual([]);
    // a saga re-run of install now converges on the upgraded process
    expect(await driver.install(tenant, "main/t_x", signal())).toEqual(upgraded);
  });

  it("a tenancy that was killed leaves the process serving: the next one adopts it on resume, and close stops it", async () => {
    // a tenancy of its own (a real process, its own state) installs, then dies by SIGKILL
    const otherSpec = join(dir, "other-spec.json");
    const otherState = join(dir, "other-state");
    writeSpec("1.0.0", {}, otherSpec, otherState);
    const script = `const { localComputeDriver } = await import(${JSON.stringify(new URL("./local.ts", import.meta.url).pathname)});
      const state = await localComputeDriver({ specFile: process.env.SPEC }).install(JSON.parse(process.env.TENANT), "main/t_x", AbortSignal.timeout(30000));
      console.log(JSON.stringify(state)); setInterval(() => {}, 1000);`;
    const dying = spawn(process.execPath, ["--input-type=module", "-e", script], {
      env: { PATH: process.env.PATH ?? "", SPEC: otherSpec, TENANT: JSON.stringify(orphaned) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const [line] = (await once(createInterface({ input: dying.stdout as Readable }), "line")) as [string];
    const installed = JSON.parse(line) as { endpoints: { projects: string } };
    dying.kill("SIGKILL");
    await once(dying, "exit");
    const { pid, port } = stateOf(orphaned.tenantId, otherState).services.projects as { pid: number; port: number };
    expect(alive(pid)).toBe(true);
    expect(await serving(installed.endpoints.projects)).toBe(true);

    const next = localComputeDriver({ specFile: otherSpec });
    drivers.push(next);
    await next.resume([{ tenant: orphaned, database: "main/t_x", endpoints: installed.endpoints }], signal());
    expect(stateOf(orphaned.tenantId, otherState).services.projects?.pid).toBe(pid);
    // an install (a saga re-run) finds the adopted process too
    expect((await next.install(orphaned, "main/t_x", signal())).endpoints).toEqual(installed.endpoints);
    await next.close();
    expect(alive(pid)).toBe(false);
    expect(await serving(installed.endpoints.projects)).toBe(false);

    // a tenancy starting afresh starts it again on the port the directory names
    const third = localComputeDriver({ specFile: otherSpec });
    drivers.push(third);
    await third.resume([{ tenant: orphaned, database: "main/t_x", endpoints: installed.endpoints }], signal());
    expect(await serving(`http://127.0.0.1:${port}`)).toBe(true);
    expect(stateOf(orphaned.tenantId, otherState).services.projects?.pid).not.toBe(pid);
    await third.uninstall(orphaned, signal());
  });

  it("uninstall stops the process and forgets the tenant; a second uninstall is fine", async () => {
    const { pid, port } = stateOf(tenant.tenantId).services.projects as { pid: number; port: number };
    await driver.uninstall(tenant, signal());
    expect(alive(pid)).toBe(false);
    expect(await serving(`http://127.0.0.1:${port}`)).toBe(false);
    expect(() => stateOf(tenant.tenantId)).toThrow();
    await driver.uninstall(tenant, signal());
  });
});
