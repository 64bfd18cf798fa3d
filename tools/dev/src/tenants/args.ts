/** A problem with the command line: printed with the command's usage line, exit code 2. */
export class UsageError extends Error {}

/** One option a command accepts. */
export interface OptionSpec {
  /** `string` takes a value, `list` takes a value and may repeat, `boolean` takes none. */
  type: "string" | "list" | "boolean";
  required?: boolean;
  /** The values allowed (a string or list option). */
  values?: readonly string[];
}

/** What a command accepts: named options and, in order, its positional arguments. */
export interface ArgsSpec {
  options: Readonly<Record<string, OptionSpec>>;
  /** Required, in order. */
  positionals?: readonly string[];
  /** May follow the required ones (absent from `positionals` of the result when not given). */
  optionalPositionals?: readonly string[];
}

/** A parsed command line. */
export interface ParsedArgs {
  positionals: Record<string, string>;
  strings: Record<string, string>;
  lists: Record<string, string[]>;
  flags: Record<string, boolean>;
  help: boolean;
}

/** Options every `tenants` command accepts. */
export const COMMON_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  json: { type: "boolean" },
  "tenancy-url": { type: "string" },
  "identity-url": { type: "string" },
};

/** Options that would put a secret into argv (shell history, `ps`): refused with where to put it instead. */
const SECRET_OPTIONS: Readonly<Record<string, string>> = {
  "client-secret": "TESSERA_CLIENT_SECRET",
  secret: "TESSERA_CLIENT_SECRET",
  token: "TESSERA_TOKEN",
  password: "TESSERA_CLIENT_SECRET",
};

/**
 * Parses `argv` against `spec` (plus {@link COMMON_OPTIONS}): `--name value`, `--name=value`,
 * repeated list options, boolean flags, positionals; `--` ends the options. Throws a
 * {@link UsageError} naming the first problem.
 */
export function parseArgs(argv: readonly string[], spec: ArgsSpec): ParsedArgs {
  const options = { ...COMMON_OPTIONS, ...spec.options };
  const parsed: ParsedArgs = { positionals: {}, strings: {}, lists: {}, flags: {}, help: false };
  const positional: string[] = [];
  let optionsEnded = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (optionsEnded || !arg.startsWith("-") || arg === "-") {
      positional.push(arg);
      continue;
    }
    if (arg === "--") {
      optionsEnded = true;
      continue;
    }
    if (arg === "-h" || arg === "--help") {
      parsed.help = true;
      continue;
    }
    if (!arg.startsWith("--")) throw new UsageError(`unknown option ${arg}`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    const secretEnv = SECRET_OPTIONS[name];
    if (secretEnv)
      throw new UsageError(`--${name}: secrets are never taken from the command line; set ${secretEnv} instead`);
    const option = options[name];
    if (!option) throw new UsageError(`unknown option --${name}`);
    if (option.type === "boolean") {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      parsed.flags[name] = true;
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith("--") && next.length > 2))
        throw new UsageError(`--${name} needs a value`);
      value = next;
      i++;
    }
    if (option.values && !option.values.includes(value))
      throw new UsageError(`--${name} must be ${oneOf(option.values)} (got ${JSON.stringify(value)})`);
    if (option.type === "list") parsed.lists[name] = [...(parsed.lists[name] ?? []), value];
    else if (parsed.strings[name] !== undefined) throw new UsageError(`--${name} given twice`);
    else parsed.strings[name] = value;
  }
  if (parsed.help) return parsed;
  const names = spec.positionals ?? [];
  names.forEach((n, i) => {
    const value = positional[i];
    if (value === undefined) throw new UsageError(`missing <${n}>`);
    parsed.positionals[n] = value;
  });
  const optional = spec.optionalPositionals ?? [];
  optional.forEach((n, i) => {
    const value = positional[names.length + i];
    if (value !== undefined) parsed.positionals[n] = value;
  });
  const accepted = names.length + optional.length;
  if (positional.length > accepted) throw new UsageError(`unexpected argument ${positional[accepted]}`);
  for (const [name, option] of Object.entries(options)) {
    if (!option.required) continue;
    const given = option.type === "list" ? parsed.lists[name] : parsed.strings[name];
    if (given === undefined) throw new UsageError(`--${name} is required`);
  }
  return parsed;
}

/** `a, b or c`. */
export function oneOf(values: readonly string[]): string {
  if (values.length <= 1) return values.join("");
  return `${values.slice(0, -1).join(", ")} or ${values.at(-1)}`;
}

/** A whole number of seconds from `--name`, within bounds. */
export function secondsOption(args: ParsedArgs, name: string, fallback: number, max = 86_400): number {
  const raw = args.strings[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw new UsageError(`--${name} takes whole seconds from 1 to ${max} (got ${JSON.stringify(raw)})`);
  return value;
}
