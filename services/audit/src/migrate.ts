import { runMigrationsMain } from "@tessera/platform/service";
import { migrations } from "../migrations/index.ts";

await runMigrationsMain("audit", [], migrations);
