import { env, z } from "@tessera/platform/config";
import { plansEnv } from "@tessera/platform/plans";
import { telemetryEnv } from "@tessera/platform/telemetry";

/**
 * The gateway's environment (every variable is documented in README.md with its default).
 * Production defaults are the safe ones: no GraphiQL, no introspection.
 */
export const configSchema = z
  .object({
    ...telemetryEnv,
    ...plansEnv,
    /** Interface to bind: 127.0.0.1 locally, 0.0.0.0 in a pod. */
    HOST: z.string().min(1).default("127.0.0.1"),
    PORT: env.port(4000),
    LOG_LEVEL: env.logLevel(),
    /** How long in-flight requests may take to finish after SIGTERM before connections are cut. */
    SHUTDOWN_GRACE_MS: env.durationMs(10_000),
    /**
     * identity's JWKS and issuer. The gateway verifies nothing itself (identity checks credentials
     * at exchange, services verify internal tokens); accepted so every deployable shares one wiring.
     */
    AUTH_JWKS_URL: env.url().optional(),
    AUTH_ISSUER: z.string().min(1).optional(),
    IDENTITY_URL: env.url(),
    /** tenancy: the tenant's own queries, and placements (where a silo tenant's services answer). */
    TENANCY_URL: env.url(),
    /** projects' shared instance; a silo tenant's calls go to its placement's `projects` endpoint. */
    PROJECTS_URL: env.url(),
    /** audit's gRPC URL (the tenant's audit log, for its owners and admins). */
    AUDIT_URL: env.url(),
    NATS_URL: env.natsUrl(),
    /** The gateway's own client credential at identity (role `edge`). */
    SERVICE_CLIENT_ID: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, "must be a client id"),
    SERVICE_CLIENT_SECRET: z.string().min(16, "must be at least 16 characters"),
    /** GraphiQL at /graphql and introspection; off unless explicitly on (development only). */
    GRAPHQL_DEV_MODE: env.bool(false),
    GRAPHQL_MAX_DEPTH: z.coerce.number().int().min(2).max(50).default(12),
    GRAPHQL_MAX_ALIASES: z.coerce.number().int().min(0).max(1_000).default(30),
    GRAPHQL_MAX_COMPLEXITY: z.coerce.number().int().min(10).max(1_000_000).default(5_000),
    GRAPHQL_MAX_PAGE_SIZE: z.coerce.number().int().min(1).max(250).default(100),
    GRAPHQL_DEFAULT_PAGE_SIZE: z.coerce.number().int().min(1).max(250).default(20),
    /** Browser origins allowed to call cross-origin, comma-separated (`https://app.example.com`); none by default. */
    GRAPHQL_CORS_ORIGINS: z
      .string()
      .default("")
      .transform((v) =>
        v
          .split(",")
          .map((o) => o.trim())
          .filter((o) => o !== ""),
      )
      .pipe(z.array(z.url({ protocol: /^https?$/ }))),
    /** Largest request body accepted (bytes). */
    GRAPHQL_MAX_BODY_BYTES: z.coerce.number().int().min(1_024).max(10_485_760).default(262_144),
    /** Deadline of each call to a service (ms). */
    UPSTREAM_TIMEOUT_MS: env.durationMs(5_000),
    /** Proxies in front of the gateway whose X-Forwarded-For entry is trusted for the client's address. */
    TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  })
  .refine((c) => c.GRAPHQL_DEFAULT_PAGE_SIZE <= c.GRAPHQL_MAX_PAGE_SIZE, {
    path: ["GRAPHQL_DEFAULT_PAGE_SIZE"],
    message: "must not exceed GRAPHQL_MAX_PAGE_SIZE",
  });

/** The parsed configuration. */
export type GatewayConfig = z.infer<typeof configSchema>;
