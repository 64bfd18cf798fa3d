import { runMigrationsMain } from "@tessera/platform/service";
import { migrations } from "../migrations/index.ts";
import { entities } from "./domain/entities.ts";

await runMigrationsMain("projects", entities, migrations);
