import { randomUUID } from "node:crypto";
import {
  createDb,
  type Db,
  enableTenantRls,
  provisionDatabase,
  runMigrations,
  withPlatformTransaction,
  withTenantTransaction,
} from "@tessera/platform/db";
import { createLogger } from "@tessera/platform/log";
import { captureLogs, freshDatabase, registerSecret, type TestDatabase } from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { migrations, Note, PlatformSetting } from "./notes.ts";
import { dropRoles, newPasswords, query, uniqueRoles } from "./setup.ts";

let db: TestDatabase;
const roles = uniqueRoles();
const passwords = newPasswords();
const open: Db[] = [];
const entities = [Note, PlatformSetting];
let logger: ReturnType<typeof createLogger>;

async function provision() {
  return provisionDatabase({ adminUrl: inject("pgAdminUrl"), database: db.name, ...roles, passwords });
}

beforeAll(async () => {
  db = await freshDatabase("dbprov");
  logger = createLogger({ service: "db-kit-test", destination: captureLogs("db-provision").stream });
});

afterAll(async () => {
  for (const d of open) await d.close();
  await db?.drop();
  await dropRoles(roles.ownerRole, roles.appRole);
});

describe("provisionDatabase", () => {
  test("creates a database, an owner role and an app role that is bound by RLS, and can run again", async () => {
    const first = await provision();
    const owner = await createDb({ url: first.ownerUrl, entities, migrations, logger });
    const owner2 = await createDb({ url: first.ownerUrl, entities, migrations, logger, poolMax: 1 });
    open.push(owner, owner2);
    // two processes starting together: the advisory lock lets one apply, the other finds nothing to do
    const runs = await Promise.all([runMigrations(owner.orm), runMigrations(owner2.orm)]);
    expect(runs.flat().sort()).toEqual(["0001_create_notes", "0002_create_platform_settings"]);
    expect(await runMigrations(owner.orm)).toEqual([]);

    const again = await provision();
    expect(again).toEqual(first);

    const attrs = await query<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean; rolcreaterole: boolean }>(
      db.adminUrl,
      "select rolname, rolsuper, rolbypassrls, rolcreaterole from pg_roles where rolname = any($1) order by rolname",
      [[roles.ownerRole, roles.appRole]],
    );
    expect(attrs.map(({ rolname, ...rest }) => rest)).toEqual([
      { rolsuper: false, rolbypassrls: false, rolcreaterole: false },
      { rolsuper: false, rolbypassrls: false, rolcreaterole: false },
    ]);
    const [owners] = await query<{ database: string; schema: string; notes: string }>(
      db.adminUrl,
      `select (select pg_get_userbyid(datdba) from pg_database where datname = current_database()) as database,
              (select pg_get_userbyid(nspowner) from pg_namespace where nspname = 'public') as schema,
              (select pg_get_userbyid(relowner) from pg_class where relname = 'notes') as notes`,
    );
    expect(owners).toEqual({ database: roles.ownerRole, schema: roles.ownerRole, notes: roles.ownerRole });
    const [privileges] = await query<Record<string, boolean>>(
      db.adminUrl,
      `select has_table_privilege($1, 'notes', 'SELECT, INSERT, UPDATE, DELETE') as dml,
              has_table_privilege($1, 'notes', 'TRUNCATE') as truncate,
              has_table_privilege($1, 'notes', 'REFERENCES') as references,
              has_schema_privilege($1, 'public', 'CREATE') as create_in_schema,
              pg_has_role($1, $2, 'MEMBER') as member_of_owner`,
      [roles.appRole, roles.ownerRole],
    );
    expect(privileges).toEqual({
      dml: true,
      truncate: false,
      references: false,
      create_in_schema: false,
      member_of_owner: false,
    });

    const app = await createDb({ url: first.appUrl, entities, poolMax: 1, logger });
    open.push(app);
    const tenant = randomUUID();
    await withTenantTransaction(app.orm, async (em) => void em.create(Note, { body: "hello" }), { tenantId: tenant });
    const notes = await withTenantTransaction(app.orm, (em) => em.find(Note, {}), { tenantId: tenant });
    expect(notes.map((n) => ({ body: n.body, tenantId: n.tenantId }))).toEqual([{ body: "hello", tenantId: tenant }]);
    await expect(query(first.appUrl, "create table sneaky (id int)")).rejects.toThrow(/permission denied/);
  });

  test("entity declarations match the migrations, so generated migrations keep the tenant policy", async () => {
    const [owner] = open;
    if (!owner) throw new Error("previous test did not run");
    const diff = await owner.orm.schema.getUpdateSchemaSQL({ wrap: false });
    expect(diff.trim()).toBe("");
  });

  test("refuses unsafe names and weak passwords before touching the server", async () => {
    const base = { adminUrl: inject("pgAdminUrl"), database: db.name, ...roles, passwords };
    await expect(provisionDatabase({ ...base, appRole: 'x"; drop role postgres; --' })).rejects.toThrow(/app role/);
    await expect(provisionDatabase({ ...base, ownerRole: "Owner" })).rejects.toThrow(/owner role/);
    await expect(provisionDatabase({ ...base, database: "pg_catalog" })).rejects.toThrow(/database name/);
    await expect(provisionDatabase({ ...base, appRole: roles.ownerRole })).rejects.toThrow(/must differ/);
    await expect(provisionDatabase({ ...base, passwords: { owner: "short", app: passwords.app } })).rejects.toThrow(
      /passwords.owner/,
    );
    await expect(
      provisionDatabase({ ...base, passwords: { owner: passwords.owner, app: "has spaces in it, sixteen+" } }),
    ).rejects.toThrow(/printable ASCII/);
  });
});

describe("createDb", () => {
  test("fails fast and clearly on a bad URL, bad options or a wrong password, without revealing it", async () => {
    await expect(createDb({ url: "mysql://localhost/x", entities })).rejects.toThrow(/postgres:\/\/ URL/);
    await expect(createDb({ url: "not a url", entities })).rejects.toThrow(/postgres:\/\/ URL/);
    const appUrl = new URL(db.adminUrl);
    appUrl.username = roles.appRole;
    await expect(createDb({ url: appUrl.toString(), entities, poolMax: 0 })).rejects.toThrow(/poolMax/);
    const wrong = registerSecret("wrong-password-1234");
    appUrl.password = wrong;
    const err = await createDb({ url: appUrl.toString(), entities, logger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String(err)).toMatch(/password authentication failed/);
    expect(String(err)).not.toContain(wrong);
  });

  test("works without entities, for services that only use platform tables", async () => {
    const { appUrl } = await provision();
    const bare = await createDb({ url: appUrl, entities: [], poolMax: 1, logger });
    open.push(bare);
    const rows = await withPlatformTransaction(bare.orm, (em) => em.execute("select count(*)::int as n from notes"));
    expect(rows).toEqual([{ n: 0 }]);
  });
});

describe("enableTenantRls", () => {
  test("enables and forces RLS and creates the standard policy", () => {
    expect(enableTenantRls("notes")).toEqual([
      'alter table "notes" enable row level security;',
      'alter table "notes" force row level security;',
      `create policy "tenant_isolation" on "notes" as permissive for all to public using ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid) with check ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);`,
    ]);
    expect(enableTenantRls("billing.invoices", { column: "org_id" })[2]).toContain('on "billing"."invoices"');
  });

  test("refuses table and column names that are not plain identifiers", () => {
    expect(() => enableTenantRls("notes; drop table notes")).toThrow(TypeError);
    expect(() => enableTenantRls("a.b.c")).toThrow(TypeError);
    expect(() => enableTenantRls("notes", { column: "tenant_id)--" })).toThrow(TypeError);
  });
});
