import type { Orm } from "@tessera/platform/db";
import type { AuditKeys } from "../domain/signing.ts";
import type { HeadStore } from "../events/publish-heads.ts";

/** What the handlers work with. */
export interface HandlerDeps {
  readonly orm: Orm;
  /** Records per ExportAuditEvents message. */
  readonly exportBatchSize: number;
  /** Keys signatures are verified with. */
  readonly keys: AuditKeys;
  /** The published signed heads and checkpoints (absent without NATS). */
  readonly store?: HeadStore | undefined;
}
