import { Code, ConnectError } from "@connectrpc/connect";
import { QuotaExceeded, Unavailable } from "../errors/index.ts";
import { type Logger, rootLogger } from "../log/index.ts";
import type { TenantResolver } from "../tenancy-client/index.ts";
import { CATALOGUE, type Plan, type PlanCatalogue, type QuotaName, type Quotas, withinQuota } from "./catalogue.ts";

/** The plan a tenant is on (its quotas with it): what domain code enforcing quotas depends on. */
export type QuotaSource = (tenantId: string) => Promise<Pick<Plan, "id" | "quotas">>;

const FIELD: Record<QuotaName, keyof Quotas> = {
  requests_per_minute: "requestsPerMinute",
  seats: "seats",
  projects: "projects",
  storage_bytes: "storageBytes",
  audit_retention_days: "auditRetentionDays",
  extension_cpu_ms_per_day: "extensionCpuMsPerDay",
};

/**
 * Throws {@link QuotaExceeded} (RESOURCE_EXHAUSTED naming the quota and its limit) when `used`,
 * the amount after the change, is beyond the plan's `quota`.
 */
export function requireWithinQuota(plan: Pick<Plan, "id" | "quotas">, quota: QuotaName, used: number): void {
  const limit = plan.quotas[FIELD[quota]];
  if (!withinQuota(limit, used)) throw new QuotaExceeded(quota, limit, plan.id);
}

/**
 * A {@link QuotaSource} over tenancy (ResolveTenant through the resolver's cache, which tenant
 * events evict, so a plan change applies within seconds). A tenant tenancy does not know, or a plan
 * id this process's catalogue lacks, gets the catalogue's default plan (logged at most once a
 * minute). When tenancy cannot be asked the change is refused as UNAVAILABLE rather than judged
 * against a guessed plan.
 */
export function resolvedQuotaSource(
  resolver: TenantResolver,
  options: { catalogue?: PlanCatalogue; logger?: Logger } = {},
): QuotaSource {
  const catalogue = options.catalogue ?? CATALOGUE;
  const logger = options.logger ?? rootLogger();
  let lastWarning = 0;
  return async (tenantId) => {
    let planId: string | undefined;
    try {
      planId = (await resolver.byId(tenantId))?.plan;
    } catch (err) {
      const code = ConnectError.from(err).code;
      throw new Unavailable(
        `cannot read the tenant's plan to check its quotas (${code === Code.Unavailable ? "tenancy unavailable" : Code[code]}); retry later`,
        [],
        { cause: err },
      );
    }
    const plan = planId === undefined ? undefined : catalogue.find(planId);
    if (plan) return plan;
    if (Date.now() - lastWarning > 60_000) {
      lastWarning = Date.now();
      logger.warn(
        { plan: planId ?? null, default_plan: catalogue.defaultPlan.id },
        planId === undefined
          ? "tenant unknown to tenancy; the default plan's quotas apply"
          : "tenant's plan is not in this catalogue; the default plan's quotas apply",
      );
    }
    return catalogue.defaultPlan;
  };
}

/**
 * Every tenant under one plan's quotas (a process that serves tenants without tenancy: one silo
 * tenant, a single-database deployment); the catalogue's default plan when none is named. Throws
 * at once for a plan the catalogue does not have.
 */
export function fixedQuotaSource(planId: string | undefined, catalogue: PlanCatalogue = CATALOGUE): QuotaSource {
  const plan = planId === undefined ? catalogue.defaultPlan : catalogue.find(planId);
  if (!plan) throw new Error(`TENANT_PLAN ${JSON.stringify(planId)} is not in the plan catalogue`);
  return async () => plan;
}
