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

/** What a silo tenant's compute is, once installed or upgraded. */
export interface ComputeState {
  /** Kubernetes namespace (helm) or a local label (local) of the tenant's compute. */
  readonly namespace: string;
  /**
   * Where the tenant's own services answer: service name (e.g. `projects`) → gRPC base URL. The
   * directory publishes it as `Placement.endpoints`, and the edges route the tenant's calls there.
   */
  readonly endpoints: Readonly<Record<string, string>>;
  /** The version that runs (the tenant chart's version; the local build's). */
  readonly version: string;
}

/** A compute upgrade that failed and left the previous version running (helm rolled it back). */
export class ComputeUpgradeFailed extends Error {
  override name = "ComputeUpgradeFailed";
}

/** Installs a tenant's dedicated compute (silo tier): its own application-plane processes. */
export interface ComputeDriver {
  readonly name: string;
  /** The version an install or upgrade rolls out now (the platform's tenant chart version). */
  targetVersion(signal: AbortSignal): Promise<string>;
  /** Installs (or converges on the same state of) the tenant's compute; returns where it answers. */
  install(tenant: TenantSpec, database: string, signal: AbortSignal): Promise<ComputeState>;
  /**
   * Rolls the tenant's compute to targetVersion(). When the new version does not become healthy,
   * the previous one is left running and ComputeUpgradeFailed is thrown (other errors: retry).
   */
  upgrade(tenant: TenantSpec, database: string, signal: AbortSignal): Promise<ComputeState>;
  /**
   * Removes the tenant's compute (helm: release and namespace), returning once it is gone.
   * Idempotent: what is already gone is fine.
   */
  uninstall(tenant: TenantSpec, signal: AbortSignal): Promise<void>;
  /**
   * Called once at start-up with every active silo tenant whose compute this driver runs: a driver
   * whose compute lives in the process (local) restarts it; others need not implement it.
   */
  resume?(tenants: ReadonlyArray<{ tenant: TenantSpec; database: string }>, signal: AbortSignal): Promise<void>;
  /** Stops what the driver runs in-process (local), on shutdown. */
  close?(): Promise<void>;
}

/** The drivers a deployment has configured; a tier whose driver is missing cannot be provisioned. */
export interface Drivers {
  readonly database?: DatabaseDriver | undefined;
  readonly compute?: ComputeDriver | undefined;
}
