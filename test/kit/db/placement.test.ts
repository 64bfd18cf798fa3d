import { randomUUID } from "node:crypto";
import {
  createTenantRouter,
  dedicatedDatabaseName,
  dedicatedRef,
  type Orm,
  parseDatabaseRef,
  refBelongsTo,
  tenantDatabaseKey,
} from "@tessera/platform/db";
import { describe, expect, it } from "vitest";

describe("directory references", () => {
  it("names a tenant's dedicated database by server and the tenant's own key", () => {
    const tenant = randomUUID();
    const ref = dedicatedRef("main", tenant);
    expect(ref).toBe(`main/t_${tenant.replaceAll("-", "")}`);
    expect(parseDatabaseRef(ref)).toMatchObject({ kind: "dedicated", server: "main", key: tenantDatabaseKey(tenant) });
    expect(parseDatabaseRef("pool")).toMatchObject({ kind: "pool" });
    expect(parseDatabaseRef("")).toMatchObject({ kind: "pool" });
    expect(dedicatedDatabaseName("tessera_projects", tenantDatabaseKey(tenant))).toBe(
      `tessera_projects_t_${tenant.replaceAll("-", "")}`,
    );
  });

  it("refuses malformed references and server names", () => {
    for (const bad of ["Main/t_00", "main/t_xyz", "main/other", "../etc", `main/t_${"a".repeat(31)}`, "a/b/c"]) {
      expect(() => parseDatabaseRef(bad), bad).toThrow(/malformed database reference/);
    }
    expect(() => dedicatedRef("Bad Server", randomUUID())).toThrow(/not a valid database server name/);
    expect(() => dedicatedDatabaseName("x".repeat(40), tenantDatabaseKey(randomUUID()))).toThrow(/longer than 63/);
  });

  it("lets a reference hold only its own tenant's data", () => {
    const a = randomUUID();
    const b = randomUUID();
    expect(refBelongsTo(parseDatabaseRef(dedicatedRef("main", a)), a)).toBe(true);
    expect(refBelongsTo(parseDatabaseRef(dedicatedRef("main", a)), b)).toBe(false);
    expect(refBelongsTo(parseDatabaseRef("pool"), b)).toBe(true);
  });

  it("never routes a tenant into a database the directory wrongly names for it (another tenant's)", async () => {
    const a = randomUUID();
    const b = randomUUID();
    let opened = false;
    // the router refuses before it opens anything: no database is needed to show it
    const router = createTenantRouter({
      pool: { orm: {} as Orm, close: async () => {} },
      poolOwnerUrl: "postgres://owner:pw@127.0.0.1:1/tessera_projects",
      servers: {
        main: { app: "postgres://app:pw@127.0.0.1:1/tessera_projects", owner: "postgres://o:pw@127.0.0.1:1/x" },
      },
      entities: [],
      placementOf: async () => dedicatedRef("main", a),
      lifecycle: {
        opened: () => {
          opened = true;
        },
        closing: () => {},
      },
    });
    try {
      await expect(router.withTenantDatabase(b, async () => "reached")).rejects.toThrow(/placement is being updated/);
      expect(opened).toBe(false);
      expect(router.stats().openDatabases).toBe(0);
    } finally {
      await router.close();
    }
  });
});
