import { disableTenantRls, enableTenantRls, Migration } from "@tessera/platform/db";

const TABLES = ["scim_group_members", "scim_groups", "scim_users", "scim_settings", "scim_tokens"];

/**
 * SCIM 2.0 provisioning, all tenant-owned (RLS forced with the standard policy): the tenant's
 * bearer tokens (SHA-256 of the secret; one narrow SELECT policy opened by `app.scim_token_prefix`
 * for the lookup before the tenant is known, like `api_keys_by_prefix`), its group → role mapping,
 * the per-tenant SCIM attributes of provisioned users (users stay global; `active = false` keeps the
 * record of a user whose membership SCIM withdrew), and groups with their members.
 */
export class Scim extends Migration {
  override up(): void {
    const sql = (s: string) => this.addSql(s);
    sql(`create table "scim_tokens" (
      "id" uuid primary key,
      "tenant_id" uuid not null,
      "prefix" text not null unique,
      "secret_hash" text not null,
      "created_by" text not null,
      "replaces_id" uuid,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      "expires_at" timestamptz,
      "last_used_at" timestamptz,
      "revoked_at" timestamptz
    )`);
    sql(`create index "scim_tokens_tenant_idx" on "scim_tokens" ("tenant_id", "created_at" desc)`);
    for (const s of enableTenantRls("scim_tokens")) sql(s);
    sql(`create policy "scim_tokens_by_prefix" on "scim_tokens" for select
      using ("prefix" = nullif(current_setting('app.scim_token_prefix', true), ''))`);

    sql(`create table "scim_settings" (
      "tenant_id" uuid primary key,
      "group_roles" jsonb not null default '[]',
      "updated_at" timestamptz not null default now()
    )`);
    for (const s of enableTenantRls("scim_settings")) sql(s);

    sql(`create table "scim_users" (
      "tenant_id" uuid not null,
      "user_id" uuid not null references "users" ("id") on delete cascade,
      "external_id" text,
      "attrs" jsonb not null default '{}',
      "active" boolean not null default true,
      "role" text not null check (role in ('owner', 'admin', 'member', 'viewer')),
      "role_from_groups" boolean not null default false,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      primary key ("tenant_id", "user_id")
    )`);
    sql(`create index "scim_users_external_idx" on "scim_users" ("tenant_id", "external_id")`);
    for (const s of enableTenantRls("scim_users")) sql(s);

    sql(`create table "scim_groups" (
      "id" uuid primary key,
      "tenant_id" uuid not null,
      "display_name" text not null,
      "external_id" text,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now()
    )`);
    sql(`create unique index "scim_groups_name_idx" on "scim_groups" ("tenant_id", lower("display_name"))`);
    for (const s of enableTenantRls("scim_groups")) sql(s);

    sql(`create table "scim_group_members" (
      "id" uuid not null default gen_random_uuid() unique,
      "tenant_id" uuid not null,
      "group_id" uuid not null references "scim_groups" ("id") on delete cascade,
      "user_id" uuid not null references "users" ("id") on delete cascade,
      primary key ("tenant_id", "group_id", "user_id")
    )`);
    sql(`create index "scim_group_members_user_idx" on "scim_group_members" ("tenant_id", "user_id")`);
    for (const s of enableTenantRls("scim_group_members")) sql(s);
  }

  override down(): void {
    for (const t of TABLES) for (const s of disableTenantRls(t)) this.addSql(s);
    this.addSql(`drop table if exists ${TABLES.map((t) => `"${t}"`).join(", ")}`);
  }
}
