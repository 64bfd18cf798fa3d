import { disableTenantRls, enableTenantRls, Migration, migrationRoles } from "@tessera/platform/db";
import { eventsMigrationSql } from "@tessera/platform/events";

/**
 * projects' schema: three tenant-owned tables with forced RLS and the standard tenant policy, and
 * the outbox. Tasks and comments reference their parent through `(tenant_id, id)`, so a row can
 * never point at another tenant's project or task, whatever the code above it does.
 */
export class InitialSchema extends Migration {
  override up(): void {
    const sql = (s: string) => this.addSql(s);
    sql(`create table "projects" (
      "id" uuid primary key,
      "tenant_id" uuid not null,
      "key" text not null check ("key" ~ '^[A-Z][A-Z0-9]{1,9}$'),
      "name" text not null,
      "description" text not null default '',
      "archived_at" timestamptz,
      "version" integer not null default 1 check ("version" > 0),
      "created_at" timestamptz not null,
      "updated_at" timestamptz not null,
      constraint "projects_tenant_id_unique" unique ("tenant_id", "id"),
      constraint "projects_tenant_key_unique" unique ("tenant_id", "key")
    )`);
    for (const s of enableTenantRls("projects")) sql(s);

    sql(`create table "tasks" (
      "id" uuid primary key,
      "tenant_id" uuid not null,
      "project_id" uuid not null,
      "title" text not null,
      "description" text not null default '',
      "status" text not null check ("status" in ('todo', 'in_progress', 'done')),
      "assignee_id" uuid,
      "labels" text[] not null default '{}',
      "due_date" date,
      "position" double precision not null,
      "version" integer not null default 1 check ("version" > 0),
      "created_at" timestamptz not null,
      "updated_at" timestamptz not null,
      constraint "tasks_tenant_id_unique" unique ("tenant_id", "id"),
      constraint "tasks_project_fk" foreign key ("tenant_id", "project_id")
        references "projects" ("tenant_id", "id") on delete cascade
    )`);
    sql(`create index "tasks_order_idx" on "tasks" ("tenant_id", "project_id", "position", "id")`);
    sql(`create index "tasks_labels_idx" on "tasks" using gin ("labels")`);
    for (const s of enableTenantRls("tasks")) sql(s);

    sql(`create table "comments" (
      "id" uuid primary key,
      "tenant_id" uuid not null,
      "task_id" uuid not null,
      "author_id" text not null,
      "body" text not null,
      "created_at" timestamptz not null,
      "updated_at" timestamptz not null,
      constraint "comments_task_fk" foreign key ("tenant_id", "task_id")
        references "tasks" ("tenant_id", "id") on delete cascade
    )`);
    sql(`create index "comments_order_idx" on "comments" ("tenant_id", "task_id", "created_at", "id")`);
    for (const s of enableTenantRls("comments")) sql(s);

    const roles = migrationRoles();
    for (const s of eventsMigrationSql({ appRole: roles.app, relayRole: roles.owner })) sql(s);
  }

  override down(): void {
    for (const t of ["comments", "tasks", "projects"]) for (const s of disableTenantRls(t)) this.addSql(s);
    this.addSql(`drop table if exists "comments", "tasks", "projects"`);
  }
}
