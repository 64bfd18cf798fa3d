import { Code, ConnectError } from "@connectrpc/connect";
import { createLogger } from "@tessera/platform/log";
import { getPlan, UNLIMITED } from "@tessera/platform/plans";
import type { TenantResolver } from "@tessera/platform/tenancy-client";
import type { Tenant } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { describe, expect, it } from "vitest";
import { createRateLimiter, planQuotaSource, rateLimitHeaders } from "../../src/rate-limit.ts";

describe("per-tenant rate limits", () => {
  it("allows the quota per window, refuses beyond it, and starts over when the window ends", async () => {
    let now = 1_000_000;
    const limiter = createRateLimiter({ quotaOf: async () => 3, now: () => now });
    const first = await limiter.take("a");
    expect(first).toMatchObject({ allowed: true, limit: 3, remaining: 2, resetSeconds: 60 });
    await limiter.take("a");
    expect(await limiter.take("a")).toMatchObject({ allowed: true, remaining: 0 });
    now += 20_000;
    const refused = await limiter.take("a");
    expect(refused).toMatchObject({ allowed: false, remaining: 0, resetSeconds: 40 });
    expect(rateLimitHeaders(refused)).toEqual({
      "ratelimit-limit": "3",
      "ratelimit-remaining": "0",
      "ratelimit-reset": "40",
      "ratelimit-policy": "3;w=60",
    });
    // another tenant has its own window
    expect(await limiter.take("b")).toMatchObject({ allowed: true, remaining: 2 });
    now += 40_000;
    expect(await limiter.take("a")).toMatchObject({ allowed: true, remaining: 2 });
  });

  it("never limits an unlimited plan, and refuses everything on a zero quota", async () => {
    const unlimited = createRateLimiter({ quotaOf: async () => UNLIMITED });
    for (let i = 0; i < 5; i++) expect((await unlimited.take("a")).allowed).toBe(true);
    expect(rateLimitHeaders(await unlimited.take("a"))).toEqual({});
    const none = createRateLimiter({ quotaOf: async () => 0 });
    expect((await none.take("a")).allowed).toBe(false);
  });

  it("reads the quota from the tenant's plan, and falls back to the default plan when it cannot", async () => {
    const logger = createLogger({ service: "test", level: "silent" });
    const calls: string[] = [];
    const resolver = {
      async byId(id: string) {
        calls.push(id);
        if (id === "down") throw new ConnectError("tenancy down", Code.Unavailable);
        if (id === "odd") return { id, plan: "platinum" } as Tenant;
        return { id, plan: "business" } as Tenant;
      },
    } as unknown as TenantResolver;
    const quota = planQuotaSource(resolver, "free", logger);
    expect(await quota("t1")).toBe(getPlan("business").quotas.requestsPerMinute);
    expect(await quota("odd")).toBe(getPlan("free").quotas.requestsPerMinute);
    expect(await quota("down")).toBe(getPlan("free").quotas.requestsPerMinute);
    // a failing lookup is not repeated on every request
    await quota("down");
    expect(calls.filter((c) => c === "down")).toHaveLength(1);
    expect(await planQuotaSource(undefined, "team", logger)("t1")).toBe(getPlan("team").quotas.requestsPerMinute);
  });
});
