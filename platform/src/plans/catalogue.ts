import { type PlanFile, type PlanTier, plansFilePath, readPlanFile } from "./file.ts";

/** Quota value meaning "no limit". */
export const UNLIMITED = -1;

/**
 * What a plan allows a tenant. Zero means "none", {@link UNLIMITED} (-1) means no limit. The same
 * numbers travel in the contract (`tessera.tenancy.v1.Quotas`).
 */
export interface Quotas {
  /** Requests per minute the tenant may make at each edge (REST, GraphQL). */
  readonly requestsPerMinute: number;
  /** Users (seats) the tenant may have: its active memberships. */
  readonly seats: number;
  readonly projects: number;
  /** Stored data, in bytes. */
  readonly storageBytes: number;
  /** How long audit records are kept, in days. */
  readonly auditRetentionDays: number;
  /** CPU time tenant extensions may use per day, in milliseconds. */
  readonly extensionCpuMsPerDay: number;
}

/** The name of one quota, as the contract spells it (`tessera.tenancy.v1.Quotas` fields). */
export type QuotaName =
  | "requests_per_minute"
  | "seats"
  | "projects"
  | "storage_bytes"
  | "audit_retention_days"
  | "extension_cpu_ms_per_day";

/** A plan id of the catalogue file. Plans are configuration, so any string may name one: check with {@link isPlanId}. */
export type PlanId = string;

/** CPU and memory of a LimitRange entry (Kubernetes quantities). */
export interface ContainerResources {
  readonly cpu: string;
  readonly memory: string;
}

/** How a tenant namespace of the plan is sized (the tenant chart applies it). */
export interface KubernetesSizing {
  /** ResourceQuota `hard`; `requests.storage` is added from {@link Quotas.storageBytes}. */
  readonly resourceQuota: Readonly<Record<string, string>>;
  readonly limitRange: {
    readonly default: ContainerResources;
    readonly defaultRequest: ContainerResources;
    readonly max: ContainerResources;
  };
  /** Replicas of each service when autoscaling is off. */
  readonly replicas: number;
  readonly autoscaling: { readonly minReplicas: number; readonly maxReplicas: number };
}

/** One entry of the plan catalogue. */
export interface Plan {
  readonly id: PlanId;
  readonly displayName: string;
  /** The tier CreateTenant gives a tenant of this plan that does not ask for one. */
  readonly defaultTier: PlanTier;
  readonly quotas: Quotas;
  readonly kubernetes: KubernetesSizing;
}

/** A loaded catalogue: its plans (file order, cheapest first) and lookups. */
export interface PlanCatalogue {
  /** The file it was read from. */
  readonly source: string;
  readonly plans: readonly Plan[];
  readonly ids: readonly PlanId[];
  /** The plan assumed when a tenant's plan cannot be read. */
  readonly defaultPlan: Plan;
  find(id: string): Plan | undefined;
  /** The plan with this id; a RangeError naming the plans there are for an unknown one. */
  get(id: string): Plan;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** A catalogue from a checked file's content. */
export function catalogueFrom(data: PlanFile, source: string): PlanCatalogue {
  const plans: readonly Plan[] = deepFreeze(data.plans.map((p) => ({ ...p })));
  const byId = new Map<string, Plan>(plans.map((p) => [p.id, p]));
  const ids = Object.freeze(plans.map((p) => p.id));
  const get = (id: string): Plan => {
    const found = byId.get(id);
    if (!found) throw new RangeError(`unknown plan ${JSON.stringify(id)}: plans are ${ids.join(", ")}`);
    return found;
  };
  return Object.freeze({
    source,
    plans,
    ids,
    defaultPlan: get(data.defaultPlan),
    find: (id: string) => byId.get(id),
    get,
  });
}

/** Reads, checks and freezes a catalogue file (a {@link PlanCatalogueError} lists every problem). */
export function loadPlanCatalogue(file: string = plansFilePath()): PlanCatalogue {
  return catalogueFrom(readPlanFile(file), file);
}

/**
 * This process's catalogue, read once when the module loads from `TESSERA_PLANS_FILE` (or the
 * repository's `config/plans.yaml`): a process with an invalid catalogue does not start.
 */
export const CATALOGUE: PlanCatalogue = loadPlanCatalogue();

/** The plan catalogue, cheapest first: the one definition of quotas every service uses. */
export const PLANS: readonly Plan[] = CATALOGUE.plans;

/** The ids of the plans of this process's catalogue (configuration: not known at compile time). */
export const PLAN_IDS: readonly PlanId[] = CATALOGUE.ids;

/** The plan assumed for a tenant whose plan cannot be read (the file's `defaultPlan`). */
export const DEFAULT_PLAN: Plan = CATALOGUE.defaultPlan;

/** Whether `value` names a plan of the catalogue. */
export function isPlanId(value: unknown): value is PlanId {
  return typeof value === "string" && CATALOGUE.find(value) !== undefined;
}

/** The plan with this id, or undefined when the catalogue has none. */
export function findPlan(id: string): Plan | undefined {
  return CATALOGUE.find(id);
}

/** The plan with this id; throws a RangeError for an id the catalogue does not have. */
export function getPlan(id: string): Plan {
  return CATALOGUE.get(id);
}

/**
 * Whether `used` (after the change, e.g. seats in use plus the one being added) stays within
 * `limit`: true for {@link UNLIMITED}, false for a limit of 0 ("none") as soon as anything is used.
 */
export function withinQuota(limit: number, used: number): boolean {
  return limit === UNLIMITED || used <= limit;
}
