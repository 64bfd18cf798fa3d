import { disableTenantRls, enableTenantRls, Migration, migrationRoles } from "@tessera/platform/db";
import { eventsMigrationSql } from "@tessera/platform/events";

const roleCheck = `check (role in ('owner', 'admin', 'member', 'viewer'))`;

/**
 * identity's schema. Users, refresh tokens, signing keys, service clients, login counters and the
 * tenant-status projection are platform tables (no RLS; identity alone reads them). Memberships,
 * invitations and API keys are tenant-owned: RLS forced with the standard tenant policy, plus one
 * narrow SELECT policy each for the cross-tenant lookups login and token exchange need, opened
 * only by a transaction-local setting that names exactly one user, invitation hash or key prefix.
 */
export class InitialSchema extends Migration {
  override up(): void {
    const sql = (s: string) => this.addSql(s);
    sql(`create table "users" (
      "id" uuid primary key,
      "email" text not null check ("email" = lower("email") and length("email") between 3 and 254),
      "display_name" text not null,
      "password_hash" text,
      "platform_roles" text[] not null default '{}',
      "disabled_at" timestamptz,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now()
    )`);
    sql(`create unique index "users_email_idx" on "users" ("email")`);

    sql(`create table "memberships" (
      "tenant_id" uuid not null,
      "user_id" uuid not null references "users" ("id") on delete cascade,
      "role" text not null ${roleCheck},
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      primary key ("tenant_id", "user_id")
    )`);
    sql(`create index "memberships_user_idx" on "memberships" ("user_id")`);
    for (const s of enableTenantRls("memberships")) sql(s);
    sql(`create policy "memberships_of_user" on "memberships" for select
      using ("user_id" = nullif(current_setting('app.user_id', true), '')::uuid)`);

    sql(`create table "invitations" (
      "id" uuid primary key,
      "tenant_id" uuid not null,
      "email" text not null,
      "role" text not null ${roleCheck},
      "token_hash" text not null unique,
      "invited_by" text not null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      "expires_at" timestamptz not null,
      "accepted_at" timestamptz,
      "accepted_by" uuid,
      "revoked_at" timestamptz
    )`);
    sql(`create index "invitations_tenant_idx" on "invitations" ("tenant_id", "created_at" desc, "id" desc)`);
    for (const s of enableTenantRls("invitations")) sql(s);
    sql(`create policy "invitations_by_token" on "invitations" for select
      using ("token_hash" = nullif(current_setting('app.invitation_token_hash', true), ''))`);

    sql(`create table "api_keys" (
      "id" uuid primary key,
      "tenant_id" uuid not null,
      "prefix" text not null unique,
      "secret_hash" text not null,
      "display_name" text not null,
      "role" text not null ${roleCheck},
      "scopes" text[] not null,
      "created_by" text not null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      "expires_at" timestamptz,
      "last_used_at" timestamptz,
      "revoked_at" timestamptz
    )`);
    sql(`create index "api_keys_tenant_idx" on "api_keys" ("tenant_id", "created_at" desc, "id" desc)`);
    for (const s of enableTenantRls("api_keys")) sql(s);
    sql(`create policy "api_keys_by_prefix" on "api_keys" for select
      using ("prefix" = nullif(current_setting('app.api_key_prefix', true), ''))`);

    sql(`create table "refresh_tokens" (
      "id" uuid primary key,
      "family_id" uuid not null,
      "token_hash" text not null unique,
      "user_id" uuid not null references "users" ("id") on delete cascade,
      "tenant_id" uuid,
      "created_at" timestamptz not null default now(),
      "expires_at" timestamptz not null,
      "used_at" timestamptz,
      "revoked_at" timestamptz
    )`);
    sql(`create index "refresh_tokens_family_idx" on "refresh_tokens" ("family_id")`);

    sql(`create table "signing_keys" (
      "kid" text primary key,
      "alg" text not null,
      "public_jwk" jsonb not null,
      "private_key_enc" bytea not null,
      "created_at" timestamptz not null default now(),
      "rotated_at" timestamptz,
      "retire_after" timestamptz
    )`);
    sql(`create unique index "signing_keys_one_active_idx" on "signing_keys" ((true)) where "rotated_at" is null`);

    sql(`create table "service_clients" (
      "id" text primary key,
      "secret_hash" text not null,
      "audiences" text[] not null,
      "roles" text[] not null default '{}',
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      "disabled_at" timestamptz
    )`);

    sql(`create table "account_lockouts" (
      "user_id" uuid primary key references "users" ("id") on delete cascade,
      "failed_count" integer not null default 0,
      "locked_until" timestamptz,
      "last_failed_at" timestamptz
    )`);
    sql(`create table "ip_login_failures" (
      "ip" text primary key,
      "window_start" timestamptz not null,
      "failures" integer not null default 0,
      "strikes" integer not null default 0,
      "blocked_until" timestamptz
    )`);

    sql(`create table "tenants" (
      "id" uuid primary key,
      "slug" text not null,
      "status" text not null,
      "version_time" timestamptz not null
    )`);
    sql(`create index "tenants_slug_idx" on "tenants" ("slug")`);

    const roles = migrationRoles();
    for (const s of eventsMigrationSql({ appRole: roles.app, relayRole: roles.owner })) sql(s);
  }

  override down(): void {
    for (const t of ["api_keys", "invitations", "memberships"]) for (const s of disableTenantRls(t)) this.addSql(s);
    this.addSql(
      `drop table if exists "tenants", "ip_login_failures", "account_lockouts", "service_clients", "signing_keys", "refresh_tokens", "api_keys", "invitations", "memberships", "users"`,
    );
  }
}
