import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { LineCounter, parseDocument } from "yaml";
import { z } from "zod";

/**
 * The catalogue shipped with the repository: `config/plans.yaml`, next to the platform package (in
 * an image docker/deploy.mjs puts `config/` at the same place relative to it).
 */
export const DEFAULT_PLANS_FILE = fileURLToPath(new URL("../../../config/plans.yaml", import.meta.url));

/** The variable naming another catalogue file (a mounted ConfigMap, a test fixture). */
export const PLANS_FILE_ENV = "TESSERA_PLANS_FILE";

/**
 * The variable in every deployable's environment schema (the charts set it to the catalogue they
 * mount); the kit reads it from the process environment when `@tessera/platform/plans` loads.
 */
export const plansEnv = {
  /** The plan catalogue file (default: the repository's or image's config/plans.yaml). */
  TESSERA_PLANS_FILE: z.string().min(1).optional(),
};

/** The file a process reads: `TESSERA_PLANS_FILE` when set, else {@link DEFAULT_PLANS_FILE}. */
export function plansFilePath(environment: Record<string, string | undefined> = process.env): string {
  const fromEnv = environment[PLANS_FILE_ENV];
  return fromEnv !== undefined && fromEnv !== "" ? fromEnv : DEFAULT_PLANS_FILE;
}

const TIERS = ["pool", "bridge", "silo"] as const;

/** Where a plan puts a new tenant unless it asks otherwise. */
export type PlanTier = (typeof TIERS)[number];

/** Kubernetes quantities (`500m`, `4Gi`, `"20"`); plain YAML numbers are taken as written. */
const QUANTITY = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$/;
const quantity = z
  .union([z.string(), z.number()])
  .transform((v) => String(v))
  .refine((v) => QUANTITY.test(v), "must be a Kubernetes quantity, e.g. 500m, 4Gi or 20");

const quota = z
  .number({ error: "must be a whole number (-1 for unlimited)" })
  .int("must be a whole number (-1 for unlimited)")
  .min(-1, "must be -1 (unlimited), 0 (none) or more")
  .max(Number.MAX_SAFE_INTEGER);

const resources = z.strictObject({ cpu: quantity, memory: quantity });

const planSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[a-z][a-z0-9_-]{1,31}$/, "must be 2-32 lower-case letters, digits, - or _, starting with a letter"),
  displayName: z.string().trim().min(1, "must not be empty"),
  defaultTier: z.enum(TIERS, { error: `must be one of ${TIERS.join(", ")}` }),
  quotas: z.strictObject({
    requestsPerMinute: quota,
    seats: quota,
    projects: quota,
    storageBytes: quota,
    auditRetentionDays: quota,
    extensionCpuMsPerDay: quota,
  }),
  kubernetes: z.strictObject({
    resourceQuota: z
      .record(z.string().min(1), quantity)
      .refine((q) => !("requests.storage" in q), "requests.storage comes from quotas.storageBytes: remove it here"),
    limitRange: z.strictObject({ default: resources, defaultRequest: resources, max: resources }),
    replicas: z.number().int().min(1),
    autoscaling: z
      .strictObject({ minReplicas: z.number().int().min(1), maxReplicas: z.number().int().min(1) })
      .refine((a) => a.maxReplicas >= a.minReplicas, {
        message: "must not be below minReplicas",
        path: ["maxReplicas"],
      }),
  }),
});

const fileSchema = z
  .strictObject({
    defaultPlan: z.string().min(1),
    plans: z.array(planSchema).min(1, "must list at least one plan"),
  })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    for (const [i, plan] of file.plans.entries()) {
      if (seen.has(plan.id))
        ctx.addIssue({ code: "custom", path: ["plans", i, "id"], message: `duplicate id ${plan.id}` });
      seen.add(plan.id);
    }
    if (seen.size > 0 && !seen.has(file.defaultPlan)) {
      ctx.addIssue({
        code: "custom",
        path: ["defaultPlan"],
        message: `names no plan of the file (plans are ${[...seen].join(", ")})`,
      });
    }
  });

/** A catalogue file as validated (before freezing into {@link PlanCatalogueData}). */
export type PlanFile = z.infer<typeof fileSchema>;

/** What a catalogue file holds, checked. */
export type PlanCatalogueData = PlanFile;

/** The catalogue file is unreadable or invalid; `problems` lists every one, each with its path. */
export class PlanCatalogueError extends Error {
  override name = "PlanCatalogueError";
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[]) {
    super(`invalid plan catalogue ${source}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.problems = problems;
  }
}

function pathOf(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out === "" ? "(file)" : out;
}

/** Parses and checks catalogue YAML; throws a {@link PlanCatalogueError} naming every problem. */
export function parsePlanFile(text: string, source = "plans.yaml"): PlanFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter: lines });
  if (doc.errors.length > 0) {
    throw new PlanCatalogueError(
      source,
      doc.errors.map((e) => {
        const at = lines.linePos(e.pos[0]);
        return `line ${at.line}, column ${at.col}: ${e.message.split("\n")[0]}`;
      }),
    );
  }
  const parsed = fileSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    throw new PlanCatalogueError(
      source,
      parsed.error.issues.map((issue) => {
        const unknown = issue.code === "unrecognized_keys" ? ` (${issue.keys.join(", ")})` : "";
        return `${pathOf(issue.path)}: ${issue.message}${unknown}`;
      }),
    );
  }
  return parsed.data;
}

/** Reads and checks a catalogue file. */
export function readPlanFile(file: string): PlanFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new PlanCatalogueError(file, [`cannot read the file: ${(err as Error).message}`]);
  }
  return parsePlanFile(text, file);
}
