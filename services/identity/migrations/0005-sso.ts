import { disableTenantRls, enableTenantRls, Migration } from "@tessera/platform/db";

/**
 * Single sign-on with OpenID Connect. `sso_connections` is tenant-owned (RLS forced): one IdP per
 * tenant, its client secret AES-256-GCM-sealed. Login transactions (state, nonce, sealed PKCE
 * verifier, browser binding) and the one-time codes a finished callback hands the frontend exist
 * before anyone is authenticated: platform tables like `mfa_challenges`, read only by identity,
 * by the SHA-256 of their random keys. Challenges remember the first factor (`pwd`, or `fed` for a
 * federated sign-in), so a second factor after SSO yields `["fed","otp"]`.
 */
export class Sso extends Migration {
  override up(): void {
    const sql = (s: string) => this.addSql(s);
    sql(`create table "sso_connections" (
      "tenant_id" uuid primary key,
      "issuer" text not null,
      "client_id" text not null,
      "client_secret_sealed" bytea not null,
      "client_secret_last4" text not null,
      "scopes" text[] not null,
      "email_claim" text not null,
      "name_claim" text not null,
      "groups_claim" text not null,
      "role_mappings" jsonb not null default '[]',
      "default_role" text not null check ("default_role" in ('admin', 'member', 'viewer')),
      "sync_roles" boolean not null default false,
      "trust_idp_mfa" boolean not null default false,
      "enabled" boolean not null default false,
      "sso_required" boolean not null default false,
      "break_glass_user_ids" uuid[] not null default '{}',
      "updated_by" text not null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now()
    )`);
    for (const s of enableTenantRls("sso_connections")) sql(s);

    sql(`create table "sso_login_transactions" (
      "id" uuid primary key,
      "state_hash" text not null unique,
      "tenant_id" uuid not null,
      "nonce" text not null,
      "code_verifier_sealed" bytea not null,
      "browser_hash" text not null,
      "created_at" timestamptz not null default now(),
      "expires_at" timestamptz not null,
      "consumed_at" timestamptz
    )`);
    sql(`create index "sso_login_transactions_expiry_idx" on "sso_login_transactions" ("expires_at")`);

    sql(`create table "sso_login_codes" (
      "code_hash" text primary key,
      "user_id" uuid not null references "users" ("id") on delete cascade,
      "tenant_id" uuid not null,
      "amr" text[] not null,
      "mfa_satisfied" boolean not null,
      "auth_time" timestamptz not null,
      "created_at" timestamptz not null default now(),
      "expires_at" timestamptz not null,
      "redeemed_at" timestamptz
    )`);
    sql(`create index "sso_login_codes_expiry_idx" on "sso_login_codes" ("expires_at")`);

    sql(`alter table "mfa_challenges" add column "first_amr" text[] not null default '{pwd}'`);
  }

  override down(): void {
    this.addSql(`alter table "mfa_challenges" drop column if exists "first_amr"`);
    for (const s of disableTenantRls("sso_connections")) this.addSql(s);
    this.addSql(`drop table if exists "sso_login_codes", "sso_login_transactions", "sso_connections"`);
  }
}
