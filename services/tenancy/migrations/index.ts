import type { MigrationList } from "@tessera/platform/db";
import { CreateRegistry } from "./0001-create-registry.ts";

/** tenancy's migrations, in the order they apply. */
export const migrations: MigrationList = [{ name: "0001-create-registry", class: CreateRegistry }];
