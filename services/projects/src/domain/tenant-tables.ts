import type { TenantTable } from "@tessera/platform/tenant-data";

/** projects' tenant tables, parents before children: what a tier move copies and a deletion removes. */
export const TENANT_TABLES: readonly TenantTable[] = [
  { table: "projects", key: "id" },
  { table: "tasks", key: "id" },
  { table: "comments", key: "id" },
];
