import type { TenantDataSource } from "@tessera/platform/db";
import type { Logger } from "@tessera/platform/log";
import type { QuotaSource } from "@tessera/platform/plans";

/** What projects' domain operations work with; built once per process by server.ts. */
export interface ProjectsDeps {
  /** Where tenant transactions run: the pool ORM, or the router to each tenant's database. */
  readonly orm: TenantDataSource;
  readonly logger: Logger;
  /** The plan of a tenant (its quotas: projects, storage), from tenancy; see server.ts. */
  readonly quotaOf: QuotaSource;
}
