/** Placement tiers: where a tenant's data and compute live. */
export const TIERS = ["pool", "bridge", "silo"] as const;
/** A tenant's tier. */
export type Tier = (typeof TIERS)[number];

/** Lifecycle: provisioning → active ⇄ suspended → offboarding → deleted. */
export const TENANT_STATUSES = ["provisioning", "active", "suspended", "offboarding", "deleted"] as const;
/** A tenant's lifecycle status. */
export type TenantStatus = (typeof TENANT_STATUSES)[number];

/** States of one saga step. */
export const STEP_STATES = ["pending", "running", "done", "failed"] as const;
/** A saga step's state. */
export type StepState = (typeof STEP_STATES)[number];

/** The name of the shared database and namespace in a placement. */
export const POOL = "pool";

/** A tenant as the registry holds it. */
export interface TenantView {
  readonly id: string;
  readonly slug: string;
  readonly displayName: string;
  readonly tier: Tier;
  readonly plan: string;
  readonly status: TenantStatus;
  readonly statusReason: string | null;
  readonly region: string;
  readonly placementDatabase: string;
  readonly placementNamespace: string;
  /** Silo: service name → base URL of the tenant's own services. */
  readonly placementEndpoints: Readonly<Record<string, string>>;
  /** Silo: the version its compute runs. */
  readonly computeVersion: string;
  /** A tier move has paused the tenant's writes. */
  readonly writesFenced: boolean;
  readonly verifiedDomains: readonly string[];
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** One step of a provisioning saga as recorded. */
export interface StepView {
  readonly name: string;
  readonly position: number;
  readonly state: StepState;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly nextAttemptAt: Date;
  readonly updatedAt: Date;
}
