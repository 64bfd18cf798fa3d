import type { DescEnum } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import {
  type GetProvisioningResponse,
  type Operation,
  OperationStateSchema,
  type ProvisioningStep,
  StepStateSchema,
  type Tenant,
  TenantStatus,
  TenantStatusSchema,
  Tier,
  TierSchema,
} from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";

/**
 * Plain, stable shapes of tenancy's messages for `--json` and for rendering: enum values as the
 * lowercase names the command line uses (`pool`, `active`, `rolled_back`), timestamps as ISO
 * strings (null when unset), 64-bit counters as numbers.
 */

/** `pool` for Tier.POOL: the enum value's name without its prefix, lowercased. */
export function enumName(schema: DescEnum, value: number): string {
  return schema.values.find((v) => v.number === value)?.localName.toLowerCase() ?? `unknown_${value}`;
}

/** The tiers a command line may name. */
export const TIER_NAMES = ["pool", "bridge", "silo"] as const;
const TIERS: Readonly<Record<string, Tier>> = { pool: Tier.POOL, bridge: Tier.BRIDGE, silo: Tier.SILO };

/** Tier.POOL for `pool` (names are checked by the argument parser; anything else is a bug). */
export function tierFromName(name: string): Tier {
  const tier = TIERS[name];
  if (tier === undefined) throw new Error(`unknown tier ${name}`);
  return tier;
}

/** The statuses a command line may name. */
export const STATUS_NAMES = ["provisioning", "active", "suspended", "offboarding", "deleted"] as const;
const STATUSES: Readonly<Record<string, TenantStatus>> = {
  provisioning: TenantStatus.PROVISIONING,
  active: TenantStatus.ACTIVE,
  suspended: TenantStatus.SUSPENDED,
  offboarding: TenantStatus.OFFBOARDING,
  deleted: TenantStatus.DELETED,
};

/** TenantStatus.ACTIVE for `active`. */
export function statusFromName(name: string): TenantStatus {
  const status = STATUSES[name];
  if (status === undefined) throw new Error(`unknown status ${name}`);
  return status;
}

const iso = (ts: Timestamp | undefined): string | null => (ts ? timestampDate(ts).toISOString() : null);

export interface TenantView {
  id: string;
  slug: string;
  displayName: string;
  tier: string;
  plan: string;
  status: string;
  region: string;
  verifiedDomains: string[];
  placement: {
    database: string;
    namespace: string;
    endpoints: Record<string, string>;
    computeVersion: string;
    writesFenced: boolean;
  } | null;
  createTime: string | null;
  updateTime: string | null;
}

export function tenantView(t: Tenant): TenantView {
  return {
    id: t.id,
    slug: t.slug,
    displayName: t.displayName,
    tier: enumName(TierSchema, t.tier),
    plan: t.plan,
    status: enumName(TenantStatusSchema, t.status),
    region: t.region,
    verifiedDomains: [...t.verifiedDomains],
    placement: t.placement
      ? {
          database: t.placement.database,
          namespace: t.placement.namespace,
          endpoints: { ...t.placement.endpoints },
          computeVersion: t.placement.computeVersion,
          writesFenced: t.placement.writesFenced,
        }
      : null,
    createTime: iso(t.createTime),
    updateTime: iso(t.updateTime),
  };
}

export interface StepView {
  name: string;
  state: string;
  attempts: number;
  lastError: string;
  updateTime: string | null;
  nextAttemptTime: string | null;
}

export function stepView(s: ProvisioningStep): StepView {
  return {
    name: s.name,
    state: enumName(StepStateSchema, s.state),
    attempts: s.attempts,
    lastError: s.lastError,
    updateTime: iso(s.updateTime),
    nextAttemptTime: iso(s.nextAttemptTime),
  };
}

export interface TableProgressView {
  table: string;
  rowsDone: number;
  rowsTotal: number;
}

export interface OperationView {
  id: string;
  /** `move`, `delete` or `upgrade`. */
  kind: string;
  /** `running`, `succeeded` or `rolled_back`. */
  state: string;
  phase: string;
  fromTier: string;
  toTier: string;
  tables: TableProgressView[];
  lastError: string;
  attempts: number;
  createTime: string | null;
  updateTime: string | null;
  estimatedCopyEndTime: string | null;
  fencedMs: number;
  exportId: string;
}

export function operationView(op: Operation): OperationView {
  return {
    id: op.id,
    kind: op.kind,
    state: enumName(OperationStateSchema, op.state),
    phase: op.phase,
    fromTier: enumName(TierSchema, op.fromTier),
    toTier: enumName(TierSchema, op.toTier),
    tables: op.tables.map((t) => ({ table: t.table, rowsDone: Number(t.rowsDone), rowsTotal: Number(t.rowsTotal) })),
    lastError: op.lastError,
    attempts: op.attempts,
    createTime: iso(op.createTime),
    updateTime: iso(op.updateTime),
    estimatedCopyEndTime: iso(op.estimatedCopyEndTime),
    fencedMs: Number(op.fencedMs),
    exportId: op.exportId,
  };
}

export interface ProvisioningView {
  tenantId: string;
  complete: boolean;
  steps: StepView[];
  operation: OperationView | null;
}

export function provisioningView(p: GetProvisioningResponse): ProvisioningView {
  return {
    tenantId: p.tenantId,
    complete: p.complete,
    steps: p.steps.map(stepView),
    operation: p.operation ? operationView(p.operation) : null,
  };
}
