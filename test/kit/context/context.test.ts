import {
  currentContext,
  requireTenantId,
  runAsTenant,
  runWithContext,
  traceIdFromTraceparent,
} from "@tessera/platform/context";
import { describe, expect, it } from "vitest";

const A = "5d1e6f3a-0b2c-4d3e-9f4a-5b6c7d8e9f0a";
const B = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

describe("request context", () => {
  it("is empty outside a request, and requireTenantId refuses to guess", () => {
    expect(currentContext()).toBeUndefined();
    expect(() => requireTenantId()).toThrow(/no tenant in context/);
  });

  it("follows async work and keeps concurrent requests apart", async () => {
    const seen = await Promise.all(
      [A, B, A, B].map((tenantId, i) =>
        runWithContext({ tenantId, requestId: `r${i}` }, async () => {
          await new Promise((r) => setTimeout(r, 5 * (4 - i)));
          return [requireTenantId(), currentContext()?.requestId];
        }),
      ),
    );
    expect(seen).toEqual([
      [A, "r0"],
      [B, "r1"],
      [A, "r2"],
      [B, "r3"],
    ]);
  });

  it("inherits unspecified fields from the outer context and can clear them explicitly", () => {
    runWithContext({ tenantId: A, requestId: "outer", token: "t" }, () => {
      runWithContext({ principal: undefined }, () => {
        expect(currentContext()).toMatchObject({ tenantId: A, requestId: "outer", token: "t" });
      });
      runWithContext({ tenantId: undefined }, () => expect(currentContext()?.tenantId).toBeUndefined());
    });
  });

  it("runs background work as a tenant with a system principal and no token", () => {
    runWithContext({ tenantId: B, token: "user-token" }, () => {
      runAsTenant(A, () => {
        const ctx = currentContext();
        expect(ctx?.tenantId).toBe(A);
        expect(ctx?.principal).toMatchObject({ kind: "system", subject: "system" });
        expect(ctx?.token).toBeUndefined();
      });
    });
  });

  it("gives every unit of work a trace id: the caller's from traceparent, else a new one, inherited inside", () => {
    const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    expect(traceIdFromTraceparent(incoming)).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    for (const bad of [undefined, "", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"])
      expect(traceIdFromTraceparent(bad)).toBeUndefined();
    runWithContext({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736" }, () => {
      runAsTenant(A, () => expect(currentContext()?.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736"));
    });
    const fresh = runWithContext({}, () => currentContext()?.traceId);
    expect(fresh).toMatch(/^[0-9a-f]{32}$/);
    expect(runWithContext({}, () => currentContext()?.traceId)).not.toBe(fresh);
  });
});
