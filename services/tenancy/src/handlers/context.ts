import type { Orm } from "@tessera/platform/db";
import type { Exporter } from "../domain/exports.ts";
import type { OperationRunner } from "../domain/operations/runner.ts";
import type { Drivers } from "../domain/saga/drivers.ts";
import type { SagaRunner } from "../domain/saga/runner.ts";

/** What the handlers work with. */
export interface HandlerDeps {
  readonly orm: Orm;
  readonly runner: SagaRunner;
  readonly drivers: Drivers;
  /** Tier moves and deletions. */
  readonly operations: OperationRunner;
  readonly exporter: Exporter;
  /** cache_ttl_seconds of ResolveTenant answers. */
  readonly resolveCacheTtlSeconds: number;
}
