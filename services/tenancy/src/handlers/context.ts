import type { Orm } from "@tessera/platform/db";
import type { Drivers } from "../domain/saga/drivers.ts";
import type { SagaRunner } from "../domain/saga/runner.ts";

/** What the handlers work with. */
export interface HandlerDeps {
  readonly orm: Orm;
  readonly runner: SagaRunner;
  readonly drivers: Drivers;
  /** cache_ttl_seconds of ResolveTenant answers. */
  readonly resolveCacheTtlSeconds: number;
}
