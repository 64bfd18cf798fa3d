import { Migration, migrationRoles } from "@tessera/platform/db";
import { eventsMigrationSql } from "@tessera/platform/events";
import { disableRegistryRls, enableRegistryRls } from "../src/domain/scope.ts";

/** The tenant registry, verified domains, the provisioning saga's record, and the outbox. */
export class CreateRegistry extends Migration {
  override up(): void {
    this.addSql(`create table "tenants" (
      "id" uuid not null primary key,
      "slug" text not null,
      "display_name" text not null,
      "tier" text not null check ("tier" in ('pool', 'bridge', 'silo')),
      "plan" text not null,
      "status" text not null check ("status" in ('provisioning', 'active', 'suspended', 'offboarding', 'deleted')),
      "status_reason" text,
      "region" text not null,
      "placement_database" text not null,
      "placement_namespace" text not null,
      "create_request_id" uuid not null,
      "created_at" timestamptz(3) not null,
      "updated_at" timestamptz(3) not null,
      constraint "tenants_slug_unique" unique ("slug"),
      constraint "tenants_create_request_id_unique" unique ("create_request_id")
    );`);
    this.addSql(`create index "tenants_list_index" on "tenants" ("created_at" desc, "id" desc);`);
    this.addSql(`create table "tenant_domains" (
      "domain" text not null,
      "tenant_id" uuid not null references "tenants" ("id") on delete cascade,
      "created_at" timestamptz(3) not null,
      constraint "tenant_domains_pkey" primary key ("domain")
    );`);
    this.addSql(`create index "tenant_domains_tenant_id_index" on "tenant_domains" ("tenant_id");`);
    this.addSql(`create table "provisioning_steps" (
      "tenant_id" uuid not null references "tenants" ("id") on delete cascade,
      "step" text not null,
      "position" integer not null,
      "state" text not null check ("state" in ('pending', 'running', 'done', 'failed')),
      "attempts" integer not null default 0,
      "last_error" text,
      "next_attempt_at" timestamptz(3) not null,
      "lease_until" timestamptz(3),
      "updated_at" timestamptz(3) not null,
      constraint "provisioning_steps_pkey" primary key ("tenant_id", "step"),
      constraint "provisioning_steps_position_unique" unique ("tenant_id", "position")
    );`);
    this.addSql(
      `create index "provisioning_steps_open_index" on "provisioning_steps" ("next_attempt_at") where "state" <> 'done';`,
    );
    for (const sql of enableRegistryRls("tenants", "id")) this.addSql(sql);
    for (const sql of enableRegistryRls("tenant_domains", "tenant_id")) this.addSql(sql);
    for (const sql of enableRegistryRls("provisioning_steps", "tenant_id")) this.addSql(sql);
    const roles = migrationRoles();
    for (const sql of eventsMigrationSql({ appRole: roles.app, relayRole: roles.owner })) this.addSql(sql);
  }

  override down(): void {
    for (const table of ["provisioning_steps", "tenant_domains", "tenants"]) {
      for (const sql of disableRegistryRls(table)) this.addSql(sql);
      this.addSql(`drop table "${table}";`);
    }
  }
}
