/**
 * SCIM benchmark: `GET /scim/v2/Users` of one tenant with 10,000 members (p50/p95): a page of 100
 * in the middle of the list, the last page, an IdP's `userName eq` lookup and a `co` filter, over
 * identity's HTTP port with the tenant's SCIM token. Starts its own PostgreSQL and NATS (or uses
 * DATABASE_URL / NATS_URL) and identity in-process on 127.0.0.1, and drops its database and roles
 * at the end. Usage: `node bench/scim-list.ts [--members N] [--seconds N] [--smoke]`. See bench/README.md.
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { runWithContext } from "@tessera/platform/context";
import { withTenantTransaction } from "@tessera/platform/db";
import { createScimToken } from "../services/identity/src/domain/scim-tokens.ts";
import { runIdentityBench } from "./support/identity.ts";
import { measureLoad, percentile } from "./support/load.ts";
import { textTable } from "./support/report.ts";

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
await runIdentityBench(
  { label: "scim", poolMax: 10, logLevel: process.env.LOG_LEVEL ?? "warn" },
  async ({ app: { orm }, identity, fail }) => {
    const base = identity.jwksUrl().replace("/.well-known/jwks.json", "/scim/v2");

    const tenantId = randomUUID();
    const seedStart = performance.now();
    await withTenantTransaction(
      orm,
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
        orm,
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
    const principal = { subject: randomUUID(), kind: "user" as const, roles: ["owner"], scopes: [], actorChain: [] };
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
      const { result, sorted } = await measureLoad(name, call, {
        warmupMs: smoke ? 100 : 500,
        durationMs: seconds * 1000,
        concurrency: 4,
      });
      if (result.errors > 0) fail();
      const ms = (p: number) => (percentile(sorted, p) / 1e6).toFixed(1);
      rows.push([name, String(result.calls), (result.calls / result.elapsedSec).toFixed(0), ms(0.5), ms(0.95)]);
    }
    if (smoke) console.log("SMOKE RUN: tiny counts, numbers mean nothing");
    console.log(
      `SCIM list users, ${members} members, ${seconds}s per scenario, concurrency 4, client and server in one process`,
    );
    console.log(textTable(["scenario", "ops", "ops/s", "p50 ms", "p95 ms"], rows));
  },
);
