import type { MigrationList } from "@tessera/platform/db";
import { CreateAuditLog } from "./0001-audit-log.ts";

/** audit's migrations, in the order they apply. */
export const migrations: MigrationList = [{ name: "0001-audit-log", class: CreateAuditLog }];
