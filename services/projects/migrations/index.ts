import type { MigrationList } from "@tessera/platform/db";
import { InitialSchema } from "./0001-initial.ts";
import { WriteFence } from "./0002-write-fence.ts";
import { UsageCounters } from "./0003-usage.ts";

/** projects' migrations, in the order they apply. */
export const migrations: MigrationList = [
  { name: "0001-initial", class: InitialSchema },
  { name: "0002-write-fence", class: WriteFence },
  { name: "0003-usage", class: UsageCounters },
];
