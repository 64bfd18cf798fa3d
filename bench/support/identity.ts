import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { parseConfig } from "@tessera/platform/config";
import { createDb, dropDatabase, provisionDatabase, runMigrations, setMigrationRoles } from "@tessera/platform/db";
import { createLogger } from "@tessera/platform/log";
import { ServiceCredentialService } from "@tessera/proto/tessera/identity/v1/auth_pb";
import pg from "pg";
import { migrations } from "../../services/identity/migrations/index.ts";
import { identityEnv, settingsFrom } from "../../services/identity/src/config.ts";
import { upsertServiceClient } from "../../services/identity/src/domain/service-clients.ts";
import { build } from "../../services/identity/src/server.ts";
import { startBenchInfra } from "./platform.ts";

/** How {@link runIdentityBench} sets identity up. */
export interface IdentityBenchOptions {
  /** Names the bench's temp dir (`tessera-bench-<label>-`), logger (`<label>-bench`) and database (`bench_<label>_…`). */
  label: string;
  logLevel?: string;
  /** identity's environment on top of the database, NATS and key-encryption settings. */
  env?: Record<string, string>;
  poolMax: number;
}

async function start(
  options: IdentityBenchOptions,
  infra: Awaited<ReturnType<typeof startBenchInfra>>["infra"],
  database: string,
) {
  const logger = createLogger({ service: `${options.label}-bench`, level: options.logLevel ?? "warn" });
  const roles = { owner: `${database}_owner`, app: `${database}_app` };
  const { ownerUrl, appUrl } = await provisionDatabase({
    adminUrl: infra.pgAdminUrl,
    database,
    ownerRole: roles.owner,
    appRole: roles.app,
    passwords: { owner: randomBytes(18).toString("base64url"), app: randomBytes(18).toString("base64url") },
  });
  setMigrationRoles(roles);
  const migrator = await createDb({ url: ownerUrl, entities: [], migrations, logger });
  await runMigrations(migrator.orm);
  await migrator.close();

  const config = parseConfig("identity", identityEnv, {
    DATABASE_URL: appUrl,
    OUTBOX_RELAY_DATABASE_URL: ownerUrl,
    NATS_URL: infra.natsUrl,
    IDENTITY_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    ...options.env,
  });
  const settings = settingsFrom(config);
  const app = await createDb({ url: appUrl, entities: [], logger, poolMax: options.poolMax });
  const identity = await build({ settings, orm: app.orm, logger, port: 0, httpPort: 0 });
  const { url } = await identity.server.listen();
  const transport = createGrpcTransport({ baseUrl: url });
  let failed = false;
  return {
    config,
    settings,
    app,
    identity,
    transport,
    /** Marks the run failed: the process exits 1 once it is cleaned up. */
    fail() {
      failed = true;
    },
    failed: () => failed,
    /** Registers the `bench-edge` service client and answers the headers its identity token goes in. */
    async edgeHeaders(audiences: string[]) {
      const secret = randomBytes(24).toString("base64url");
      await upsertServiceClient(identity.deps, { id: "bench-edge", secret, audiences, roles: ["edge"] });
      const { accessToken } = await createClient(ServiceCredentialService, transport).issueServiceToken({
        clientId: "bench-edge",
        clientSecret: secret,
        audience: "identity",
      });
      return { authorization: `Bearer ${accessToken}` };
    },
  };
}

/** identity in-process on 127.0.0.1 over its own migrated database, as {@link runIdentityBench} hands it over. */
export type IdentityBench = Awaited<ReturnType<typeof start>>;

/**
 * Starts PostgreSQL and NATS (or uses DATABASE_URL / NATS_URL), a fresh identity database and identity
 * itself, runs `body`, then shuts identity down, drops the database and its roles, stops what it started
 * and exits: 1 when `body` threw or called `fail()`.
 */
export async function runIdentityBench(
  options: IdentityBenchOptions,
  body: (bench: IdentityBench) => Promise<void>,
): Promise<never> {
  const { dataDir, infra } = await startBenchInfra(options.label);
  const database = `bench_${options.label.replaceAll("-", "_")}_${randomBytes(4).toString("hex")}`;
  let failed = false;
  try {
    const bench = await start(options, infra, database);
    await body(bench);
    failed = bench.failed();
    await bench.identity.server.shutdown("bench done");
    await bench.app.close();
  } catch (err) {
    failed = true;
    console.error(err);
  } finally {
    await dropDatabase(infra.pgAdminUrl, database).catch((err: unknown) => console.error(err));
    const admin = new pg.Client({ connectionString: infra.pgAdminUrl });
    await admin.connect();
    for (const role of [`${database}_owner`, `${database}_app`]) {
      await admin.query(`drop role if exists "${role}"`).catch(() => undefined);
    }
    await admin.end();
    await infra.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}
