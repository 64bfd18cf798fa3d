import { env, z } from "@tessera/platform/config";
import { databaseEnv, natsEnv, serviceEnv } from "@tessera/platform/service";

/** audit's environment: the kit's service, database and NATS variables plus its own. */
export const configSchema = z.object({
  ...serviceEnv,
  ...databaseEnv,
  ...natsEnv,
  PORT: env.port(50063),
  /** Durable name of the consumer of every event (one per deployment; replicas share it). */
  AUDIT_CONSUMER_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 letters, digits, '_' or '-'")
    .default("audit"),
  /**
   * The role retention removes expired records as: the database owner (the app role cannot
   * delete). Defaults to OUTBOX_RELAY_DATABASE_URL, which the platform sets to the owner.
   */
  AUDIT_RETENTION_DATABASE_URL: env.postgresUrl().optional(),
  /** Run the retention job in this process. */
  AUDIT_RETENTION_ENABLED: env.bool(true),
  /** How often retention runs. */
  AUDIT_RETENTION_INTERVAL_MS: env.durationMs(3_600_000),
  /** Days the platform tenant's records (events of no tenant) are kept. */
  AUDIT_PLATFORM_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(365),
  /** Records per ExportAuditEvents message. */
  AUDIT_EXPORT_BATCH_SIZE: z.coerce.number().int().min(1).max(5_000).default(500),
});

/** Parsed audit configuration. */
export type AuditConfig = z.infer<typeof configSchema>;
