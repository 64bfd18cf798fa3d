/**
 * TenantDataService in every service that holds tenant data: the control plane prepares a tenant's
 * dedicated database, fences, copies, verifies, exports and deletes its rows through it.
 */
export {
  registerTenantData,
  TENANT_DATA_ADMIN_ROLE,
  type TenantDataOptions,
  tenantDataService,
} from "./service.ts";
export type { TableSummary, TenantTable } from "./tables.ts";
