import { randomUUID } from "node:crypto";
import { RowLevelSecurityViolationException } from "@mikro-orm/core";
import { runAsTenant } from "@tessera/platform/context";
import { createDb, type Db, withPlatformTransaction, withTenantTransaction } from "@tessera/platform/db";
import { InvalidArgument, PermissionDenied } from "@tessera/platform/errors";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Note } from "./notes.ts";
import { type NotesDatabase, notesDatabase, query } from "./setup.ts";

const A = randomUUID();
const B = randomUUID();
const INSERT = "insert into notes (id, tenant_id, body, created_at, updated_at) values ($1, $2, $3, now(), now())";

let env: NotesDatabase;
let app: Db;
let noteA1: string;

async function bodies(db: Db, tenantId: string, filters = true): Promise<string[]> {
  const notes = await withTenantTransaction(db.orm, (em) => em.find(Note, {}, filters ? {} : { filters: false }), {
    tenantId,
  });
  return notes.map((n) => n.body).sort();
}

beforeAll(async () => {
  env = await notesDatabase("db-rls");
  app = await createDb({ url: env.appUrl, entities: [Note], poolMax: 2, logger: env.logger, debug: ["query"] });
  noteA1 = await withTenantTransaction(
    app.orm,
    async (em) => {
      const a1 = em.create(Note, { body: "a1" });
      em.create(Note, { body: "a2" });
      return a1.id;
    },
    { tenantId: A },
  );
  await withTenantTransaction(app.orm, async (em) => void em.create(Note, { body: "b1" }), { tenantId: B });
});

afterAll(async () => {
  await app?.close();
  await env?.drop();
});

describe("without a tenant set", () => {
  test("a plain app-role connection sees no tenant rows and cannot insert any", async () => {
    expect(await env.admin("select id from notes")).toHaveLength(3);
    expect(await query(env.appUrl, "select id from notes")).toEqual([]);
    await expect(query(env.appUrl, INSERT, [randomUUID(), A, "sneaky"])).rejects.toThrow(/row-level security/);
  });

  test("a platform transaction sees no tenant rows, cannot insert any, and still works on platform tables", async () => {
    // run a tenant transaction first so the pooled connections carry an ended tenant setting
    expect(await bodies(app, A)).toEqual(["a1", "a2"]);
    const result = await withPlatformTransaction(app.orm, async (em) => {
      await em.execute("insert into platform_settings (key, value) values ('plan', 'gold')", [], "run");
      return {
        notes: await em.execute("select id from notes"),
        settings: await em.execute<Array<{ value: string }>>("select value from platform_settings"),
      };
    });
    expect(result.notes).toEqual([]);
    expect(result.settings).toEqual([{ value: "gold" }]);
    await expect(
      withPlatformTransaction(app.orm, (em) =>
        em.execute("insert into notes (id, tenant_id, body, created_at, updated_at) values (?, ?, 'x', now(), now())", [
          randomUUID(),
          A,
        ]),
      ),
    ).rejects.toBeInstanceOf(RowLevelSecurityViolationException);
    expect(await env.admin("select id from notes")).toHaveLength(3);
  });

  test("even the owner role is bound by the policies (FORCE ROW LEVEL SECURITY)", async () => {
    expect(await query(env.ownerUrl, "select id from notes")).toEqual([]);
  });
});

describe("the app role", () => {
  test("cannot disable row-level security, drop the policy, or become the owner", async () => {
    await expect(query(env.appUrl, "alter table notes disable row level security")).rejects.toThrow(/must be owner/);
    await expect(query(env.appUrl, "drop policy tenant_isolation on notes")).rejects.toThrow(/must be owner/);
    await expect(query(env.appUrl, `set role "${env.ownerRole}"`)).rejects.toThrow(/permission denied to set role/);
  });

  test("is neither superuser nor BYPASSRLS, and owns nothing", async () => {
    const [me] = await query<{ rolsuper: boolean; rolbypassrls: boolean }>(
      env.appUrl,
      "select rolsuper, rolbypassrls from pg_roles where rolname = current_user",
    );
    expect(me).toEqual({ rolsuper: false, rolbypassrls: false });
    const [owned] = await env.admin<{ n: number }>(
      `select (select count(*) from pg_class where relowner = r.oid)
            + (select count(*) from pg_namespace where nspowner = r.oid)
            + (select count(*) from pg_database where datdba = r.oid) as n
       from pg_roles r where rolname = $1`,
      [env.appRole],
    );
    expect(Number(owned?.n)).toBe(0);
  });
});

test("a row whose tenant differs from the transaction's is rejected (WITH CHECK)", async () => {
  await expect(
    withTenantTransaction(app.orm, async (em) => void em.create(Note, { body: "forged", tenantId: B }), {
      tenantId: A,
    }),
  ).rejects.toBeInstanceOf(RowLevelSecurityViolationException);
  await expect(
    withTenantTransaction(
      app.orm,
      (em) => em.execute("update notes set tenant_id = ? where id = ?", [B, noteA1], "run"),
      { tenantId: A },
    ),
  ).rejects.toBeInstanceOf(RowLevelSecurityViolationException);
  expect(await bodies(app, B)).toEqual(["b1"]);
  expect(await bodies(app, A)).toEqual(["a1", "a2"]);
});

test("the ORM filter alone keeps tenants apart (RLS is the second wall)", async () => {
  // a superuser connection bypasses RLS, so only the filter is at work here
  const superuser = await createDb({ url: env.db.adminUrl, entities: [Note], poolMax: 1, logger: env.logger });
  try {
    expect(await bodies(superuser, A)).toEqual(["a1", "a2"]);
    expect(await bodies(superuser, B)).toEqual(["b1"]);
    expect(await bodies(superuser, A, false)).toEqual(["a1", "a2", "b1"]);
  } finally {
    await superuser.close();
  }
});

test("tenant B cannot read, update or delete tenant A's row by id", async () => {
  const outcome = await withTenantTransaction(
    app.orm,
    async (em) => ({
      found: await em.findOne(Note, { id: noteA1 }),
      foundUnfiltered: await em.findOne(Note, { id: noteA1 }, { filters: false }),
      updated: await em.nativeUpdate(Note, { id: noteA1 }, { body: "pwned" }),
      deleted: await em.nativeDelete(Note, { id: noteA1 }),
      rawUpdated: await em.execute("update notes set body = 'pwned' where id = ?", [noteA1], "run"),
      rawDeleted: await em.execute("delete from notes where id = ?", [noteA1], "run"),
    }),
    { tenantId: B },
  );
  expect(outcome).toMatchObject({
    found: null,
    foundUnfiltered: null,
    updated: 0,
    deleted: 0,
    rawUpdated: { affectedRows: 0 },
    rawDeleted: { affectedRows: 0 },
  });
  expect(await bodies(app, A)).toEqual(["a1", "a2"]);
});

describe("the tenant of a transaction", () => {
  test("comes from the request context, and SQL log lines carry it", async () => {
    const before = env.logs.lines().length;
    const seen = await runAsTenant(A, () => withTenantTransaction(app.orm, (em) => em.find(Note, {})));
    expect(seen.map((n) => n.body).sort()).toEqual(["a1", "a2"]);
    const sqlLines = env.logs
      .lines()
      .slice(before)
      .filter((l) => l.orm === "query");
    expect(sqlLines.length).toBeGreaterThan(0);
    expect(sqlLines.every((l) => l.tenant_id === A)).toBe(true);
  });

  test("that is malformed is an error, not a query", async () => {
    const before = env.logs.lines().filter((l) => l.orm === "query").length;
    let called = false;
    const fn = async () => {
      called = true;
    };
    await expect(withTenantTransaction(app.orm, fn, { tenantId: "not-a-uuid" })).rejects.toBeInstanceOf(
      InvalidArgument,
    );
    await expect(runAsTenant("x' or '1'='1", () => withTenantTransaction(app.orm, fn))).rejects.toBeInstanceOf(
      InvalidArgument,
    );
    await expect(withTenantTransaction(app.orm, fn)).rejects.toThrow(/no tenant in context/);
    expect(called).toBe(false);
    expect(env.logs.lines().filter((l) => l.orm === "query").length).toBe(before);
  });

  test("cannot be switched away from the request's tenant by an argument", async () => {
    await expect(
      runAsTenant(A, () => withTenantTransaction(app.orm, async () => "x", { tenantId: B })),
    ).rejects.toBeInstanceOf(PermissionDenied);
  });
});

test("logs never contain the roles' passwords", () => {
  const text = env.logs.text();
  expect(text.length).toBeGreaterThan(0);
  expect(text).not.toContain(env.passwords.app);
  expect(text).not.toContain(env.passwords.owner);
});

test("every statement and every wait for a connection has a deadline", async () => {
  const db = await createDb({
    url: env.appUrl,
    entities: [Note],
    poolMax: 1,
    statementTimeoutMs: 200,
    acquireTimeoutMs: 300,
    logger: env.logger,
  });
  try {
    await expect(withPlatformTransaction(db.orm, (em) => em.execute("select pg_sleep(5)"))).rejects.toThrow(
      /statement timeout/,
    );
    let release = () => {};
    const holding = withPlatformTransaction(db.orm, () => new Promise<void>((r) => (release = r)));
    await expect(withPlatformTransaction(db.orm, (em) => em.execute("select 1"))).rejects.toThrow(/timeout/);
    release();
    await holding;
    expect(await withPlatformTransaction(db.orm, (em) => em.execute("select 1 as ok"))).toEqual([{ ok: 1 }]);
  } finally {
    await db.close();
  }
});
