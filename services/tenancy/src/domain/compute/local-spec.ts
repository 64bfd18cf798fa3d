import { readFileSync, statSync } from "node:fs";
import { isAbsolute } from "node:path";
import { z } from "@tessera/platform/config";

const port = z.number().int().min(1).max(65_535);

/** How one routed application service is started for a silo tenant: as its pool instance is. */
const serviceSpec = z
  .object({
    /** The executable (e.g. the node binary). */
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    /** Working directory (absolute). */
    cwd: z.string().refine(isAbsolute, { message: "must be an absolute path" }),
    /** The pool instance's environment; PORT, METRICS_PORT, HOST and SERVICE_TENANT_ID are set per tenant. */
    env: z.record(z.string(), z.string()).default({}),
    /** Give each tenant's process its own metrics port from the range (else METRICS_PORT=0: an ephemeral one). */
    metricsPort: z.boolean().default(true),
  })
  .strict();

/**
 * The `local` compute driver's spec (TENANCY_LOCAL_COMPUTE_FILE, written by `./tessera up` or the
 * test harness, mode 0600: it holds the services' database URLs and credentials, which tenancy's
 * own environment then need not carry).
 */
export const localComputeSpecSchema = z
  .object({
    /** The version a process started now runs (the build's; compute_version in the directory). */
    version: z.string().min(1).max(128),
    /** Interface the tenants' processes bind (URLs use 127.0.0.1 for 0.0.0.0). */
    host: z.string().min(1).default("127.0.0.1"),
    /** Ports handed to tenants' processes (gRPC and metrics). */
    ports: z
      .object({ from: port, to: port })
      .strict()
      .refine((r) => r.from <= r.to, { message: "from must not be above to" }),
    /** Per-tenant state files (ports, pids): a restart finds the tenants' processes and ports here. */
    stateDir: z.string().refine(isAbsolute, { message: "must be an absolute path" }),
    /** Where each tenant's process logs go (default `<stateDir>/logs`). */
    logDir: z.string().refine(isAbsolute, { message: "must be an absolute path" }).optional(),
    /** How long a started process may take to answer its health check as SERVING. */
    startTimeoutMs: z.number().int().min(100).max(600_000).default(60_000),
    /** Between SIGTERM and SIGKILL when a process is stopped. */
    stopGraceMs: z.number().int().min(0).max(120_000).default(5_000),
    /** After an upgrade, how long the previous process keeps serving before it is stopped. */
    drainMs: z.number().int().min(0).max(600_000).default(2_000),
    /** The routed application services, by name (the key of Placement.endpoints). */
    services: z
      .record(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/), serviceSpec)
      .refine((s) => Object.keys(s).length > 0, { message: "must name at least one service" }),
  })
  .strict();

/** A parsed spec. */
export type LocalComputeSpec = z.infer<typeof localComputeSpecSchema>;
/** One service of a spec. */
export type LocalServiceSpec = LocalComputeSpec["services"][string];

/** The spec file is missing, unreadable, readable by others, or not a valid spec. */
export class LocalComputeSpecError extends Error {
  override name = "LocalComputeSpecError";
}

/**
 * Reads and checks the spec file. Refuses a file group or others may read (it holds credentials);
 * problems name the field, never echo a value.
 */
export function loadLocalComputeSpec(path: string): LocalComputeSpec {
  let mode: number;
  let text: string;
  try {
    mode = statSync(path).mode;
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new LocalComputeSpecError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
  }
  if ((mode & 0o077) !== 0)
    throw new LocalComputeSpecError(`${path} is readable by group or others (it holds credentials): chmod 600 it`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new LocalComputeSpecError(`${path} is not JSON`);
  }
  const parsed = localComputeSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.map(String).join(".") || "(file)"}: ${i.message}`);
    throw new LocalComputeSpecError(`${path}: ${problems.join("; ")}`);
  }
  return parsed.data;
}
