import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import type { StepState, TenantStatus, Tier } from "./model.ts";
import { registryPolicy } from "./scope.ts";

/**
 * The tenant registry. A platform table in spirit (the row id *is* the tenant id), guarded by
 * row-level security all the same: a tenant-scoped transaction sees only its own row, and only
 * registry transactions (platform work) see every row. See scope.ts.
 */
export const Tenant = defineEntity({
  name: "Tenant",
  tableName: "tenants",
  rowLevelSecurity: "force",
  policies: [registryPolicy("id")],
  properties: {
    id: p.uuid().primary(),
    slug: p.text().unique(),
    displayName: p.text(),
    tier: p.text().$type<Tier>(),
    plan: p.text(),
    status: p.text().$type<TenantStatus>(),
    statusReason: p.text().nullable(),
    region: p.text(),
    placementDatabase: p.text(),
    placementNamespace: p.text(),
    /** Silo: service name → base URL of the tenant's own services (the edges route there). */
    placementEndpoints: p.json<Record<string, string>>(),
    /** Silo: the version of the tenant's compute (tenant chart version). */
    computeVersion: p.text().default(""),
    writesFenced: p.boolean().default(false),
    createRequestId: p.uuid().unique(),
    createdAt: p.datetime(3).onCreate(() => new Date()),
    updatedAt: p
      .datetime(3)
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
});
/** A row of `tenants`. */
export type TenantRow = InferEntity<typeof Tenant>;

/** Verified email domains; a domain belongs to one tenant at most. */
export const TenantDomain = defineEntity({
  name: "TenantDomain",
  tableName: "tenant_domains",
  rowLevelSecurity: "force",
  policies: [registryPolicy("tenant_id")],
  properties: {
    domain: p.text().primary(),
    tenantId: p.uuid().index(),
    createdAt: p.datetime(3).onCreate(() => new Date()),
  },
});
/** A row of `tenant_domains`. */
export type TenantDomainRow = InferEntity<typeof TenantDomain>;

/** The provisioning saga's record: one row per step of a tenant's saga. */
export const ProvisioningStep = defineEntity({
  name: "ProvisioningStep",
  tableName: "provisioning_steps",
  rowLevelSecurity: "force",
  policies: [registryPolicy("tenant_id")],
  properties: {
    tenantId: p.uuid().primary(),
    step: p.text().primary(),
    position: p.integer(),
    state: p.text().$type<StepState>(),
    attempts: p.integer(),
    lastError: p.text().nullable(),
    nextAttemptAt: p.datetime(3),
    leaseUntil: p.datetime(3).nullable(),
    updatedAt: p.datetime(3),
  },
});
/** A row of `provisioning_steps`. */
export type ProvisioningStepRow = InferEntity<typeof ProvisioningStep>;

/** Every entity of the tenancy database. */
export const entities = [Tenant, TenantDomain, ProvisioningStep];
