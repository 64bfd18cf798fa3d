import type { MigrationList } from "@tessera/platform/db";
import { InitialSchema } from "./0001-initial.ts";

/** projects' migrations, in the order they apply. */
export const migrations: MigrationList = [{ name: "0001-initial", class: InitialSchema }];
