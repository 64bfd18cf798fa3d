import { definePermissions, hasScope, requireScope } from "@tessera/platform/auth";
import { type Principal, runAsTenant, runWithContext } from "@tessera/platform/context";
import { PermissionDenied, Unauthenticated } from "@tessera/platform/errors";
import { describe, expect, it } from "vitest";

const permissions = definePermissions({
  viewer: ["project.read"],
  member: ["project.read", "project.write"],
  admin: ["project.read", "project.write", "project.delete", "member.invite"],
});

function principal(kind: Principal["kind"], roles: string[], scopes: string[] = []): Principal {
  return { subject: `${kind}-1`, kind, roles, scopes, actorChain: [] };
}

describe("role → permission mapping", () => {
  it("grants the union of the principal's roles' permissions", () => {
    const viewer = principal("user", ["viewer"]);
    expect(permissions.can(viewer, "project.read")).toBe(true);
    expect(permissions.can(viewer, "project.write")).toBe(false);
    const both = principal("user", ["viewer", "member"]);
    expect([...permissions.permissionsOf(both)].sort()).toEqual(["project.read", "project.write"]);
    expect(permissions.can(principal("service", ["admin"]), "member.invite")).toBe(true);
  });

  it("grants nothing for unknown roles, including names that exist on Object.prototype", () => {
    for (const role of ["owner", "ADMIN", "__proto__", "constructor", "toString", ""]) {
      const p = principal("user", [role]);
      expect(permissions.permissionsOf(p).size).toBe(0);
      expect(permissions.can(p, "project.read")).toBe(false);
    }
    expect(permissions.can(undefined, "project.read")).toBe(false);
  });

  it("limits API keys to their scopes, even when their roles grant more", () => {
    const key = principal("api_key", ["admin"], ["project.read", "project.delete"]);
    expect(permissions.can(key, "project.read")).toBe(true);
    expect(permissions.can(key, "project.delete")).toBe(true);
    expect(permissions.can(key, "project.write")).toBe(false);
    // A scope alone grants nothing without a role that carries the permission.
    expect(permissions.can(principal("api_key", [], ["project.read"]), "project.read")).toBe(false);
  });

  it("checks the current caller: PermissionDenied when missing, Unauthenticated without a caller", () => {
    runWithContext({ tenantId: "t", principal: principal("user", ["viewer"]) }, () => {
      expect(permissions.requirePermission("project.read").subject).toBe("user-1");
      expect(() => permissions.requirePermission("project.write")).toThrow(PermissionDenied);
      expect(() => permissions.requirePermission("project.write")).toThrow('missing permission "project.write"');
    });
    runWithContext({ tenantId: "t", principal: undefined }, () => {
      expect(() => permissions.requirePermission("project.read")).toThrow(Unauthenticated);
    });
  });

  it("lets in-process system work (runAsTenant) through", () => {
    runAsTenant("t", () => {
      expect(() => permissions.requirePermission("project.delete")).not.toThrow();
    });
  });

  it("refuses a table with empty role or permission names", () => {
    expect(() => definePermissions({ "": ["x"] })).toThrow(TypeError);
    expect(() => definePermissions({ viewer: [""] })).toThrow(TypeError);
  });
});

describe("scopes", () => {
  it("requires API keys to hold the scope, and leaves users and services unscoped", () => {
    const key = principal("api_key", [], ["webhooks.manage"]);
    expect(hasScope(key, "webhooks.manage")).toBe(true);
    expect(hasScope(key, "usage.read")).toBe(false);
    expect(hasScope(principal("user", []), "usage.read")).toBe(true);
    expect(hasScope(undefined, "usage.read")).toBe(false);

    runWithContext({ tenantId: "t", principal: key }, () => {
      expect(() => requireScope("webhooks.manage")).not.toThrow();
      expect(() => requireScope("usage.read")).toThrow(PermissionDenied);
    });
    runWithContext({ tenantId: "t", principal: principal("service", []) }, () => {
      expect(() => requireScope("usage.read")).not.toThrow();
    });
  });
});
