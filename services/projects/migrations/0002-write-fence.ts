import { fenceTableSql, Migration, migrationRoles, writeFenceMigrationSql } from "@tessera/platform/db";
import { TENANT_TABLES } from "../src/domain/tenant-tables.ts";

/** Puts every tenant table behind the kit's write fence (tier moves pause a tenant's writes with it). */
export class WriteFence extends Migration {
  override up(): void {
    for (const s of writeFenceMigrationSql(migrationRoles().app)) this.addSql(s);
    for (const { table } of TENANT_TABLES) for (const s of fenceTableSql(table)) this.addSql(s);
  }

  override down(): void {
    for (const { table } of TENANT_TABLES) this.addSql(`drop trigger if exists tessera_write_fence on "${table}"`);
  }
}
