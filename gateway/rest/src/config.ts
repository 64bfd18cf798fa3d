import { env, parseConfig, z } from "@tessera/platform/config";
import { DEFAULT_PLAN, PLAN_IDS, plansEnv } from "@tessera/platform/plans";
import { telemetryEnv } from "@tessera/platform/telemetry";

/** The process name: logs, metrics, traces. */
export const SERVICE = "rest-gateway";

const DAY_MS = 24 * 60 * 60 * 1000;

const optionalDate = z
  .string()
  .min(1)
  .refine((v) => !Number.isNaN(Date.parse(v)), "must be an ISO 8601 date")
  .transform((v) => new Date(v))
  .optional();

/**
 * Every variable the REST edge reads (see README.md for the table). Unknown variables are
 * ignored, so the platform-wide set (`AUTH_JWKS_URL`, …) can be passed unchanged.
 */
export const configSchema = z.object({
  HOST: z.string().min(1).default("127.0.0.1"),
  PORT: env.port(8080),
  LOG_LEVEL: env.logLevel(),
  SHUTDOWN_GRACE_MS: env.durationMs(10_000),
  /** identity: token exchange and the edge's own service tokens. */
  IDENTITY_URL: env.url(),
  /**
   * projects' shared instance: projects, tasks, comments. With TENANCY_URL, a silo tenant's calls go
   * to its placement's `projects` endpoint instead.
   */
  PROJECTS_URL: env.url(),
  /** identity's HTTP listener: `/sso/start` and `/sso/callback` are forwarded there (404 without it). */
  IDENTITY_HTTP_URL: env.url().optional(),
  /** audit: /v1/audit-events (list, export, verify); without it those routes answer 503. */
  AUDIT_URL: env.url().optional(),
  /**
   * tenancy: the tenant's plan for rate limits and its placement (a silo tenant's own projects);
   * without it every tenant gets RATE_LIMIT_DEFAULT_PLAN and every call goes to PROJECTS_URL.
   */
  TENANCY_URL: env.url().optional(),
  /** NATS with JetStream: idempotency records (KV) and cache evictions. */
  NATS_URL: env.natsUrl(),
  SERVICE_CLIENT_ID: z.string().min(1).default("rest"),
  SERVICE_CLIENT_SECRET: z.string().min(1),
  /** Largest accepted request body; larger ones get 413. */
  BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(1024 * 1024),
  /** Deadline of one call to a business service (retries included). */
  UPSTREAM_TIMEOUT_MS: env.durationMs(5_000),
  /** Deadline of one token exchange at identity. */
  EXCHANGE_TIMEOUT_MS: env.durationMs(3_000),
  IDEMPOTENCY_BUCKET: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default("rest_idempotency"),
  /** How long idempotency records are kept: at least 24 h. */
  IDEMPOTENCY_TTL_MS: z.coerce.number().int().min(DAY_MS, "must be at least 24 h (86400000)").default(DAY_MS),
  /** How long an unfinished request holds its key before a retry may take it over (a crashed replica). */
  IDEMPOTENCY_LOCK_MS: env.durationMs(60_000),
  RATE_LIMIT_ENABLED: env.bool(true),
  /**
   * Plan assumed when a tenant's plan cannot be read (tenancy not configured, unreachable, or
   * refusing); one of the catalogue's plans, by default its `defaultPlan`.
   */
  RATE_LIMIT_DEFAULT_PLAN: z.enum(PLAN_IDS).default(DEFAULT_PLAN.id),
  /** When /v1 was (or will be) deprecated: sends `Deprecation` on every /v1 response. */
  V1_DEPRECATED_AT: optionalDate,
  /** When /v1 stops working: sends `Sunset`. */
  V1_SUNSET_AT: optionalDate,
  /** A page about the deprecation (migration guide), sent as `Link: <…>; rel="deprecation"`. */
  V1_DEPRECATION_LINK: env.url().optional(),
  /** Base URL partners use (OpenAPI `servers`); omitted when unset. */
  PUBLIC_BASE_URL: env.url().optional(),
  ...telemetryEnv,
  ...plansEnv,
});

/** The parsed configuration. */
export type RestConfig = z.infer<typeof configSchema>;

/** Parses an environment (tests pass the harness's gateway environment). */
export function parseRestConfig(environment: Record<string, string | undefined>): RestConfig {
  return parseConfig(SERVICE, configSchema, environment);
}
