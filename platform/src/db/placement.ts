import { canonicalTenantId } from "./identifiers.ts";

/** The directory's reference of the shared (pool) database. */
export const POOL_DATABASE = "pool";

const DEDICATED = /^([a-z][a-z0-9-]{0,30})\/t_([0-9a-f]{32})$/;

/** A parsed database reference from the tenant directory. */
export type DatabaseRef =
  | { readonly kind: "pool"; readonly ref: typeof POOL_DATABASE }
  | { readonly kind: "dedicated"; readonly ref: string; readonly server: string; readonly key: string };

/** The key of a tenant's dedicated databases: `t_` and its id's 32 hex digits. */
export function tenantDatabaseKey(tenantId: string): string {
  return `t_${canonicalTenantId(tenantId).replaceAll("-", "")}`;
}

/** The reference of a tenant's dedicated database on a server: `<server>/t_<hex>`. */
export function dedicatedRef(server: string, tenantId: string): string {
  const ref = `${server}/${tenantDatabaseKey(tenantId)}`;
  if (!DEDICATED.test(ref)) throw new TypeError(`server name "${server}" is not a valid database server name`);
  return ref;
}

/** Parses a directory reference ("pool", or "<server>/t_<hex>"); an empty one means the pool. */
export function parseDatabaseRef(ref: string): DatabaseRef {
  if (ref === "" || ref === POOL_DATABASE) return { kind: "pool", ref: POOL_DATABASE };
  const m = DEDICATED.exec(ref);
  if (!m) throw new TypeError(`malformed database reference ${JSON.stringify(ref)}`);
  return { kind: "dedicated", ref, server: m[1] as string, key: `t_${m[2] as string}` };
}

/**
 * Whether a reference may hold this tenant's data: the pool, or a dedicated database whose key is
 * the tenant's own. A wrong or stale directory entry can therefore never route a tenant into
 * another tenant's database.
 */
export function refBelongsTo(ref: DatabaseRef, tenantId: string): boolean {
  return ref.kind === "pool" || ref.key === tenantDatabaseKey(tenantId);
}

/** The name of a service's dedicated database for a tenant: `<its pool database>_<key>`. */
export function dedicatedDatabaseName(poolDatabase: string, key: string): string {
  const name = `${poolDatabase}_${key}`;
  if (name.length > 63) throw new TypeError(`database name ${name} is longer than 63 characters`);
  return name;
}
