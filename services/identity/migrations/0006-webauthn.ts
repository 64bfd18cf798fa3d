import { Migration } from "@tessera/platform/db";

/**
 * Passkeys (WebAuthn). A passkey is a factor (`mfa_factors.type = 'webauthn'`, its name and
 * created/last-used times there) with its public credential in `webauthn_credentials`; ceremony
 * challenges are stored as SHA-256 of the challenge, single use, short-lived. All are platform
 * tables like `mfa_factors` (users span tenants; identity alone reads them).
 */
export class Webauthn extends Migration {
  override up(): void {
    const sql = (s: string) => this.addSql(s);
    sql(`alter table "mfa_factors" drop constraint if exists "mfa_factors_type_check"`);
    sql(`alter table "mfa_factors" add constraint "mfa_factors_type_check" check ("type" in ('totp', 'webauthn'))`);

    sql(`create table "webauthn_credentials" (
      "factor_id" uuid primary key references "mfa_factors" ("id") on delete cascade,
      "user_id" uuid not null references "users" ("id") on delete cascade,
      "credential_id" text not null unique,
      "public_key" bytea not null,
      "sign_count" bigint not null default 0,
      "transports" text[] not null default '{}',
      "aaguid" uuid not null,
      "device_type" text not null,
      "backed_up" boolean not null default false,
      "created_at" timestamptz not null default now()
    )`);
    sql(`create index "webauthn_credentials_user_idx" on "webauthn_credentials" ("user_id")`);

    sql(`create table "webauthn_challenges" (
      "id" uuid primary key,
      "challenge_hash" text not null unique,
      "purpose" text not null check ("purpose" in ('register', 'second_factor', 'passwordless')),
      "user_id" uuid references "users" ("id") on delete cascade,
      "mfa_challenge_id" uuid references "mfa_challenges" ("id") on delete cascade,
      "created_at" timestamptz not null default now(),
      "expires_at" timestamptz not null,
      "used_at" timestamptz
    )`);
    sql(`create index "webauthn_challenges_expiry_idx" on "webauthn_challenges" ("expires_at")`);
    sql(`create index "webauthn_challenges_mfa_idx" on "webauthn_challenges" ("mfa_challenge_id")`);
  }

  override down(): void {
    this.addSql(`drop table if exists "webauthn_challenges", "webauthn_credentials"`);
    this.addSql(`delete from "mfa_factors" where "type" = 'webauthn'`);
    this.addSql(`alter table "mfa_factors" drop constraint if exists "mfa_factors_type_check"`);
    this.addSql(`alter table "mfa_factors" add constraint "mfa_factors_type_check" check ("type" in ('totp'))`);
  }
}
