import type { Orm, TxEntityManager } from "@tessera/platform/db";
import type { DataPlane } from "../data-plane.ts";
import type { ComputeDriver, DatabaseDriver, TenantSpec } from "../saga/drivers.ts";
import type { OperationRow } from "./store.ts";

/** What a phase works with. */
export interface PhaseContext {
  readonly orm: Orm;
  readonly plane: DataPlane;
  readonly driver: DatabaseDriver | undefined;
  /** Removes a silo tenant's release and namespace on deletion. */
  readonly compute: ComputeDriver | undefined;
  readonly op: OperationRow;
  readonly tenant: TenantSpec & { placementDatabase: string; tier: string; status: string };
  readonly signal: AbortSignal;
  readonly settings: OperationSettings;
  /** Writes an export bundle of the tenant; returns its id. */
  readonly exportTenant: (tenantId: string, signal: AbortSignal) => Promise<string>;
}

/** Tunables of moves and deletions. */
export interface OperationSettings {
  /** After the switch, how long the source stays fenced before cleanup may start (cache lifetimes). */
  readonly drainMs: number;
  /** After the switch, how long the source rows are kept before they are deleted. */
  readonly graceMs: number;
  /** Rows per copy batch. */
  readonly batchRows: number;
  /** Failed attempts of a phase before the switch after which a move rolls back. */
  readonly maxAttempts: number;
}

/**
 * How a phase ended: go on to `next` (running `commit` in the same registry transaction that
 * records it), or wait until `until` and run the same phase again.
 */
export type PhaseResult =
  | {
      readonly next: string;
      readonly changes?: Partial<OperationRow>;
      readonly commit?: (em: TxEntityManager) => Promise<void>;
    }
  | { readonly waitUntil: Date };

/** A failure after which a move must roll back at once (retrying cannot help). */
export class Irrecoverable extends Error {
  override name = "Irrecoverable";
}

/** A phase's step. */
export type Phase = (ctx: PhaseContext) => Promise<PhaseResult>;
