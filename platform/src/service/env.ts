import { env, z } from "../config/index.ts";
import { plansEnv } from "../plans/file.ts";
import { telemetryEnv } from "../telemetry/index.ts";

/**
 * The variables every gRPC service reads. A service spreads these (and the database / NATS
 * shapes it needs) into its own schema: `z.object({ ...serviceEnv, ...databaseEnv, MY_VAR: … })`.
 */
export const serviceEnv = {
  /** Interface to bind: 127.0.0.1 locally, 0.0.0.0 in a pod. */
  HOST: z.string().min(1).default("127.0.0.1"),
  PORT: env.port(50051),
  LOG_LEVEL: env.logLevel(),
  SHUTDOWN_GRACE_MS: env.durationMs(10_000),
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  /** identity's JWKS (`/.well-known/jwks.json`), against which internal tokens are verified. */
  AUTH_JWKS_URL: env.url(),
  /** The `iss` of internal tokens (identity's issuer URL). */
  AUTH_ISSUER: z.string().min(1),
  /**
   * Set on a process that serves one tenant only (a silo tenant's own compute): calls acting for
   * any other tenant are refused with PERMISSION_DENIED. Unset: the process serves every tenant.
   */
  SERVICE_TENANT_ID: z.uuid().optional(),
  ...telemetryEnv,
  ...plansEnv,
};

/** A service that owns a database: the app role (runtime) and the relay's connection. */
export const databaseEnv = {
  /** The service's app role: owns nothing, cannot bypass row-level security. */
  DATABASE_URL: env.postgresUrl(),
  /** A role allowed to read the outbox (the owner or a relay role); defaults to DATABASE_URL's database as owner. */
  OUTBOX_RELAY_DATABASE_URL: env.postgresUrl(),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  DB_STATEMENT_TIMEOUT_MS: env.durationMs(10_000),
};

/** A service that publishes or consumes events. */
export const natsEnv = {
  NATS_URL: env.natsUrl(),
};

const base = z.object(serviceEnv);
/** Parsed values of {@link serviceEnv}. */
export type ServiceEnv = z.infer<typeof base>;
const db = z.object(databaseEnv);
/** Parsed values of {@link databaseEnv}. */
export type DatabaseEnv = z.infer<typeof db>;

/** Refinement for schemas that use TLS: both files or neither. */
export function tlsFilesPaired(cfg: { TLS_CERT_FILE?: string | undefined; TLS_KEY_FILE?: string | undefined }) {
  return (cfg.TLS_CERT_FILE === undefined) === (cfg.TLS_KEY_FILE === undefined);
}
