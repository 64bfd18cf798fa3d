/**
 * The provisioning seam for bridge and silo tenants: the `local` database driver (data-plane.ts)
 * and the `helm` compute driver (compute/helm.ts); the saga calls them from its steps, deletion
 * from its phases.
 *
 * Every method must be idempotent: the saga calls it again after a crash or a failed attempt, even
 * when the first call already took effect, and the second call must then find and return what the
 * first one made instead of making it twice. Honour `signal`: it aborts when the step's deadline
 * passes or the service shuts down.
 */
export interface TenantSpec {
  readonly tenantId: string;
  readonly slug: string;
  readonly region: string;
  /** The tenant's plan id (from its registry row): sizes a silo tenant's namespace and services. */
  readonly plan: string;
}

/** Creates and migrates a tenant's dedicated database (bridge and silo tiers). */
export interface DatabaseDriver {
  /** Short name for logs and errors, e.g. "local". */
  readonly name: string;
  /**
   * Creates the tenant's database (or finds the one an earlier attempt created) on `server` (default:
   * the deployment's default server); returns its directory reference.
   */
  createDatabase(tenant: TenantSpec, signal: AbortSignal, server?: string): Promise<{ database: string }>;
  /** Brings the database's schema up to date (every service's migrations). */
  migrateDatabase(tenant: TenantSpec, database: string, signal: AbortSignal): Promise<void>;
  /** Drops the tenant's dedicated database (after its data was moved or deleted). Idempotent. */
  dropDatabase(tenant: TenantSpec, database: string, signal: AbortSignal): Promise<void>;
  /** Whether `server` names a configured database server. */
  hasServer(server: string): boolean;
}

/** Installs a tenant's dedicated compute (silo tier): a namespace with a release of the tenant chart. */
export interface ComputeDriver {
  readonly name: string;
  /** Installs (or upgrades to the same state) the tenant's release; returns its namespace. */
  install(tenant: TenantSpec, database: string, signal: AbortSignal): Promise<{ namespace: string }>;
  /**
   * Removes the tenant's release and its namespace, returning once both are gone. Idempotent: a
   * release or namespace that is already gone is fine.
   */
  uninstall(tenant: TenantSpec, signal: AbortSignal): Promise<void>;
}

/** The drivers a deployment has configured; a tier whose driver is missing cannot be provisioned. */
export interface Drivers {
  readonly database?: DatabaseDriver | undefined;
  readonly compute?: ComputeDriver | undefined;
}
