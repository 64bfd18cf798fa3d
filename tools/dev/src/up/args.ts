/** The tiers `up` can place the demo tenant in (silo: its own projects process, tenancy's `local` driver). */
export const DEMO_TIERS = ["pool", "bridge", "silo"] as const;
export type DemoTier = (typeof DEMO_TIERS)[number];

/** Options of `tessera up`. */
export interface UpOptions {
  /** Bring everything up, print the table, then shut down (CI smoke test). */
  check: boolean;
  /**
   * The demo tenant's tier (`--demo-tier`). A new demo tenant is created in pool and moved to
   * bridge or silo with MoveTenant; an existing one is moved when the flag names another tier. Undefined
   * (no flag): pool for a new demo tenant, an existing one stays where it is.
   */
  demoTier: DemoTier | undefined;
}

/** A command line `up` does not take: the message says what is wrong (exit code 2). */
export class UpUsageError extends Error {}

const isDemoTier = (value: string): value is DemoTier => (DEMO_TIERS as readonly string[]).includes(value);

/** Parses `up`'s arguments: `--check`, `--demo-tier pool|bridge|silo` (or `--demo-tier=…`). */
export function parseUpArgs(args: readonly string[]): UpOptions {
  const options: UpOptions = { check: false, demoTier: undefined };
  let tierGiven = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "--check") {
      options.check = true;
      continue;
    }
    if (arg !== "--demo-tier" && !arg.startsWith("--demo-tier=")) throw new UpUsageError(`unknown argument ${arg}`);
    const value = arg === "--demo-tier" ? args[++i] : arg.slice("--demo-tier=".length);
    if (value === undefined || value === "" || value.startsWith("--"))
      throw new UpUsageError(`--demo-tier needs a tier: ${DEMO_TIERS.join(", ")}`);
    if (tierGiven) throw new UpUsageError("--demo-tier is given more than once");
    if (!isDemoTier(value))
      throw new UpUsageError(`unknown demo tier ${JSON.stringify(value)}: --demo-tier takes ${DEMO_TIERS.join(", ")}`);
    options.demoTier = value;
    tierGiven = true;
  }
  return options;
}
