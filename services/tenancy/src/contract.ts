import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  PlacementSchema,
  type ProvisioningStep,
  ProvisioningStepSchema,
  StepState,
  type Tenant,
  TenantSchema,
  TenantStatus,
  Tier,
} from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import type {
  TenantStatus as DomainStatus,
  StepState as DomainStepState,
  Tier as DomainTier,
  StepView,
  TenantView,
} from "./domain/model.ts";

/** Domain tiers and their contract enum values. */
export const TIER_TO_PROTO: Record<DomainTier, Tier> = {
  pool: Tier.POOL,
  bridge: Tier.BRIDGE,
  silo: Tier.SILO,
};

/** Domain statuses and their contract enum values. */
export const STATUS_TO_PROTO: Record<DomainStatus, TenantStatus> = {
  provisioning: TenantStatus.PROVISIONING,
  active: TenantStatus.ACTIVE,
  suspended: TenantStatus.SUSPENDED,
  offboarding: TenantStatus.OFFBOARDING,
  deleted: TenantStatus.DELETED,
};

const STEP_STATE_TO_PROTO: Record<DomainStepState, StepState> = {
  pending: StepState.PENDING,
  running: StepState.RUNNING,
  done: StepState.DONE,
  failed: StepState.FAILED,
};

function invert<K extends string, V extends number>(map: Record<K, V>): Map<V, K> {
  return new Map(Object.entries(map).map(([k, v]) => [v as V, k as K]));
}
const tierFromProtoMap = invert(TIER_TO_PROTO);
const statusFromProtoMap = invert(STATUS_TO_PROTO);

/** The domain tier of a contract value; undefined for UNSPECIFIED. */
export function tierFromProto(tier: Tier): DomainTier | undefined {
  return tierFromProtoMap.get(tier);
}

/** The domain status of a contract value; undefined for UNSPECIFIED. */
export function statusFromProto(status: TenantStatus): DomainStatus | undefined {
  return statusFromProtoMap.get(status);
}

/** A registry entry as the contract's Tenant. */
export function tenantToProto(t: TenantView): Tenant {
  return create(TenantSchema, {
    id: t.id,
    slug: t.slug,
    displayName: t.displayName,
    tier: TIER_TO_PROTO[t.tier],
    plan: t.plan,
    status: STATUS_TO_PROTO[t.status],
    placement: create(PlacementSchema, {
      database: t.placementDatabase,
      namespace: t.placementNamespace,
      endpoints: { ...t.placementEndpoints },
      computeVersion: t.computeVersion,
      writesFenced: t.writesFenced,
    }),
    region: t.region,
    verifiedDomains: [...t.verifiedDomains],
    createTime: timestampFromDate(t.createdAt),
    updateTime: timestampFromDate(t.updatedAt),
  });
}

/** A saga step as the contract's ProvisioningStep. */
export function stepToProto(s: StepView): ProvisioningStep {
  return create(ProvisioningStepSchema, {
    name: s.name,
    state: STEP_STATE_TO_PROTO[s.state],
    attempts: s.attempts,
    lastError: s.lastError ?? "",
    updateTime: timestampFromDate(s.updatedAt),
    ...(s.state === "failed" && { nextAttemptTime: timestampFromDate(s.nextAttemptAt) }),
  });
}
