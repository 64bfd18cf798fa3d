import type { Orm } from "@tessera/platform/db";

/** What the handlers work with. */
export interface HandlerDeps {
  readonly orm: Orm;
  /** Records per ExportAuditEvents message. */
  readonly exportBatchSize: number;
}
