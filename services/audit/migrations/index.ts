import type { MigrationList } from "@tessera/platform/db";
import { CreateAuditLog } from "./0001-audit-log.ts";
import { SignedCheckpoints } from "./0002-signed-checkpoints.ts";

/** audit's migrations, in the order they apply. */
export const migrations: MigrationList = [
  { name: "0001-audit-log", class: CreateAuditLog },
  { name: "0002-signed-checkpoints", class: SignedCheckpoints },
];
