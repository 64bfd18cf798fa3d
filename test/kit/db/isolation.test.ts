import { randomUUID } from "node:crypto";
import { createDb, type Db, withTenantTransaction } from "@tessera/platform/db";
import { afterAll, beforeAll, expect, test } from "vitest";
import { Note } from "./notes.ts";
import { type NotesDatabase, notesDatabase } from "./setup.ts";

class Injected extends Error {}

const REQUESTS = 2_000;
const BATCH = 50;
const SEED = 5;

let env: NotesDatabase;
let db: Db;

beforeAll(async () => {
  env = await notesDatabase("db-isolation");
  db = await createDb({ url: env.appUrl, entities: [Note], poolMax: 2, logger: env.logger });
});

afterAll(async () => {
  await db?.close();
  await env?.drop();
});

const INSERT = "insert into notes (id, tenant_id, body, created_at, updated_at) values (?, ?, ?, now(), now())";

/**
 * The acceptance test: raw SQL (no ORM filter) as the app role, two tenants alternating over a
 * pool of two connections, with a share of transactions failing mid-way so connections go back to
 * the pool after rollbacks, aborted transactions and a rolled-back session-level set_config.
 */
test("2,000 interleaved requests over a pool of 2 never show one tenant's rows to the other", async () => {
  const tenants = [randomUUID(), randomUUID()] as const;
  const committed = new Map<string, number>(tenants.map((t) => [t, SEED]));
  for (const t of tenants) {
    await withTenantTransaction(
      db.orm,
      async (em) => {
        for (let i = 0; i < SEED; i++) em.create(Note, { body: `seed ${i}` });
      },
      { tenantId: t },
    );
  }

  let reads = 0;
  let foreignRows = 0;
  let undercounts = 0;
  let failures = 0;
  const request = async (i: number, floor: ReadonlyMap<string, number>) => {
    const tenant = tenants[i % 2] as string;
    const other = tenants[(i + 1) % 2] as string;
    const mode = Math.floor(i / 2) % 8;
    try {
      await withTenantTransaction(
        db.orm,
        async (em) => {
          if (mode === 4) throw new Injected("right after set_config");
          const rows = await em.execute<Array<{ tenant_id: string }>>("select tenant_id from notes");
          reads++;
          foreignRows += rows.filter((r) => r.tenant_id !== tenant).length;
          if (rows.length < (floor.get(tenant) ?? 0)) undercounts++;
          if (mode === 1 || mode === 2) await em.execute(INSERT, [randomUUID(), tenant, `note ${i}`], "run");
          if (mode === 2) throw new Injected("after a write");
          if (mode === 3) await em.execute("select 1/0");
          if (mode === 5) {
            await em.execute("select set_config('app.tenant_id', ?, false)", [other], "run");
            throw new Injected("after a session-level set_config");
          }
          if (mode === 6) {
            const viaOrm = await em.find(Note, {}, { filters: false });
            foreignRows += viaOrm.filter((n) => n.tenantId !== tenant).length;
          }
        },
        { tenantId: tenant },
      );
      if (mode === 1) committed.set(tenant, (committed.get(tenant) ?? 0) + 1);
    } catch (err) {
      const expected = err instanceof Injected || (mode === 3 && /division by zero/.test(String(err)));
      if (!expected) throw err;
      failures++;
    }
  };

  for (let start = 0; start < REQUESTS; start += BATCH) {
    const floor = new Map(committed);
    await Promise.all(Array.from({ length: BATCH }, (_, k) => request(start + k, floor)));
  }

  expect(foreignRows).toBe(0);
  expect(undercounts).toBe(0);
  expect(reads).toBe(REQUESTS - REQUESTS / 8);
  expect(failures).toBe((REQUESTS / 8) * 4);

  const counts = await env.admin<{ tenant_id: string; n: number }>(
    "select tenant_id, count(*)::int as n from notes group by tenant_id",
  );
  expect(new Map(counts.map((c) => [c.tenant_id, c.n]))).toEqual(committed);
  for (const t of tenants) {
    const [row] = await withTenantTransaction(
      db.orm,
      (em) => em.execute<Array<{ n: number }>>("select count(*)::int as n from notes"),
      { tenantId: t },
    );
    expect(row?.n).toBe(committed.get(t));
  }

  const connections = await env.admin<{ n: number }>(
    "select count(*)::int as n from pg_stat_activity where datname = $1 and usename = $2",
    [env.db.name, env.appRole],
  );
  expect(connections[0]?.n).toBeLessThanOrEqual(2);
});
