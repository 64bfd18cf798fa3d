import { disableTenantRls, enableTenantRls, Migration } from "@tessera/platform/db";

/**
 * Multi-factor authentication. Factors, recovery codes and login challenges belong to users, who
 * span tenants: platform tables like `users` (no RLS; identity alone reads them). The MFA policy is
 * tenant-owned (forced RLS, standard policy). Refresh tokens remember how their session was
 * authenticated, so a refreshed access token keeps `amr` and `auth_time`.
 */
export class Mfa extends Migration {
  override up(): void {
    const sql = (s: string) => this.addSql(s);
    // `type` leaves room for 'webauthn': its public credential goes in `public_data`, TOTP's
    // secret in `secret_enc` (AES-256-GCM under a key derived from IDENTITY_KEY_ENCRYPTION_KEY).
    sql(`create table "mfa_factors" (
      "id" uuid primary key,
      "user_id" uuid not null references "users" ("id") on delete cascade,
      "type" text not null check ("type" in ('totp')),
      "status" text not null check ("status" in ('pending', 'active')),
      "display_name" text not null,
      "secret_enc" bytea,
      "public_data" jsonb not null default '{}',
      "last_used_step" bigint,
      "created_at" timestamptz not null default now(),
      "confirmed_at" timestamptz,
      "last_used_at" timestamptz
    )`);
    sql(`create index "mfa_factors_user_idx" on "mfa_factors" ("user_id")`);

    sql(`create table "mfa_recovery_codes" (
      "id" uuid primary key,
      "user_id" uuid not null references "users" ("id") on delete cascade,
      "code_hash" text not null,
      "created_at" timestamptz not null default now(),
      "used_at" timestamptz
    )`);
    sql(`create unique index "mfa_recovery_codes_user_hash_idx" on "mfa_recovery_codes" ("user_id", "code_hash")`);

    sql(`create table "mfa_challenges" (
      "id" uuid primary key,
      "token_hash" text not null unique,
      "user_id" uuid not null references "users" ("id") on delete cascade,
      "tenant_id" uuid,
      "purpose" text not null check ("purpose" in ('verify', 'enroll')),
      "failed_attempts" integer not null default 0,
      "created_at" timestamptz not null default now(),
      "expires_at" timestamptz not null,
      "used_at" timestamptz
    )`);
    sql(`create index "mfa_challenges_expiry_idx" on "mfa_challenges" ("expires_at")`);

    sql(`create table "mfa_policies" (
      "tenant_id" uuid primary key,
      "mode" text not null check ("mode" in ('off', 'admins', 'everyone')),
      "grace_period_days" integer not null check ("grace_period_days" between 0 and 90),
      "required_since" timestamptz,
      "updated_by" text not null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now()
    )`);
    for (const s of enableTenantRls("mfa_policies")) sql(s);

    sql(`alter table "refresh_tokens" add column "amr" text[] not null default '{pwd}'`);
    sql(`alter table "refresh_tokens" add column "auth_time" timestamptz`);
  }

  override down(): void {
    for (const s of disableTenantRls("mfa_policies")) this.addSql(s);
    this.addSql(`alter table "refresh_tokens" drop column if exists "amr", drop column if exists "auth_time"`);
    this.addSql(`drop table if exists "mfa_policies", "mfa_challenges", "mfa_recovery_codes", "mfa_factors"`);
  }
}
