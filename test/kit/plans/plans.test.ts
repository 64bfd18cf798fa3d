import {
  findPlan,
  getPlan,
  isPlanId,
  PLAN_IDS,
  PLANS,
  planToProto,
  UNLIMITED,
  withinQuota,
} from "@tessera/platform/plans";
import { describe, expect, it } from "vitest";

describe("plan catalogue", () => {
  it("has exactly free, team, business and enterprise, cheapest first", () => {
    expect(PLANS.map((p) => p.id)).toEqual(["free", "team", "business", "enterprise"]);
    expect([...PLAN_IDS]).toEqual(PLANS.map((p) => p.id));
  });

  it("never lowers a quota from one plan to the next", () => {
    const keys = Object.keys(PLANS[0]?.quotas ?? {}) as Array<keyof (typeof PLANS)[number]["quotas"]>;
    expect(keys).toHaveLength(6);
    for (let i = 1; i < PLANS.length; i++) {
      for (const key of keys) {
        const lower = PLANS[i - 1]?.quotas[key] as number;
        const higher = PLANS[i]?.quotas[key] as number;
        if (higher === UNLIMITED) continue;
        expect(lower, `${PLANS[i]?.id}.${key}`).not.toBe(UNLIMITED);
        expect(higher, `${PLANS[i]?.id}.${key}`).toBeGreaterThanOrEqual(lower);
      }
    }
  });

  it("looks plans up by id and refuses unknown ids", () => {
    expect(getPlan("team").displayName).toBe("Team");
    expect(findPlan("platinum")).toBeUndefined();
    expect(() => getPlan("platinum")).toThrow(/unknown plan "platinum"/);
    expect(isPlanId("enterprise")).toBe(true);
    expect(isPlanId("Enterprise")).toBe(false);
    expect(isPlanId(undefined)).toBe(false);
    expect(isPlanId("toString")).toBe(false);
  });

  it("cannot be changed at run time", () => {
    const free = getPlan("free");
    expect(() => {
      (free.quotas as { seats: number }).seats = 1_000;
    }).toThrow(TypeError);
    expect(getPlan("free").quotas.seats).toBe(3);
  });

  it("checks usage against limits, with -1 as unlimited and 0 as none", () => {
    expect(withinQuota(3, 3)).toBe(true);
    expect(withinQuota(3, 4)).toBe(false);
    expect(withinQuota(0, 1)).toBe(false);
    expect(withinQuota(UNLIMITED, 1_000_000)).toBe(true);
  });

  it("converts to the contract's Plan message", () => {
    const msg = planToProto(getPlan("enterprise"));
    expect(msg.id).toBe("enterprise");
    expect(msg.quotas?.seats).toBe(-1n);
    expect(msg.quotas?.storageBytes).toBe(BigInt(getPlan("enterprise").quotas.storageBytes));
  });
});
