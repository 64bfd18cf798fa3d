import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TenantSpec } from "../saga/drivers.ts";
import { helmComputeDriver } from "./helm.ts";
import type { NamespaceApi, NamespaceState } from "./kube.ts";

/**
 * For the helm driver's unit tests: a stand-in helm (a script that records its arguments and
 * answers from files in its own directory) and a namespace API double. The real helm on a real
 * control plane is test/e2e/tiers/silo-helm.test.ts and silo-upgrade.test.ts.
 */
export function fakeHelm() {
  const dir = mkdtempSync(join(tmpdir(), "tessera-fake-helm-"));
  const bin = join(dir, "helm");
  writeFileSync(
    bin,
    `#!${process.execPath}
const fs = require("node:fs");
const path = require("node:path");
const dir = ${JSON.stringify(dir)};
const args = process.argv.slice(2);
fs.appendFileSync(path.join(dir, "calls.ndjson"), JSON.stringify(args) + "\\n");
const file = (name) => path.join(dir, name);
if (args[0] === "status") {
  if (!fs.existsSync(file("status.json"))) { process.stderr.write("Error: release: not found\\n"); process.exit(1); }
  process.stdout.write(fs.readFileSync(file("status.json")));
} else if (args[0] === "upgrade") {
  const values = args[args.lastIndexOf("--values") + 1];
  fs.copyFileSync(values, file("last-values.json"));
  if (fs.existsSync(file("fail.txt"))) { process.stderr.write(fs.readFileSync(file("fail.txt"))); process.exit(1); }
} else if (args[0] === "get" && args[1] === "metadata") {
  const version = fs.existsSync(file("deployed-version")) ? fs.readFileSync(file("deployed-version"), "utf8") : "0.1.0";
  process.stdout.write(JSON.stringify({ name: args[2], chart: "tessera-tenant", version, revision: 2 }));
} else if (args[0] === "get" && args[1] === "values") {
  process.stdout.write(fs.existsSync(file("values.json")) ? fs.readFileSync(file("values.json")) : "{}");
} else if (args[0] === "show" && args[1] === "chart") {
  process.stdout.write(fs.readFileSync(file("packaged-chart.yaml")));
}
`,
  );
  chmodSync(bin, 0o755);
  const calls = (): string[][] =>
    existsSync(join(dir, "calls.ndjson"))
      ? readFileSync(join(dir, "calls.ndjson"), "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as string[])
      : [];
  return {
    dir,
    calls,
    verbs: () => calls().map((c) => c[0]),
    /** The release's `helm status`: `s` since `agoMs`. */
    status: (s: string, agoMs: number) =>
      writeFileSync(
        join(dir, "status.json"),
        JSON.stringify({ version: 3, info: { status: s, last_deployed: new Date(Date.now() - agoMs).toISOString() } }),
      ),
    /** Forgets every answer and call. */
    reset() {
      for (const f of [
        "calls.ndjson",
        "status.json",
        "fail.txt",
        "last-values.json",
        "values.json",
        "deployed-version",
      ])
        rmSync(join(dir, f), { force: true });
    },
    driver: (extra: Partial<Parameters<typeof helmComputeDriver>[0]> = {}) =>
      helmComputeDriver({
        helmBin: bin,
        chart: "/charts/tessera-tenant",
        releaseNamespace: "tessera-system",
        kubeconfig: "/etc/kube/config",
        timeoutMs: 60_000,
        pollMs: 5,
        namespaces: namespaces(undefined).api,
        ...extra,
      }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export const tenant: TenantSpec = {
  tenantId: "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c",
  slug: "acme",
  region: "eu-west-1",
  plan: "business",
};

/** A namespace API double: `tessera-tenant-acme` exists until deleted, then lingers for `linger` polls. */
export function namespaces(state: NamespaceState | undefined, linger = 2) {
  let current = state;
  let left = linger;
  const deleted: string[] = [];
  const api: NamespaceApi = {
    async get() {
      if (current?.deleting && left-- <= 0) current = undefined;
      return current;
    },
    async delete(name) {
      deleted.push(name);
      if (current) current = { ...current, deleting: true };
    },
  };
  return { api, deleted };
}
