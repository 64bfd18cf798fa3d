import type { MigrationList } from "@tessera/platform/db";
import { InitialSchema } from "./0001-initial.ts";
import { TenantPlan } from "./0002-tenant-plan.ts";

/** identity's migrations, in the order they apply. */
export const migrations: MigrationList = [
  { name: "0001-initial", class: InitialSchema },
  { name: "0002-tenant-plan", class: TenantPlan },
];
