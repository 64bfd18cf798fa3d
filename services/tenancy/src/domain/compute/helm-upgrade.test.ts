import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { ComputeUpgradeFailed } from "../saga/drivers.ts";
import { fakeHelm, namespaces, tenant } from "./fake-helm.ts";
import { HelmError } from "./helm.ts";
import { endpointsOf, kebabCase } from "./helm-chart.ts";

/**
 * The driver's upgrade, target version and endpoints against a stand-in helm (fake-helm.ts): which
 * failures end an upgrade (rolled back) and which are retried. The real helm on a real control
 * plane is test/e2e/tiers/silo-upgrade.test.ts.
 */

const helm = fakeHelm();
const { dir, calls, verbs, status, driver } = helm;

beforeEach(() => helm.reset());
afterAll(() => helm.remove());

describe("helm driver: upgrade (fake helm: scripted failures; the real one in test/e2e/tiers/silo-upgrade.test.ts)", () => {
  const failWith = (...lines: string[]) => writeFileSync(join(dir, "fail.txt"), `${lines.join("\n")}\n`);
  const upgrade = () => driver().upgrade(tenant, "main/t_1", AbortSignal.timeout(10_000));

  it("upgrades the existing release with the current chart, --rollback-on-failure --wait, and returns what runs", async () => {
    status("deployed", 600_000);
    writeFileSync(join(dir, "deployed-version"), "0.2.0");
    const res = await driver({ extraValues: "/etc/tessera/cloud.yaml" }).upgrade(
      tenant,
      "main/t_1",
      AbortSignal.timeout(10_000),
    );
    expect(res.version).toBe("0.2.0");
    const call = calls().find((c) => c[0] === "upgrade") ?? [];
    expect(call.slice(0, 9)).toEqual([
      "upgrade",
      "tenant-acme",
      "/charts/tessera-tenant",
      "--namespace",
      "tessera-system",
      "--rollback-on-failure",
      "--wait",
      "--timeout",
      expect.stringMatching(/^2[0-7]s$/),
    ]);
    // half of what remains of the 60 s deadline: the rollback needs its time too
    expect(call).not.toContain("--install");
    expect(call.slice(9, 11)).toEqual(["--values", "/etc/tessera/cloud.yaml"]);
    expect(JSON.parse(readFileSync(join(dir, "last-values.json"), "utf8")).tenant).toMatchObject({
      id: tenant.tenantId,
      database: "main/t_1",
    });
  });

  it("a rollout that failed and was rolled back is ComputeUpgradeFailed with helm's text", async () => {
    status("deployed", 600_000);
    failWith(
      'level=INFO msg="waiting for resources"',
      "Error: UPGRADE FAILED: release tenant-acme failed, and has been rolled back due to rollback-on-failure being set: context deadline exceeded",
    );
    const err = await upgrade().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ComputeUpgradeFailed);
    expect((err as Error).message).toBe(
      "helm upgrade tenant-acme: Error: UPGRADE FAILED: release tenant-acme failed, and has been rolled back due to rollback-on-failure being set: context deadline exceeded",
    );
    // nothing is read from a release that did not change
    expect(verbs()).toEqual(["status", "upgrade"]);
  });

  it("adds the namespace's recent warnings (why the pods never came) and drops helm's log line repeating its error", async () => {
    status("deployed", 600_000);
    failWith(
      'level=WARN msg="upgrade failed" name=tenant-acme error="resource Deployment/x/projects not ready\\ncontext deadline exceeded"',
      "Error: UPGRADE FAILED: release tenant-acme failed, and has been rolled back due to rollback-on-failure being set: resource Deployment/x/projects not ready",
      "context deadline exceeded",
    );
    const now = Date.now();
    const event = (object: string, reason: string, message: string, agoMs: number) => ({
      object,
      reason,
      message,
      count: 3,
      at: new Date(now - agoMs),
    });
    const asked: string[] = [];
    const err = await driver({
      namespaces: {
        ...namespaces(undefined).api,
        async warnings(name) {
          asked.push(name);
          return [
            event(
              "ReplicaSet/projects-1",
              "FailedCreate",
              '(combined from similar events): Error creating: pods "projects-1-a" is forbidden: exceeded quota',
              0,
            ),
            event("ReplicaSet/projects-1", "FailedCreate", 'pods "projects-1-b" is forbidden: exceeded quota', 500),
            event("HorizontalPodAutoscaler/projects", "FailedGetResourceMetric", "no metrics", 0),
            event("Pod/projects-0", "BackOff", "Back-off restarting failed container, token=abc", 0),
            event("Deployment/projects", "SomethingElse", "less telling", 0),
            event("Pod/old", "FailedScheduling", "from an earlier rollout", 3_600_000),
          ];
        },
      },
    })
      .upgrade(tenant, "", AbortSignal.timeout(10_000))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ComputeUpgradeFailed);
    expect(asked).toEqual(["tessera-tenant-acme"]);
    expect((err as Error).message).toBe(
      "helm upgrade tenant-acme: Error: UPGRADE FAILED: release tenant-acme failed, and has been rolled back due to rollback-on-failure being set: resource Deployment/x/projects not ready context deadline exceeded" +
        ' (namespace warnings: ReplicaSet/projects-1 FailedCreate: pods "projects-1-a" is forbidden: exceeded quota; Pod/projects-0 BackOff: Back-off restarting failed container, token=[redacted])',
    );
    // unreadable warnings leave helm's text as it is
    const bare = await driver({
      namespaces: {
        ...namespaces(undefined).api,
        warnings: async () => {
          throw new Error("HTTP 403 forbidden");
        },
      },
    })
      .upgrade(tenant, "", AbortSignal.timeout(10_000))
      .catch((e: unknown) => e);
    expect((bare as Error).message).toMatch(/not ready context deadline exceeded$/);
  });

  it("an unreachable cluster or a failed rollback stays a plain error (retried)", async () => {
    status("deployed", 600_000);
    failWith(
      "Error: UPGRADE FAILED: Kubernetes cluster unreachable: dial tcp 10.0.0.1:443: connect: connection refused",
    );
    const unreachable = await upgrade().catch((e: unknown) => e);
    expect(unreachable).toBeInstanceOf(HelmError);
    expect(unreachable).not.toBeInstanceOf(ComputeUpgradeFailed);
    failWith("Error: UPGRADE FAILED: an error occurred while rolling back the release. original upgrade error: x");
    expect(await upgrade().catch((e: unknown) => e)).not.toBeInstanceOf(ComputeUpgradeFailed);
  });

  it("an aborted upgrade is a plain error", async () => {
    status("deployed", 600_000);
    const abort = new AbortController();
    abort.abort(new Error("step deadline"));
    const err = await driver()
      .upgrade(tenant, "", abort.signal)
      .catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(ComputeUpgradeFailed);
  });

  it("a tenant without a release has nothing to upgrade: ComputeUpgradeFailed, helm upgrade never runs", async () => {
    await expect(upgrade()).rejects.toThrow(ComputeUpgradeFailed);
    await expect(upgrade()).rejects.toThrow("release tenant-acme not found in namespace tessera-system");
    expect(verbs()).not.toContain("upgrade");
  });

  it("rolls back an upgrade a killed helm left pending, then upgrades; refuses a recent one", async () => {
    status("pending-upgrade", 5_000);
    await expect(upgrade()).rejects.toThrow(/another helm operation is in progress/);
    rmSync(join(dir, "calls.ndjson"));
    status("pending-upgrade", 120_000);
    await upgrade();
    expect(verbs()).toEqual(["status", "rollback", "upgrade", "get", "get"]);
  });
});

describe("helm driver: target version and endpoints (fake helm for the release queries)", () => {
  it("reads the chart directory's Chart.yaml, and again when it changes", async () => {
    const chart = mkdtempSync(join(tmpdir(), "tessera-chart-"));
    try {
      writeFileSync(join(chart, "Chart.yaml"), "apiVersion: v2\nname: tessera-tenant\nversion: 1.10\n");
      const d = driver({ chart });
      expect(await d.targetVersion(AbortSignal.timeout(5_000))).toBe("1.10");
      writeFileSync(join(chart, "Chart.yaml"), "apiVersion: v2\nname: tessera-tenant\nversion: 1.11.0-rc.1\n");
      expect(await d.targetVersion(AbortSignal.timeout(5_000))).toBe("1.11.0-rc.1");
      writeFileSync(join(chart, "Chart.yaml"), "apiVersion: v2\nname: tessera-tenant\n");
      await expect(d.targetVersion(AbortSignal.timeout(5_000))).rejects.toThrow("has no version");
    } finally {
      rmSync(chart, { recursive: true, force: true });
    }
    expect(verbs()).toEqual([]);
  });

  it("asks helm show chart for a packaged chart", async () => {
    const tgz = join(dir, "tessera-tenant-0.3.0.tgz");
    writeFileSync(tgz, "not read by the fake");
    writeFileSync(join(dir, "packaged-chart.yaml"), "apiVersion: v2\nname: tessera-tenant\nversion: 0.3.0\n");
    const d = driver({ chart: tgz });
    expect(await d.targetVersion(AbortSignal.timeout(5_000))).toBe("0.3.0");
    expect(await d.targetVersion(AbortSignal.timeout(5_000))).toBe("0.3.0");
    // cached while the file stays the same
    expect(calls()).toEqual([["show", "chart", tgz, "--kubeconfig", "/etc/kube/config"]]);
    await expect(driver({ chart: join(dir, "missing.tgz") }).targetVersion(AbortSignal.timeout(5_000))).rejects.toThrow(
      "not found",
    );
  });

  it("endpoints: every enabled component of kind service on its gRPC port, named as the chart names it", () => {
    const values = {
      defaults: { enabled: false, replicas: 2 },
      projects: { enabled: true, kind: "service", port: 50064 },
      auditLog: { enabled: true, kind: "service", port: 50070 },
      billing: { kind: "service", port: 50071 },
      web: { enabled: true, kind: "gateway", port: 8080 },
      tenant: { id: "x", slug: "acme" },
    };
    expect(endpointsOf(values, "tessera-tenant-acme")).toEqual({
      auditLog: "http://audit-log.tessera-tenant-acme.svc.cluster.local:50070",
      projects: "http://projects.tessera-tenant-acme.svc.cluster.local:50064",
    });
    expect(kebabCase("HTTPServer")).toBe("http-server");
    expect(endpointsOf(null, "ns")).toEqual({});
  });
});
