import { Migration, migrationRoles } from "@tessera/platform/db";
import { consumedMigrationSql } from "@tessera/platform/events";

const TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid";

/**
 * The audit log and what keeps it honest. The app role (the running service) may only read its
 * transaction's tenant's records and append to them: SELECT and INSERT on `audit_records`, no
 * UPDATE, DELETE or TRUNCATE; triggers refuse UPDATE and TRUNCATE for everyone (the owner included).
 * Retention connects as the owner, which may read and delete one tenant's records at a time
 * (same policy) and list every tenant's head.
 */
export class CreateAuditLog extends Migration {
  override up(): void {
    const { owner, app } = migrationRoles();
    const sql = (s: string) => this.addSql(s);
    sql(`create table audit_records (
      tenant_id uuid not null,
      seq bigint not null check (seq > 0),
      event_id uuid not null,
      occurred_at timestamptz(3) not null,
      recorded_at timestamptz(3) not null,
      actor_kind text not null,
      actor_id text not null,
      action text not null,
      target_type text not null,
      target_id text not null,
      outcome text not null check (outcome in ('success', 'failure', 'denied')),
      source_ip text not null,
      user_agent text not null,
      prev_hash bytea not null check (length(prev_hash) = 32),
      hash bytea not null check (length(hash) = 32),
      constraint audit_records_pkey primary key (tenant_id, seq)
    )`);
    sql(`create unique index audit_records_event_idx on audit_records (tenant_id, event_id)`);
    sql(`create index audit_records_occurred_idx on audit_records (tenant_id, occurred_at)`);
    sql(`create index audit_records_recorded_idx on audit_records (tenant_id, recorded_at)`);
    sql(`create function audit_records_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'audit records are append-only' using errcode = 'insufficient_privilege';
end $$`);
    sql(`create trigger audit_records_no_update before update on audit_records
      for each row execute function audit_records_append_only()`);
    sql(`create trigger audit_records_no_truncate before truncate on audit_records
      for each statement execute function audit_records_append_only()`);

    sql(`create table audit_heads (
      tenant_id uuid primary key,
      last_seq bigint not null check (last_seq >= 0),
      last_hash bytea not null check (length(last_hash) = 32),
      updated_at timestamptz not null default now()
    )`);
    sql(`create table audit_checkpoints (
      tenant_id uuid not null,
      seq bigint not null check (seq > 0),
      hash bytea not null check (length(hash) = 32),
      removed integer not null,
      created_at timestamptz not null default now(),
      constraint audit_checkpoints_pkey primary key (tenant_id, seq)
    )`);
    sql(`create table audit_tenant_plans (
      tenant_id uuid primary key,
      plan text not null,
      changed_at timestamptz(3) not null
    )`);

    for (const table of ["audit_records", "audit_heads", "audit_checkpoints"]) {
      sql(`alter table ${table} enable row level security`);
      sql(`alter table ${table} force row level security`);
    }
    // app role: read and append its transaction's tenant's records; move that tenant's head
    sql(`create policy audit_records_read on audit_records for select to "${app}" using (tenant_id = ${TENANT})`);
    sql(
      `create policy audit_records_append on audit_records for insert to "${app}" with check (tenant_id = ${TENANT})`,
    );
    sql(
      `create policy audit_heads_tenant on audit_heads for all to "${app}" using (tenant_id = ${TENANT}) with check (tenant_id = ${TENANT})`,
    );
    sql(
      `create policy audit_checkpoints_read on audit_checkpoints for select to "${app}" using (tenant_id = ${TENANT})`,
    );
    // owner (retention): one tenant's records at a time; every head (to find the tenants)
    sql(
      `create policy audit_records_retention on audit_records for select to "${owner}" using (tenant_id = ${TENANT})`,
    );
    sql(`create policy audit_records_expire on audit_records for delete to "${owner}" using (tenant_id = ${TENANT})`);
    sql(`create policy audit_heads_owner on audit_heads for all to "${owner}" using (true) with check (true)`);
    sql(
      `create policy audit_checkpoints_owner on audit_checkpoints for all to "${owner}" using (tenant_id = ${TENANT}) with check (tenant_id = ${TENANT})`,
    );

    sql(`revoke all on audit_records, audit_heads, audit_checkpoints, audit_tenant_plans from "${app}"`);
    sql(`grant select, insert on audit_records to "${app}"`);
    sql(`grant select, insert, update on audit_heads to "${app}"`);
    sql(`grant select on audit_checkpoints to "${app}"`);
    sql(`grant select, insert, update on audit_tenant_plans to "${app}"`);
    for (const s of consumedMigrationSql({ appRole: app })) sql(s);
  }

  override down(): void {
    for (const table of ["audit_tenant_plans", "audit_checkpoints", "audit_heads", "audit_records"]) {
      this.addSql(`drop table if exists ${table}`);
    }
    this.addSql(`drop function if exists audit_records_append_only()`);
  }
}
