import { Migration } from "@tessera/platform/db";
import { disableRegistryRls, enableRegistryRls } from "../src/domain/scope.ts";

/**
 * Tier moves and deletions: the operation record (phase, lease, attempts), per-table copy progress,
 * export bundles, and the tenant's write-fence flag in the directory.
 */
export class TierOperations extends Migration {
  override up(): void {
    const sql = (s: string) => this.addSql(s);
    sql(`alter table "tenants" add column "writes_fenced" boolean not null default false`);
    sql(`create table "tenant_operations" (
      "id" uuid primary key,
      "tenant_id" uuid not null references "tenants" ("id") on delete cascade,
      "kind" text not null check ("kind" in ('move', 'delete')),
      "request_id" uuid,
      "state" text not null check ("state" in ('running', 'succeeded', 'rolled_back')),
      "phase" text not null,
      "rolling_back" boolean not null default false,
      "from_tier" text not null,
      "to_tier" text not null,
      "source_database" text not null,
      "target_database" text not null default '',
      "target_server" text not null default '',
      "attempts" integer not null default 0,
      "last_error" text,
      "lease_until" timestamptz(3),
      "next_attempt_at" timestamptz(3) not null default now(),
      "fenced_at" timestamptz(3),
      "switched_at" timestamptz(3),
      "export_id" uuid,
      "created_at" timestamptz(3) not null default now(),
      "updated_at" timestamptz(3) not null default now(),
      constraint "tenant_operations_request_unique" unique ("request_id")
    )`);
    sql(`create index "tenant_operations_tenant_idx" on "tenant_operations" ("tenant_id", "created_at" desc)`);
    sql(
      `create unique index "tenant_operations_one_running" on "tenant_operations" ("tenant_id") where "state" = 'running'`,
    );
    sql(`create table "operation_tables" (
      "operation_id" uuid not null references "tenant_operations" ("id") on delete cascade,
      "tenant_id" uuid not null,
      "service" text not null,
      "table_name" text not null,
      "position" integer not null,
      "rows_total" bigint not null default 0,
      "rows_done" bigint not null default 0,
      "last_key" text not null default '',
      "done" boolean not null default false,
      "updated_at" timestamptz(3) not null default now(),
      primary key ("operation_id", "service", "table_name")
    )`);
    sql(`create table "tenant_exports" (
      "id" uuid primary key,
      "tenant_id" uuid not null,
      "manifest" text not null,
      "signature" text not null,
      "key_id" text not null,
      "created_at" timestamptz(3) not null default now()
    )`);
    sql(`create index "tenant_exports_tenant_idx" on "tenant_exports" ("tenant_id")`);
    for (const s of enableRegistryRls("tenant_operations", "tenant_id")) sql(s);
    for (const s of enableRegistryRls("operation_tables", "tenant_id")) sql(s);
    for (const s of enableRegistryRls("tenant_exports", "tenant_id")) sql(s);
  }

  override down(): void {
    for (const table of ["tenant_exports", "operation_tables", "tenant_operations"]) {
      for (const s of disableRegistryRls(table)) this.addSql(s);
      this.addSql(`drop table "${table}"`);
    }
    this.addSql(`alter table "tenants" drop column "writes_fenced"`);
  }
}
