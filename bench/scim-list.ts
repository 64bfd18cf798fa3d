/**
 * SCIM benchmark: `GET /scim/v2/Users` of one tenant with 10,000 members (p50/p95): a page of 100
 * in the middle of the list, the last page, an IdP's `userName eq` lookup and a `co` filter, over
 * identity's HTTP port with the tenant's SCIM token. Starts its own PostgreSQL and NATS (or uses
 * DATABASE_URL / NATS_URL) and identity in-process on 127.0.0.1, and drops its database and roles
 * at the end. Usage: `node bench/scim-list.ts [--members N] [--seconds N] [--smoke]`. See bench/README.md.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startInfra } from "@tessera/dev/infra";
import { parseConfig } from "@tessera/platform/config";
import { runWithContext } from "@tessera/platform/context";
import {
  createDb,
  dropDatabase,
  provisionDatabase,
  runMigrations,
  setMigrationRoles,
  withTenantTransaction,
} from "@tessera/platform/db";
import { createLogger } from "@tessera/platform/log";
import pg from "pg";
import { migrations } from "../services/identity/migrations/index.ts";
import { identityEnv, settingsFrom } from "../services/identity/src/config.ts";
import { createScimToken } from "../services/identity/src/domain/scim-tokens.ts";
import { build } from "../services/identity/src/server.ts";
import { LatencyRecorder, percentile, runLoad } from "./support/load.ts";

const { values } = parseArgs({
  options: {
    members: { type: "string", default: "10000" },
    seconds: { type: "string", default: "5" },
    smoke: { type: "boolean", default: false },
  },
});
const smoke = values.smoke;
const members = smoke ? 300 : Number(values.members);
const seconds = smoke ? 0.5 : Number(values.seconds);
const dataDir = mkdtempSync(join(tmpdir(), "tessera-bench-scim-"));
const infra = await startInfra({
  dataDir,
  persistent: false,
  fast: true,
  externalPgUrl: process.env.DATABASE_URL,
  externalNatsUrl: process.env.NATS_URL,
});
const logger = createLogger({ service: "scim-bench", level: process.env.LOG_LEVEL ?? "warn" });
const database = `bench_scim_${randomBytes(4).toString("hex")}`;
const roles = { owner: `${database}_owner`, app: `${database}_app` };
let failed = false;
try {
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
  });
  const app = await createDb({ url: appUrl, entities: [], logger, poolMax: 10 });
  const identity = await build({ settings: settingsFrom(config), orm: app.orm, logger, port: 0, httpPort: 0 });
  await identity.server.listen();
  const base = identity.jwksUrl().replace("/.well-known/jwks.json", "/scim/v2");

  const tenantId = randomUUID();
  const seedStart = performance.now();
  await withTenantTransaction(
    app.orm,
    async (em) => {
      await em.execute(
        `insert into users (id, email, display_name)
         select gen_random_uuid(), 'member-' || i || '@bench.example', 'Member ' || i from generate_series(1, ?) i`,
        [members],
        "run",
      );
      await em.execute(
        `insert into memberships (tenant_id, user_id, role, created_at)
         select ?, id, 'member', now() - make_interval(secs => row_number() over (order by email)) from users`,
        [tenantId],
        "run",
      );
      await em.execute(
        `insert into scim_users (tenant_id, user_id, external_id, attrs, role)
         select ?, id, 'ext-' || id, jsonb_build_object('displayName', display_name,
           'emails', jsonb_build_array(jsonb_build_object('value', email, 'primary', true))), 'member' from users`,
        [tenantId],
        "run",
      );
      await em.execute("analyze", [], "run");
    },
    { tenantId },
  );
  if (process.env.SCIM_BENCH_EXPLAIN) {
    const { SCIM_USERS_RELATION } = await import("../services/identity/src/domain/scim-users.ts");
    const plan = await withTenantTransaction(
      app.orm,
      (em) =>
        em.execute(
          `explain analyze select r.*, count(*) over ()::int as total from ${SCIM_USERS_RELATION} where true order by r.created_at, r.id offset 5000 limit 100`,
          [tenantId, tenantId],
          "all",
        ),
      { tenantId },
    );
    console.log((plan as Array<Record<string, string>>).map((r) => Object.values(r)[0]).join("\n"));
  }
  const principal = { subject: "bench", kind: "user" as const, roles: ["owner"], scopes: [], actorChain: [] };
  const { secret } = await runWithContext({ tenantId, principal }, () => createScimToken(identity.deps, ""));
  console.log(`seeded ${members} members in ${Math.round(performance.now() - seedStart)} ms`);

  const headers = { authorization: `Bearer ${secret}` };
  const get = async (path: string, expectTotal?: number) => {
    const res = await fetch(`${base}${path}`, { headers });
    const body = (await res.json()) as { totalResults?: number };
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
    if (expectTotal !== undefined && body.totalResults !== expectTotal) {
      throw new Error(`${path}: totalResults ${body.totalResults}, expected ${expectTotal}`);
    }
  };
  const q = (filter: string) => `/Users?filter=${encodeURIComponent(filter)}`;
  const scenarios: Array<[string, () => Promise<void>]> = [
    ["page of 100 in the middle", () => get(`/Users?startIndex=${Math.floor(members / 2)}&count=100`, members)],
    ["last page of 100", () => get(`/Users?startIndex=${members - 99}&count=100`, members)],
    [
      "userName eq (IdP lookup)",
      () => get(q(`userName eq "member-${1 + Math.floor(Math.random() * members)}@bench.example"`), 1),
    ],
    ["userName co, first 100", () => get(`${q('userName co "-1"')}&count=100`)],
  ];
  const rows: string[][] = [];
  for (const [name, call] of scenarios) {
    await runLoad(call, smoke ? 100 : 500, 4);
    const rec = new LatencyRecorder();
    const result = await runLoad(call, seconds * 1000, 4, rec);
    if (result.errors > 0) {
      failed = true;
      console.error(`${name}: ${result.errors} errors, first:`, result.firstError);
    }
    const sorted = rec.sorted();
    const ms = (p: number) => (percentile(sorted, p) / 1e6).toFixed(1);
    rows.push([name, String(result.calls), (result.calls / result.elapsedSec).toFixed(0), ms(0.5), ms(0.95)]);
  }
  const header = ["scenario", "ops", "ops/s", "p50 ms", "p95 ms"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  if (smoke) console.log("SMOKE RUN: tiny counts, numbers mean nothing");
  console.log(
    `SCIM list users, ${members} members, ${seconds}s per scenario, concurrency 4, client and server in one process`,
  );
  console.log([line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n"));
  await identity.server.shutdown("bench done");
  await app.close();
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await dropDatabase(infra.pgAdminUrl, database).catch((err: unknown) => console.error(err));
  const admin = new pg.Client({ connectionString: infra.pgAdminUrl });
  await admin.connect();
  for (const role of Object.values(roles)) await admin.query(`drop role if exists "${role}"`).catch(() => undefined);
  await admin.end();
  await infra.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
