import type { MigrationList } from "@tessera/platform/db";
import { CreateRegistry } from "./0001-create-registry.ts";
import { TierOperations } from "./0002-tier-operations.ts";
import { SiloCompute } from "./0003-silo-compute.ts";

/** tenancy's migrations, in the order they apply. */
export const migrations: MigrationList = [
  { name: "0001-create-registry", class: CreateRegistry },
  { name: "0002-tier-operations", class: TierOperations },
  { name: "0003-silo-compute", class: SiloCompute },
];
