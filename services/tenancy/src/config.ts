import { env, z } from "@tessera/platform/config";
import { databaseEnv, natsEnv, serviceEnv } from "@tessera/platform/service";
import { STEP_NAMES } from "./domain/saga/steps.ts";

/** tenancy's environment: the kit's service, database and NATS variables plus its own. */
export const configSchema = z.object({
  ...serviceEnv,
  ...databaseEnv,
  ...natsEnv,
  PORT: env.port(50061),
  /** How long edges may cache a ResolveTenant answer: the bound on how late a suspension bites when events are lost. */
  TENANCY_RESOLVE_CACHE_TTL_SECONDS: z.coerce.number().int().min(1).max(3_600).default(30),
  /** How often incomplete provisioning sagas are looked for. */
  PROVISIONING_SWEEP_INTERVAL_MS: env.durationMs(10_000),
  /** How long a started step is reserved for its process; a crashed process's step is retried after it. */
  PROVISIONING_LEASE_MS: env.durationMs(60_000),
  /** Backoff after a failed step: the first wait, doubling up to the maximum. */
  PROVISIONING_RETRY_INITIAL_MS: env.durationMs(1_000),
  PROVISIONING_RETRY_MAX_MS: env.durationMs(300_000),
  /** Deadline of one attempt of a step's driver work. */
  PROVISIONING_STEP_TIMEOUT_MS: env.durationMs(600_000),
  /**
   * FAULT INJECTION, for tests only: kill the process (SIGKILL) right after this provisioning step
   * is recorded done. Unset (the default) in every real deployment.
   */
  TENANCY_FAULT_CRASH_AFTER_STEP: z
    .string()
    .refine((v) => STEP_NAMES.includes(v), { message: `must be one of ${STEP_NAMES.join(", ")}` })
    .optional(),
});

/** Parsed tenancy configuration. */
export type TenancyConfig = z.infer<typeof configSchema>;
