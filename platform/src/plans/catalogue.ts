/** Quota value meaning "no limit". */
export const UNLIMITED = -1;

const GIB = 1024 ** 3;

/**
 * What a plan allows a tenant. Zero means "none", {@link UNLIMITED} (-1) means no limit. The same
 * numbers travel in the contract (`tessera.tenancy.v1.Quotas`).
 */
export interface Quotas {
  /** Requests per minute the tenant may make at each edge (REST, GraphQL). */
  readonly requestsPerMinute: number;
  /** Users (seats) the tenant may have. */
  readonly seats: number;
  readonly projects: number;
  /** Stored data, in bytes. */
  readonly storageBytes: number;
  /** How long audit records are kept, in days. */
  readonly auditRetentionDays: number;
  /** CPU time tenant extensions may use per day, in milliseconds. */
  readonly extensionCpuMsPerDay: number;
}

/** The ids of the plans that exist. */
export const PLAN_IDS = ["free", "team", "business", "enterprise"] as const;

/** A plan id from the catalogue. */
export type PlanId = (typeof PLAN_IDS)[number];

/** One entry of the plan catalogue. */
export interface Plan {
  readonly id: PlanId;
  readonly displayName: string;
  readonly quotas: Quotas;
}

function plan(id: PlanId, displayName: string, quotas: Quotas): Plan {
  return Object.freeze({ id, displayName, quotas: Object.freeze({ ...quotas }) });
}

/** The plan catalogue, cheapest first: the one definition of quotas every service uses. */
export const PLANS: readonly Plan[] = Object.freeze([
  plan("free", "Free", {
    requestsPerMinute: 60,
    seats: 3,
    projects: 3,
    storageBytes: 1 * GIB,
    auditRetentionDays: 7,
    extensionCpuMsPerDay: 0,
  }),
  plan("team", "Team", {
    requestsPerMinute: 600,
    seats: 25,
    projects: 50,
    storageBytes: 50 * GIB,
    auditRetentionDays: 90,
    extensionCpuMsPerDay: 600_000,
  }),
  plan("business", "Business", {
    requestsPerMinute: 3_000,
    seats: 250,
    projects: 500,
    storageBytes: 500 * GIB,
    auditRetentionDays: 365,
    extensionCpuMsPerDay: 3_600_000,
  }),
  plan("enterprise", "Enterprise", {
    requestsPerMinute: 20_000,
    seats: UNLIMITED,
    projects: UNLIMITED,
    storageBytes: 5_120 * GIB,
    auditRetentionDays: 2_555,
    extensionCpuMsPerDay: 36_000_000,
  }),
]);

const byId = new Map<string, Plan>(PLANS.map((p) => [p.id, p]));

/** Whether `value` names a plan of the catalogue. */
export function isPlanId(value: unknown): value is PlanId {
  return typeof value === "string" && byId.has(value);
}

/** The plan with this id, or undefined when the catalogue has none. */
export function findPlan(id: string): Plan | undefined {
  return byId.get(id);
}

/** The plan with this id; throws a RangeError for an id the catalogue does not have. */
export function getPlan(id: PlanId): Plan;
export function getPlan(id: string): Plan;
export function getPlan(id: string): Plan {
  const found = byId.get(id);
  if (!found) throw new RangeError(`unknown plan ${JSON.stringify(id)}: plans are ${PLAN_IDS.join(", ")}`);
  return found;
}

/**
 * Whether `used` (after the change, e.g. seats in use plus the one being added) stays within
 * `limit`: true for {@link UNLIMITED}, false for a limit of 0 ("none") as soon as anything is used.
 */
export function withinQuota(limit: number, used: number): boolean {
  return limit === UNLIMITED || used <= limit;
}
