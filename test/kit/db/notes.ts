import { randomUUID } from "node:crypto";
import { defineEntity, p } from "@mikro-orm/core";
import {
  disableTenantRls,
  enableTenantRls,
  Migration,
  tenantOwnedProperties,
  tenantScoped,
} from "@tessera/platform/db";

/** A small tenant-owned entity for the db kit's tests. */
export const Note = defineEntity({
  name: "Note",
  tableName: "notes",
  ...tenantScoped(),
  indexes: [{ properties: ["tenantId"], name: "notes_tenant_id_index" }],
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    ...tenantOwnedProperties(),
    body: p.text(),
  },
});

/** A platform table: no tenant column, no filter, no RLS. */
export const PlatformSetting = defineEntity({
  name: "PlatformSetting",
  tableName: "platform_settings",
  properties: {
    key: p.text().primary(),
    value: p.text(),
  },
});

/** Creates the notes table with the standard tenant policy. */
export class CreateNotes extends Migration {
  override up(): void {
    this.addSql(`create table "notes" (
      "id" uuid not null,
      "tenant_id" uuid not null,
      "created_at" timestamptz not null,
      "updated_at" timestamptz not null,
      "body" text not null,
      constraint "notes_pkey" primary key ("id")
    );`);
    this.addSql(`create index "notes_tenant_id_index" on "notes" ("tenant_id");`);
    for (const sql of enableTenantRls("notes")) this.addSql(sql);
  }

  override down(): void {
    for (const sql of disableTenantRls("notes")) this.addSql(sql);
    this.addSql(`drop table "notes";`);
  }
}

/** A platform table (no RLS), to show platform transactions still work on those. */
export class CreatePlatformSettings extends Migration {
  override up(): void {
    this.addSql(`create table "platform_settings" ("key" text primary key, "value" text not null);`);
  }
}

export const migrations = [
  { name: "0001_create_notes", class: CreateNotes },
  { name: "0002_create_platform_settings", class: CreatePlatformSettings },
];
