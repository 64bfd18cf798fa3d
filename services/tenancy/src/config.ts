import { existsSync } from "node:fs";
import { join } from "node:path";
import { env, z } from "@tessera/platform/config";
import { databaseEnv, natsEnv, serviceEnv } from "@tessera/platform/service";
import { loadLocalComputeSpec } from "./domain/compute/local-spec.ts";
import { STEP_NAMES } from "./domain/saga/steps.ts";

const SERVER = /^[a-z][a-z0-9-]{0,30}$/;

function jsonEnv<T extends z.ZodType>(shape: T, fallback: string) {
  return z
    .string()
    .default(fallback)
    .transform((v, ctx): z.infer<T> => {
      const parsed = (() => {
        try {
          return shape.safeParse(JSON.parse(v));
        } catch {
          return undefined;
        }
      })();
      if (parsed?.success) return parsed.data;
      ctx.addIssue({ code: "custom", message: `must be JSON: ${parsed?.error.issues[0]?.message ?? "not JSON"}` });
      return z.NEVER;
    });
}

const fields = z.object({
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
  /** Database servers for dedicated (bridge) databases: JSON `{"<name>": "<admin postgres:// URL>"}`. */
  TENANCY_DATABASE_SERVERS: jsonEnv(z.record(z.string().regex(SERVER), env.postgresUrl()), "{}"),
  /** The server new dedicated databases go to unless a move names another. */
  TENANCY_DEFAULT_DATABASE_SERVER: z.string().regex(SERVER).default("main"),
  /**
   * The services holding tenant data: JSON `[{"name", "url", "routed", "database"}]` — routed services'
   * data follows the tenant's placement (dedicated databases, moves); the others keep it shared.
   */
  TENANCY_DATA_SERVICES: jsonEnv(
    z.array(
      z
        .object({
          name: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/),
          url: z.url(),
          routed: z.boolean(),
          database: z.string().regex(/^[a-z_][a-z0-9_]{0,40}$/),
        })
        .strict(),
    ),
    "[]",
  ),
  IDENTITY_URL: env.url().optional(),
  SERVICE_CLIENT_ID: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/)
    .default("tenancy"),
  SERVICE_CLIENT_SECRET: z.string().min(16).optional(),
  /** Where export bundles are written (a volume or mounted object store in a cluster). */
  TENANCY_EXPORT_DIR: z.string().min(1).optional(),
  /** The platform's Ed25519 export signing key, PEM (PKCS#8). */
  TENANCY_EXPORT_SIGNING_KEY: z.string().includes("PRIVATE KEY").optional(),
  /** After a move's switch, how long the source stays fenced before clean-up may begin (edge caches). */
  TENANCY_MOVE_DRAIN_MS: env.durationMs(35_000),
  /** After a move's switch, how long the source rows are kept. */
  TENANCY_MOVE_GRACE_MS: env.durationMs(300_000),
  /** Rows per copy batch of a move. */
  TENANCY_MOVE_BATCH_ROWS: z.coerce.number().int().min(1).max(10_000).default(2_000),
  /** Failed attempts of a phase before a move rolls back (before its switch). */
  TENANCY_MOVE_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(5),
  /**
   * Installs silo tenants' compute: `helm` (the tenant chart, one release per tenant), `local` (a
   * process per routed service on this machine: `./tessera up`, tests) or `none`.
   */
  TENANCY_COMPUTE_DRIVER: z.enum(["none", "helm", "local"]).default("none"),
  /** The `local` driver's spec: JSON (mode 0600) with each routed service's command and environment, ports, state dir, version. */
  TENANCY_LOCAL_COMPUTE_FILE: z.string().min(1).optional(),
  /** The helm executable (path or name on PATH). */
  TENANCY_HELM_BIN: z.string().min(1).default("helm"),
  /** The tenant chart: a directory with its dependencies built (`helm dependency build`) or a packaged `.tgz`. */
  TENANCY_TENANT_CHART: z
    .string()
    .min(1)
    .refine((p) => existsSync(p.endsWith(".tgz") ? p : join(p, "Chart.yaml")), {
      message: "must be a chart directory (with Chart.yaml) or a packaged .tgz that exists",
    })
    .optional(),
  /** Namespace the tenants' releases live in (their records; each tenant's workloads go to its own namespace). */
  TENANCY_HELM_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/)
    .default("tessera-system"),
  /** An extra values file for every tenant release (e.g. the cloud profile), applied before the tenant's own values. */
  TENANCY_TENANT_CHART_VALUES: z
    .string()
    .min(1)
    .refine((p) => existsSync(p), { message: "must name a values file that exists" })
    .optional(),
  /** Kubeconfig for helm and the namespace clean-up; unset: `~/.kube/config`, else the pod's service account. */
  KUBECONFIG: z.string().min(1).optional(),
  TENANCY_FAULT_CRASH_AFTER_STEP: z
    .string()
    .refine((v) => STEP_NAMES.includes(v) || /^(move|delete)\.[a-z_]+$/.test(v), {
      message: `must be one of ${STEP_NAMES.join(", ")}, or move.<phase> / delete.<phase>`,
    })
    .optional(),
});

/** tenancy's environment: the kit's service, database and NATS variables plus its own. */
export const configSchema = fields
  .refine((c) => c.TENANCY_COMPUTE_DRIVER !== "helm" || c.TENANCY_TENANT_CHART, {
    path: ["TENANCY_TENANT_CHART"],
    message: "is required when TENANCY_COMPUTE_DRIVER is helm",
  })
  .superRefine((c, ctx) => {
    if (c.TENANCY_COMPUTE_DRIVER !== "local") return;
    const path = ["TENANCY_LOCAL_COMPUTE_FILE"];
    if (!c.TENANCY_LOCAL_COMPUTE_FILE) {
      ctx.addIssue({ code: "custom", path, message: "is required when TENANCY_COMPUTE_DRIVER is local" });
      return;
    }
    try {
      loadLocalComputeSpec(c.TENANCY_LOCAL_COMPUTE_FILE);
    } catch (err) {
      ctx.addIssue({ code: "custom", path, message: (err as Error).message });
    }
  });

/** Parsed tenancy configuration. */
export type TenancyConfig = z.infer<typeof configSchema>;
