import type { Orm } from "@tessera/platform/db";
import type { Logger } from "@tessera/platform/log";

/** What projects' domain operations work with; built once per process by server.ts. */
export interface ProjectsDeps {
  readonly orm: Orm;
  readonly logger: Logger;
}
