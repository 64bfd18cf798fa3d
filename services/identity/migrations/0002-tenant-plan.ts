import { Migration } from "@tessera/platform/db";

/**
 * The tenant projection also keeps each tenant's plan (from tenancy's `tenant.*` events), for the
 * plan's seat quota. Tenants projected before this migration get it with their next event.
 */
export class TenantPlan extends Migration {
  override up(): void {
    this.addSql(`alter table "tenants" add column "plan" text`);
  }

  override down(): void {
    this.addSql(`alter table "tenants" drop column if exists "plan"`);
  }
}
