import { tesseraHome } from "../paths.ts";
import { type ParsedArgs, parseArgs, UsageError } from "./args.ts";
import { connectTenancy, type Tenancy } from "./client.ts";
import { resolveConnection } from "./connection.ts";
import type { CommandContext, TenantsCommand } from "./context.ts";
import { create } from "./create.ts";
import { del } from "./delete.ts";
import { CliError, Interrupted } from "./errors.ts";
import { exportCommand } from "./export.ts";
import { offboard, resume, suspend } from "./lifecycle.ts";
import { list } from "./list.ts";
import { move } from "./move.ts";
import { createOutput } from "./output.ts";
import { progress } from "./progress.ts";
import { show } from "./show.ts";
import { upgrade } from "./upgrade.ts";

/** Every `./tessera tenants` command, in the order the help lists them. */
export const COMMANDS: readonly TenantsCommand[] = [
  create,
  list,
  show,
  progress,
  suspend,
  resume,
  offboard,
  move,
  upgrade,
  del,
  exportCommand,
];

const COMMON = "[--json] [--tenancy-url URL] [--identity-url URL]";

/** The usage line of one command. */
export const usageOf = (c: TenantsCommand) => `usage: ./tessera tenants ${c.usage} ${COMMON}`;

/** The help of `./tessera tenants`. */
export function tenantsHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "usage: ./tessera tenants <command> [arguments] [--json]",
    "",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    ...COMMANDS.map((c) => `  ./tessera tenants ${c.usage}`),
    "",
    "Every command: --json prints one JSON document (no progress display); <id|slug> is a tenant id or slug.",
    "Locally it talks to the platform ./tessera up runs (.tessera/runtime.json, the tessera-cli credential in",
    ".tessera/secrets.json). Elsewhere: --tenancy-url (TESSERA_TENANCY_URL), --identity-url (TESSERA_IDENTITY_URL),",
    "and TESSERA_CLIENT_ID + TESSERA_CLIENT_SECRET (a service credential with the platform-admin role) or TESSERA_TOKEN.",
    "Exit codes: 0 done, 1 failed (the reason on stderr), 2 bad arguments, 130 interrupted.",
  ].join("\n");
}

/**
 * `./tessera tenants <command> …`: the operator CLI over tenancy's gRPC API. Resolves to the exit
 * code: 0, 1 (a failure, explained on stderr), 2 (usage), 130 (Ctrl-C).
 */
export async function runTenants(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    (name === undefined ? console.error : console.log)(tenantsHelp());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    console.error(`tessera tenants: unknown command ${JSON.stringify(name)}\n\n${tenantsHelp()}`);
    return 2;
  }
  let args: ParsedArgs;
  try {
    args = parseArgs(rest, command.spec);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`tessera tenants ${name}: ${err.message}\n${usageOf(command)}`);
    return 2;
  }
  if (args.help) {
    console.log(`${usageOf(command)}\n\n${command.summary}`);
    return 0;
  }

  const out = createOutput(args.flags.json === true);
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.on("SIGINT", onSigint);
  let tenancy: Tenancy | undefined;
  const ctx: CommandContext = {
    args,
    out,
    signal: abort.signal,
    pollIntervalMs: 500,
    tenancy: () => {
      tenancy ??= connectTenancy(resolveConnection(args, env, tesseraHome(env)));
      return tenancy;
    },
  };
  try {
    return await command.run(ctx);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`tessera tenants ${name}: ${err.message}\n${usageOf(command)}`);
      return 2;
    }
    if (err instanceof Interrupted) {
      const ref = args.positionals.tenant ?? args.strings.slug ?? "<tenant>";
      out.warn(name, `stopped following (it goes on in tenancy): ./tessera tenants progress ${ref}`);
      return 130;
    }
    const failure = err instanceof CliError ? err : tenancy ? tenancy.explain(err) : undefined;
    if (!failure) throw err;
    out.error(name, failure);
    return failure.exitCode;
  } finally {
    process.off("SIGINT", onSigint);
    tenancy?.close();
  }
}
