import { create } from "@bufbuild/protobuf";
import {
  type Plan as PlanMessage,
  PlanSchema,
  type Quotas as QuotasMessage,
  QuotasSchema,
  Tier,
} from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import type { Plan, Quotas } from "./catalogue.ts";
import type { PlanTier } from "./file.ts";

const TIERS: Record<PlanTier, Tier> = { pool: Tier.POOL, bridge: Tier.BRIDGE, silo: Tier.SILO };

/** A catalogue quota set as the contract's `tessera.tenancy.v1.Quotas`. */
export function quotasToProto(quotas: Quotas): QuotasMessage {
  return create(QuotasSchema, {
    requestsPerMinute: BigInt(quotas.requestsPerMinute),
    seats: BigInt(quotas.seats),
    projects: BigInt(quotas.projects),
    storageBytes: BigInt(quotas.storageBytes),
    auditRetentionDays: BigInt(quotas.auditRetentionDays),
    extensionCpuMsPerDay: BigInt(quotas.extensionCpuMsPerDay),
  });
}

/** A catalogue plan as the contract's `tessera.tenancy.v1.Plan`. */
export function planToProto(plan: Plan): PlanMessage {
  return create(PlanSchema, {
    id: plan.id,
    displayName: plan.displayName,
    quotas: quotasToProto(plan.quotas),
    defaultTier: TIERS[plan.defaultTier],
  });
}
