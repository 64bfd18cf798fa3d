import { rmSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { discoverDeployables } from "../src/up/deployables.ts";
import { fixture, fixtureWorkspace } from "./cli-process.ts";

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});
const workspace = (...args: Parameters<typeof fixtureWorkspace>) => {
  const root = fixtureWorkspace(...args);
  roots.push(root);
  return root;
};

describe("deployable discovery", () => {
  it("finds services before gateways and ignores packages without a tessera block", () => {
    const root = workspace([
      { dir: "gateway", name: "graphql", tessera: { kind: "gateway", main: fixture("edge-gateway.ts"), port: 4000 } },
      { dir: "services", name: "tenancy", tessera: { kind: "service", main: fixture("echo-service.ts"), port: 5001 } },
    ]);
    const found = discoverDeployables(root);
    expect(found.map((d) => [d.name, d.kind, d.port, d.migrate])).toEqual([
      ["tenancy", "service", 5001, undefined],
      ["graphql", "gateway", 4000, undefined],
    ]);
  });

  it("lists every problem of every package at once", () => {
    const root = workspace([
      { dir: "services", name: "a", tessera: { kind: "worker", main: "src/missing.ts", port: 70000 } },
      { dir: "services", name: "b", tessera: { kind: "service", main: fixture("echo-service.ts"), port: 5001 } },
      {
        dir: "gateway",
        name: "c",
        tessera: { kind: "gateway", main: fixture("edge-gateway.ts"), port: 5001, env: { DEBUG: 1 } },
      },
    ]);
    expect(() => discoverDeployables(root)).toThrowError(
      [
        "deployables are misconfigured:",
        '  - services/a/package.json: tessera.kind must be "service" or "gateway"',
        "  - services/a/package.json: tessera.main src/missing.ts does not exist",
        "  - services/a/package.json: tessera.port must be an integer from 1 to 65535",
        "  - gateway/c/package.json: tessera.env.DEBUG must be a string",
      ].join("\n"),
    );
  });

  it("refuses two deployables on one port", () => {
    const root = workspace([
      { dir: "services", name: "a", tessera: { kind: "service", main: fixture("echo-service.ts"), port: 5001 } },
      { dir: "gateway", name: "b", tessera: { kind: "gateway", main: fixture("edge-gateway.ts"), port: 5001 } },
    ]);
    expect(() => discoverDeployables(root)).toThrowError("services/a and gateway/b both use port 5001");
  });
});
