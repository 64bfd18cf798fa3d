import { env, z } from "@tessera/platform/config";
import { databaseEnv, natsEnv, serviceEnv } from "@tessera/platform/service";
import { loadPublicKeys, loadSigner } from "./domain/signing.ts";

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
  /**
   * The Ed25519 key that signs chain heads and retention checkpoints: PKCS#8 PEM (or its 32-byte
   * seed in base64). Without it nothing is signed or published and VerifyChain is not anchored.
   */
  AUDIT_SIGNING_KEY: z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      if (!value) return;
      try {
        loadSigner(value);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: err instanceof Error ? err.message : String(err) });
      }
    }),
  /** Further public keys whose signatures verify (rotation): a JWKS, or PEM public keys one after another. */
  AUDIT_VERIFY_KEYS: z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      try {
        loadPublicKeys(value ?? "");
      } catch (err) {
        ctx.addIssue({ code: "custom", message: err instanceof Error ? err.message : String(err) });
      }
    }),
  /** The JetStream key-value bucket signed heads and checkpoints are published to. */
  AUDIT_HEADS_BUCKET: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 letters, digits, '_' or '-'")
    .default("audit_heads"),
  /** How often grown logs' heads are signed and published: the bound on the unsigned tail. */
  AUDIT_HEAD_PUBLISH_INTERVAL_MS: env.durationMs(1_000),
  /** How often every tenant's head is checked against the published one (missed publications). */
  AUDIT_HEAD_SWEEP_INTERVAL_MS: env.durationMs(300_000),
  /** Records per ExportAuditEvents message. */
  AUDIT_EXPORT_BATCH_SIZE: z.coerce.number().int().min(1).max(5_000).default(500),
});

/** Parsed audit configuration. */
export type AuditConfig = z.infer<typeof configSchema>;
