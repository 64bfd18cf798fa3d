import { Migration } from "@tessera/platform/db";

/**
 * Silo compute in the directory: where a silo tenant's own services answer (`placement_endpoints`,
 * service name → base URL, routed to by the edges) and the version its compute runs; upgrades as a
 * third kind of operation.
 */
export class SiloCompute extends Migration {
  override up(): void {
    const sql = (s: string) => this.addSql(s);
    sql(`alter table "tenants" add column "placement_endpoints" jsonb not null default '{}'::jsonb`);
    sql(`alter table "tenants" add column "compute_version" text not null default ''`);
    // a move into silo (or an upgrade) installs the compute before the switch: where it answers
    sql(`alter table "tenant_operations" add column "compute" jsonb`);
    sql(`alter table "tenant_operations" drop constraint "tenant_operations_kind_check"`);
    sql(
      `alter table "tenant_operations" add constraint "tenant_operations_kind_check" check ("kind" in ('move', 'delete', 'upgrade'))`,
    );
  }

  override down(): void {
    this.addSql(`alter table "tenant_operations" drop constraint "tenant_operations_kind_check"`);
    this.addSql(
      `alter table "tenant_operations" add constraint "tenant_operations_kind_check" check ("kind" in ('move', 'delete'))`,
    );
    this.addSql(`alter table "tenant_operations" drop column "compute"`);
    this.addSql(`alter table "tenants" drop column "compute_version"`);
    this.addSql(`alter table "tenants" drop column "placement_endpoints"`);
  }
}
