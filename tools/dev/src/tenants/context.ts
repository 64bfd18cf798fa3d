import type { ArgsSpec, ParsedArgs } from "./args.ts";
import type { Tenancy } from "./client.ts";
import type { Output } from "./output.ts";

/** What a `tenants` command runs with. */
export interface CommandContext {
  args: ParsedArgs;
  out: Output;
  /** tenancy, connected on first use (argument errors never need a platform). */
  tenancy(): Tenancy;
  /** Aborted by Ctrl-C: follow loops stop (the work goes on in tenancy). */
  signal: AbortSignal;
  /** Between two GetProvisioning polls while following. */
  pollIntervalMs: number;
}

/** One `./tessera tenants <name>` command. */
export interface TenantsCommand {
  name: string;
  /** One line for the help text. */
  summary: string;
  /** Arguments after `./tessera tenants <name>`, for usage lines. */
  usage: string;
  spec: ArgsSpec;
  /** Resolves to the exit code; throws CliError / UsageError for failures. */
  run(ctx: CommandContext): Promise<number>;
}

/** `--timeout` of the commands that wait: how long to follow before leaving the work to the background. */
export const DEFAULT_FOLLOW_TIMEOUT_S = 3_600;
