import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type NatsConnection, PermissionViolationError } from "@nats-io/nats-core";
import {
  CHART_NATS_PERMISSIONS,
  freePort,
  natsServerBinary,
  natsUrlWithCredentials,
  waitForPort,
} from "@tessera/dev/infra";
import { connectNats, EVENTS_STREAM, ensureStreams, NATS_ACCESS, natsUserPermissions } from "@tessera/platform/events";
import { afterAll, beforeAll, describe, expect, it as vitestIt } from "vitest";
import {
  envValue,
  type K8sObject,
  parseYamlFiles,
  podSpecOf,
  prepareCharts,
  requireTools,
  run,
  template,
  valueSets,
} from "./support.ts";

/**
 * The platform chart's NATS authorization (ConfigMap `<prefix>-nats-authorization`) is rendered from
 * files/nats-permissions.json, which is generated from platform/src/events/permissions.ts — the
 * same definition `./tessera up` configures its nats-server from. These tests keep the three equal
 * and show a real nats-server enforces the rendered block.
 */

interface RenderedUser {
  user: string;
  password: string;
  permissions: unknown;
}

let dir: string;
let scratch: string;
let setupError: unknown;

beforeAll(async () => {
  try {
    requireTools("helm", "python");
    dir = await prepareCharts();
    scratch = mkdtempSync(join(tmpdir(), "tessera-nats-auth-"));
  } catch (err) {
    setupError = err;
  }
}, 120_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  if (dir) rmSync(join(dir, ".."), { recursive: true, force: true });
});

/** A test that fails (never skips) with the setup's error, e.g. "run scripts/bootstrap". */
function it(name: string, fn: () => unknown, timeoutMs = 60_000) {
  vitestIt(
    name,
    async () => {
      if (setupError) throw setupError;
      await fn();
    },
    timeoutMs,
  );
}

/** Renders a platform value set (plus `--set`s); returns its objects. */
async function render(set: string, sets: readonly string[] = []): Promise<K8sObject[]> {
  const valueSet = valueSets(dir).find((s) => s.chart === "tessera-platform" && s.name === set);
  if (!valueSet) throw new Error(`no tessera-platform/ci/${set}-values.yaml`);
  const file = join(scratch, `${set}-${sets.join("_").replace(/[^A-Za-z0-9_.-]/g, "_")}.yaml`);
  writeFileSync(
    file,
    await template(
      dir,
      valueSet,
      sets.flatMap((s) => ["--set", s]),
    ),
  );
  return ((await parseYamlFiles([file]))[file] ?? []) as K8sObject[];
}

function authorizationConf(objects: K8sObject[]): string | undefined {
  const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-nats-authorization"));
  return (cm?.data as Record<string, string> | undefined)?.["authorization.conf"];
}

/** The users of a rendered block; passwords are the environment variables they read (`$NAME`). */
function usersOf(conf: string): RenderedUser[] {
  const body = conf.slice(conf.indexOf("users = [") + "users = ".length, conf.lastIndexOf("]") + 1);
  return JSON.parse(body.replace(/"password": \$([A-Za-z0-9_]+)/g, '"password": "$$$1"')) as RenderedUser[];
}

describe("the platform chart's NATS authorization", () => {
  it("ships files/nats-permissions.json as platform/src/events/permissions.ts generates it", () => {
    expect(
      JSON.parse(readFileSync(CHART_NATS_PERMISSIONS, "utf8")),
      "regenerate it: node tools/dev/src/infra/nats.ts chart-permissions",
    ).toEqual(natsUserPermissions());
  });

  it("renders one user per enabled component that uses NATS, with exactly its declared permissions", async () => {
    const objects = await render("all-components");
    const conf = authorizationConf(objects);
    expect(conf).toBeDefined();
    const users = usersOf(conf as string);
    const expected = natsUserPermissions();
    expect(users.map((u) => u.user).sort()).toEqual(Object.keys(NATS_ACCESS).sort());
    for (const u of users) {
      expect(u.permissions, u.user).toEqual(expected[u.user as keyof typeof expected]);
      expect(u.password, u.user).toBe(`$TESSERA_NATS_PASSWORD_${u.user.toUpperCase()}`);
    }
    // one user per Deployment with a NATS_URL, named after the deployable it runs (a gateway's is
    // its service credential's id, `graphql` / `rest`, as in ./tessera up)
    const deployables = objects
      .filter((o) => o.kind === "Deployment")
      .flatMap((d) => {
        const container = podSpecOf(d)?.spec.containers[0];
        if (!container?.env?.some((e) => e.name === "NATS_URL")) return [];
        return [envValue(container, "SERVICE_CLIENT_ID") ?? d.metadata.labels?.["app.kubernetes.io/name"] ?? ""];
      });
    expect(deployables.sort()).toEqual(users.map((u) => u.user).sort());
  });

  it("leaves out a disabled component, and places the ConfigMap in the NATS server's namespace when told", async () => {
    const objects = await render("pool-default", ["restGateway.enabled=false", "natsAuthorization.namespace=nats"]);
    const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-nats-authorization"));
    expect(cm?.metadata.namespace).toBe("nats");
    const users = usersOf(authorizationConf(objects) as string).map((u) => u.user);
    expect(users).not.toContain("rest");
    expect(users).toContain("graphql");
    const off = await render("pool-default", ["natsAuthorization.enabled=false"]);
    expect(authorizationConf(off)).toBeUndefined();
  });

  it("runs a real nats-server that includes the rendered block: each user within its permissions, nobody else", async () => {
    const conf = authorizationConf(await render("all-components")) as string;
    const port = await freePort();
    const passwords = Object.fromEntries(Object.keys(NATS_ACCESS).map((u) => [u, `pw-${u}-${port}`]));
    writeFileSync(join(scratch, "authorization.conf"), conf);
    const main = join(scratch, "nats.conf");
    writeFileSync(main, 'include "./authorization.conf"\n');
    const env = { ...process.env };
    for (const [user, password] of Object.entries(passwords))
      env[`TESSERA_NATS_PASSWORD_${user.toUpperCase()}`] = password;

    const check = await run(natsServerBinary, ["-t", "-c", main], { env });
    expect(check.code, check.stderr + check.stdout).toBe(0);

    const server: ChildProcess = spawn(
      natsServerBinary,
      ["-c", main, "-a", "127.0.0.1", "-p", String(port), "-js", "-sd", join(scratch, "store")],
      { env, stdio: "ignore" },
    );
    const conns: NatsConnection[] = [];
    try {
      await waitForPort(port, 20_000);
      const url = `nats://127.0.0.1:${port}`;
      const as = async (user: string) => {
        const nc = await connectNats(natsUrlWithCredentials(url, user, passwords[user] as string), user, {
          maxReconnectAttempts: 0,
        });
        conns.push(nc);
        return nc;
      };
      const tenancy = await as("tenancy");
      await ensureStreams(await jetstreamManager(tenancy, { timeout: 5_000 }));
      const tenant = "0b6f3c1e-2a7d-4f43-9d2e-7f1a2b3c4d5e";
      const ack = await jetstream(tenancy).publish(`tessera.evt.${tenant}.tenant.created`, "e", {
        expect: { streamName: EVENTS_STREAM },
      });
      expect(ack.stream).toBe(EVENTS_STREAM);
      const refused = await jetstream(await as("projects"), { timeout: 3_000 })
        .publish(`tessera.evt.${tenant}.tenant.created`, "forged")
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(String((refused as Error)?.cause ?? refused)).toMatch(/Permissions Violation for Publish/);
      expect((refused as Error).cause).toBeInstanceOf(PermissionViolationError);
      await expect(connectNats(url, "anonymous", { maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization/i);
    } finally {
      for (const nc of conns) await nc.close().catch(() => {});
      server.kill("SIGTERM");
    }
  });
});
