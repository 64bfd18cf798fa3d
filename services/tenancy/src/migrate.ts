import { runMigrationsMain } from "@tessera/platform/service";
import { migrations } from "../migrations/index.ts";
import { entities } from "./domain/entities.ts";

await runMigrationsMain("tenancy", entities, migrations);
