import { disableTenantRls, enableTenantRls, Migration } from "@tessera/platform/db";

/**
 * Bytes a row stores, as the plan's storage quota counts them: the UTF-8 text the tenant wrote plus
 * a fixed 64 bytes per row (ids, timestamps, version), so rows without text count too.
 * `octet_length` reads the detoasted value: large comments count in full.
 */
const ROW_BYTES: Record<string, (r: string) => string> = {
  projects: (r) => `64 + octet_length(${r}.key) + octet_length(${r}.name) + octet_length(${r}.description)`,
  tasks: (r) =>
    `64 + octet_length(${r}.title) + octet_length(${r}.description) + coalesce(octet_length(array_to_string(${r}.labels, ',')), 0)`,
  comments: (r) => `64 + octet_length(${r}.author_id) + octet_length(${r}.body)`,
};

/**
 * A statement-level trigger function over the statement's transition tables (`new_rows`,
 * `old_rows`): one upsert per tenant per statement, so a bulk insert (a tier move's copy batch, an
 * import) costs one counter update, not one per row.
 */
function trackingFunction(table: string, bytes: (r: string) => string): string {
  const projects = table === "projects";
  const active = (r: string) => (projects ? `(${r}.archived_at is null)::int` : "0");
  const added = `select n.tenant_id, ${active("n")} as d_projects, (${bytes("n")})::bigint as d_bytes from new_rows n`;
  const removed = `select o.tenant_id, -${active("o")} as d_projects, -(${bytes("o")})::bigint as d_bytes from old_rows o`;
  const upsert = (rows: string) => `insert into tenant_usage as u (tenant_id, projects, storage_bytes)
      select tenant_id, sum(d_projects)::integer, sum(d_bytes)::bigint from (${rows}) d
      group by tenant_id having sum(d_projects) <> 0 or sum(d_bytes) <> 0
      on conflict (tenant_id) do update
        set projects = u.projects + excluded.projects, storage_bytes = u.storage_bytes + excluded.storage_bytes`;
  return `create or replace function tessera_usage_${table}() returns trigger language plpgsql as $usage$
begin
  if tg_op = 'INSERT' then
    ${upsert(added)};
  elsif tg_op = 'UPDATE' then
    ${upsert(`${added} union all ${removed}`)};
  else
    ${upsert(removed)};
  end if;
  return null;
end
$usage$`;
}

/**
 * Per-tenant usage counters for the plan quotas projects enforces: active (not archived) projects
 * and stored bytes. Statement triggers on projects, tasks and comments keep them in the writing
 * transaction (so a quota check after the write, in the same transaction, sees its own change and
 * waits for concurrent writers of the tenant, who hold the counter row), never a scan per write.
 * Existing rows are counted once here. The counters are derived data: a tier move copies the
 * tables and the triggers rebuild the counters at the destination (tenant_usage is not copied).
 */
export class UsageCounters extends Migration {
  override up(): void {
    const sql = (s: string) => this.addSql(s);
    sql(`create table "tenant_usage" (
      "tenant_id" uuid primary key,
      "projects" integer not null default 0,
      "storage_bytes" bigint not null default 0
    )`);
    for (const s of enableTenantRls("tenant_usage")) sql(s);
    for (const [table, bytes] of Object.entries(ROW_BYTES)) {
      sql(trackingFunction(table, bytes));
      sql(`create trigger tessera_usage_insert after insert on "${table}"
        referencing new table as new_rows for each statement execute function tessera_usage_${table}()`);
      sql(`create trigger tessera_usage_update after update on "${table}"
        referencing old table as old_rows new table as new_rows for each statement execute function tessera_usage_${table}()`);
      sql(`create trigger tessera_usage_delete after delete on "${table}"
        referencing old table as old_rows for each statement execute function tessera_usage_${table}()`);
    }
    // count what exists: the owner reads every tenant's rows for this one statement
    const tables = ["projects", "tasks", "comments", "tenant_usage"];
    for (const t of tables) sql(`alter table "${t}" no force row level security`);
    sql(`insert into tenant_usage (tenant_id, projects, storage_bytes)
      select tenant_id, sum(projects)::integer, sum(bytes)::bigint from (
        select tenant_id, (archived_at is null)::int as projects, ${ROW_BYTES.projects?.("p")} as bytes from projects p
        union all select tenant_id, 0, ${ROW_BYTES.tasks?.("t")} from tasks t
        union all select tenant_id, 0, ${ROW_BYTES.comments?.("c")} from comments c
      ) rows group by tenant_id`);
    for (const t of tables) sql(`alter table "${t}" force row level security`);
  }

  override down(): void {
    for (const table of Object.keys(ROW_BYTES)) {
      for (const op of ["insert", "update", "delete"])
        this.addSql(`drop trigger if exists tessera_usage_${op} on "${table}"`);
      this.addSql(`drop function if exists tessera_usage_${table}()`);
    }
    for (const s of disableTenantRls("tenant_usage")) this.addSql(s);
    this.addSql(`drop table if exists "tenant_usage"`);
  }
}
