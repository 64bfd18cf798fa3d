import { type Logger, rootLogger } from "@tessera/platform/log";
import { findPlan, getPlan, type PlanId, UNLIMITED } from "@tessera/platform/plans";
import type { TenantResolver } from "@tessera/platform/tenancy-client";

/** The outcome of counting one request. */
export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Requests allowed per window; UNLIMITED (-1) when the plan has no limit. */
  readonly limit: number;
  readonly remaining: number;
  /** Seconds until the window resets (at least 1). */
  readonly resetSeconds: number;
  /** Length of the window, in seconds. */
  readonly windowSeconds: number;
}

/** Where a tenant's requests-per-minute quota comes from. */
export type QuotaSource = (tenantId: string) => Promise<number>;

/** Options of {@link createRateLimiter}. */
export interface RateLimiterOptions {
  readonly quotaOf: QuotaSource;
  /** Window length; the quota is "requests per minute", so 60 000 unless a test says otherwise. */
  readonly windowMs?: number;
  /** Windows kept at most (one per active tenant); the oldest go first. Default 100 000. */
  readonly maxTenants?: number;
  readonly now?: () => number;
}

/** Per-tenant request counting. */
export interface RateLimiter {
  /** Counts one request of the tenant and says whether it may proceed. */
  take(tenantId: string): Promise<RateLimitDecision>;
}

interface Window {
  start: number;
  count: number;
}

/**
 * A fixed-window limiter per tenant, in this process's memory: each tenant's window starts with
 * its first request and lasts `windowMs`; requests beyond the plan's quota in a window are refused.
 * With N replicas a tenant may get up to N × quota (documented; a cluster-wide limiter in NATS
 * or Redis is future work).
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const windowMs = options.windowMs ?? 60_000;
  const maxTenants = options.maxTenants ?? 100_000;
  const now = options.now ?? Date.now;
  const windows = new Map<string, Window>();

  return {
    async take(tenantId) {
      const limit = await options.quotaOf(tenantId);
      const t = now();
      const windowSeconds = Math.ceil(windowMs / 1000);
      if (limit === UNLIMITED) return { allowed: true, limit, remaining: UNLIMITED, resetSeconds: 1, windowSeconds };
      let w = windows.get(tenantId);
      if (!w || t - w.start >= windowMs) {
        windows.delete(tenantId);
        w = { start: t, count: 0 };
        if (windows.size >= maxTenants) {
          const oldest = windows.keys().next().value;
          if (oldest !== undefined) windows.delete(oldest);
        }
        windows.set(tenantId, w);
      }
      const resetSeconds = Math.max(1, Math.ceil((w.start + windowMs - t) / 1000));
      if (w.count >= limit) return { allowed: false, limit, remaining: 0, resetSeconds, windowSeconds };
      w.count++;
      return { allowed: true, limit, remaining: limit - w.count, resetSeconds, windowSeconds };
    },
  };
}

/**
 * Requests per minute of a tenant's plan, read through the tenancy resolver (cached there, evicted
 * by tenant events, so a plan change applies within seconds). When the plan cannot be read
 * (tenancy refuses the edge's credential, is unreachable, or names an unknown plan) the default
 * plan applies for a minute, and a warning is logged at most once a minute.
 */
export function planQuotaSource(
  resolver: TenantResolver | undefined,
  defaultPlan: PlanId,
  logger: Logger = rootLogger(),
): QuotaSource {
  const fallback = getPlan(defaultPlan).quotas.requestsPerMinute;
  const fallbackUntil = new Map<string, number>();
  let lastWarning = 0;
  const warn = (fields: Record<string, unknown>, msg: string) => {
    if (Date.now() - lastWarning < 60_000) return;
    lastWarning = Date.now();
    logger.warn({ ...fields, default_plan: defaultPlan }, msg);
  };
  return async (tenantId) => {
    if (!resolver) return fallback;
    const until = fallbackUntil.get(tenantId);
    if (until !== undefined && until > Date.now()) return fallback;
    fallbackUntil.delete(tenantId);
    try {
      const tenant = await resolver.byId(tenantId);
      const plan = tenant ? findPlan(tenant.plan) : undefined;
      if (plan) return plan.quotas.requestsPerMinute;
      warn({ plan: tenant?.plan }, "tenant plan unknown; rate limit of the default plan applies");
    } catch (err) {
      warn(
        { err_message: (err as Error).message },
        "cannot read the tenant's plan; rate limit of the default plan applies",
      );
    }
    if (fallbackUntil.size > 10_000) fallbackUntil.clear();
    fallbackUntil.set(tenantId, Date.now() + 60_000);
    return fallback;
  };
}

/** The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers) of a decision. */
export function rateLimitHeaders(d: RateLimitDecision): Record<string, string> {
  if (d.limit === UNLIMITED) return {};
  return {
    "ratelimit-limit": String(d.limit),
    "ratelimit-remaining": String(d.remaining),
    "ratelimit-reset": String(d.resetSeconds),
    "ratelimit-policy": `${d.limit};w=${d.windowSeconds}`,
  };
}
