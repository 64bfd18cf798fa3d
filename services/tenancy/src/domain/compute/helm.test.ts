import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { fakeHelm, namespaces, tenant } from "./fake-helm.ts";
import { helmErrorText, scrub } from "./helm.ts";
import { loadKubeTarget, type NamespaceState } from "./kube.ts";

/**
 * The driver's own logic against a stand-in helm (fake-helm.ts): install, uninstall, recovery of
 * releases a killed helm left pending, error text, arguments, values. Upgrades and the chart's
 * version: helm-upgrade.test.ts. The real helm on a real control plane is
 * test/e2e/tiers/silo-helm.test.ts.
 */

const helm = fakeHelm();
const { dir, calls, verbs, status, driver } = helm;

beforeEach(() => helm.reset());
afterAll(() => helm.remove());

describe("helm driver: install (fake helm: scripted states; the real one in test/e2e/tiers/silo-helm.test.ts)", () => {
  beforeEach(() =>
    writeFileSync(
      join(dir, "values.json"),
      JSON.stringify({ defaults: { replicas: 2 }, projects: { enabled: true, kind: "service", port: 50064 } }),
    ),
  );

  it("runs helm upgrade --install with the operator's values first and the tenant's own last", async () => {
    const res = await driver({ extraValues: "/etc/tessera/cloud.yaml" }).install(
      tenant,
      "main/t_3f2a1b0c9d8e4f7a8b6c5d4e3f2a1b0c",
      AbortSignal.timeout(10_000),
    );
    expect(res).toEqual({
      namespace: "tessera-tenant-acme",
      endpoints: { projects: "http://projects.tessera-tenant-acme.svc.cluster.local:50064" },
      version: "0.1.0",
    });
    const upgrade = calls().find((c) => c[0] === "upgrade") ?? [];
    expect(upgrade.slice(0, 8)).toEqual([
      "upgrade",
      "--install",
      "tenant-acme",
      "/charts/tessera-tenant",
      "--namespace",
      "tessera-system",
      "--wait",
      "--timeout",
    ]);
    // what remains of the 60 s deadline, less the margin
    expect(upgrade[8]).toMatch(/^(5[0-4])s$/);
    expect(upgrade.slice(9, 11)).toEqual(["--values", "/etc/tessera/cloud.yaml"]);
    expect(upgrade.slice(-2)).toEqual(["--kubeconfig", "/etc/kube/config"]);
    expect(JSON.parse(readFileSync(join(dir, "last-values.json"), "utf8"))).toEqual({
      tenant: {
        id: tenant.tenantId,
        slug: "acme",
        plan: "business",
        database: "main/t_3f2a1b0c9d8e4f7a8b6c5d4e3f2a1b0c",
      },
      namespace: { name: "tessera-tenant-acme" },
    });
  });

  it("surfaces helm's error text: its Error line first, log lines dropped, credentials redacted", async () => {
    writeFileSync(
      join(dir, "fail.txt"),
      [
        'level=INFO msg="found symbolic link in path" path=/charts/files/plans.yaml',
        'level=WARN msg="upgrade failed" name=tenant-acme error="context deadline exceeded"',
        "Error: UPGRADE FAILED: Get https://admin:s3cret@10.0.0.1/api: Authorization: Bearer abc.def.ghi",
        "",
      ].join("\n"),
    );
    const err = await driver()
      .install(tenant, "", AbortSignal.timeout(10_000))
      .catch((e: Error) => e);
    expect((err as Error).message).toBe(
      'helm upgrade --install tenant-acme: Error: UPGRADE FAILED: Get https://[redacted]@10.0.0.1/api: Authorization: Bearer [redacted] level=WARN msg="upgrade failed" name=tenant-acme error="context deadline exceeded"',
    );
  });

  it("refuses while another helm operation may still be running on the release (recently pending)", async () => {
    status("pending-upgrade", 5_000);
    await expect(driver().install(tenant, "", AbortSignal.timeout(10_000))).rejects.toThrow(
      /release tenant-acme is pending-upgrade since .+: another helm operation is in progress/,
    );
    expect(verbs()).toEqual(["status"]);
  });

  it("rolls back an upgrade a killed helm left pending, then upgrades", async () => {
    status("pending-upgrade", 120_000);
    await driver().install(tenant, "", AbortSignal.timeout(10_000));
    expect(verbs()).toEqual(["status", "rollback", "upgrade", "get", "get"]);
  });

  it("removes an install a killed helm left pending, then installs", async () => {
    status("pending-install", 120_000);
    await driver().install(tenant, "", AbortSignal.timeout(10_000));
    expect(verbs()).toEqual(["status", "uninstall", "upgrade", "get", "get"]);
  });

  it("reports a missing helm executable", async () => {
    await expect(
      driver({ helmBin: join(dir, "no-such-helm") }).install(tenant, "", AbortSignal.timeout(10_000)),
    ).rejects.toThrow(`helm status tenant-acme: helm executable "${join(dir, "no-such-helm")}" not found`);
  });
});

describe("helm driver: uninstall (fake helm and namespace API)", () => {
  const mine: NamespaceState = {
    labels: { "tessera.io/tenant": tenant.tenantId },
    deleting: false,
    conditions: [],
  };

  it("uninstalls the release, deletes the namespace and waits until it is gone", async () => {
    status("deployed", 60_000);
    const ns = namespaces(mine);
    await driver({ namespaces: ns.api }).uninstall(tenant, AbortSignal.timeout(10_000));
    expect(calls().find((c) => c[0] === "uninstall")).toEqual(
      expect.arrayContaining(["tenant-acme", "--wait", "--ignore-not-found"]),
    );
    expect(ns.deleted).toEqual(["tessera-tenant-acme"]);
  });

  it("is done at once when release and namespace are gone", async () => {
    const ns = namespaces(undefined);
    await driver({ namespaces: ns.api }).uninstall(tenant, AbortSignal.timeout(10_000));
    expect(verbs()).toEqual(["status"]);
    expect(ns.deleted).toEqual([]);
  });

  it("never deletes a namespace labelled for another tenant", async () => {
    const ns = namespaces({ ...mine, labels: { "tessera.io/tenant": "someone-else" } });
    await expect(driver({ namespaces: ns.api }).uninstall(tenant, AbortSignal.timeout(10_000))).rejects.toThrow(
      "namespace tessera-tenant-acme is labelled tessera.io/tenant=someone-else, not this tenant",
    );
    expect(ns.deleted).toEqual([]);
  });

  it("says why a namespace does not finish terminating", async () => {
    const stuck = namespaces(
      {
        ...mine,
        deleting: true,
        conditions: [{ type: "NamespaceFinalizersRemaining", status: "True", message: "finalizer x remains" }],
      },
      Number.POSITIVE_INFINITY,
    );
    await expect(
      driver({ namespaces: stuck.api, timeoutMs: 2_000 }).uninstall(tenant, AbortSignal.timeout(10_000)),
    ).rejects.toThrow(
      "namespace tessera-tenant-acme is still terminating: NamespaceFinalizersRemaining: finalizer x remains",
    );
  });
});

describe("error text and kubeconfig", () => {
  it("drops info lines and redacts credentials", () => {
    expect(helmErrorText("level=INFO msg=x\nError: failed\n  token: abc123\n")).toBe("Error: failed token: [redacted]");
    expect(scrub("postgres://owner:pw@db:5432/x password=hunter2")).toBe(
      "postgres://[redacted]@db:5432/x password=[redacted]",
    );
  });

  it("reads a YAML kubeconfig (CA data, token file relative to it) and refuses exec plugins", async () => {
    const kdir = mkdtempSync(join(tmpdir(), "tessera-kubeconfig-"));
    try {
      writeFileSync(join(kdir, "token"), "tok-123\n");
      const config = (user: string) => `apiVersion: v1
kind: Config
current-context: c
contexts:
  - name: c
    context: { cluster: k, user: u }
clusters:
  - name: k
    cluster:
      server: https://127.0.0.1:6443
      certificate-authority-data: ${Buffer.from("PEM").toString("base64")}
users:
  - name: u
    user:
${user}
`;
      writeFileSync(join(kdir, "config"), config("      tokenFile: token"));
      const target = await loadKubeTarget(join(kdir, "config"));
      expect(target.server).toBe("https://127.0.0.1:6443");
      expect(String(target.ca)).toBe("PEM");
      expect(await target.token?.()).toBe("tok-123");
      writeFileSync(
        join(kdir, "config"),
        config("      exec: { command: aws, apiVersion: client.authentication.k8s.io/v1 }"),
      );
      await expect(loadKubeTarget(join(kdir, "config"))).rejects.toThrow(/authenticates with a plugin/);
    } finally {
      rmSync(kdir, { recursive: true, force: true });
    }
  });
});
