import { existsSync, readFileSync } from "node:fs";
import { displayPath } from "../paths.ts";
import type { RuntimeInfo } from "../up/runtime.ts";
import { runtimeFile } from "../up/runtime.ts";
import { secretsFile } from "../up/secrets.ts";
import type { ParsedArgs } from "./args.ts";
import { CliError } from "./errors.ts";

/**
 * The operator CLI's client id on the local platform: `./tessera up` seeds it into identity with
 * the role `platform-admin` only (no `edge`), its secret in secrets.json beside up's own.
 */
export const CLI_CLIENT_ID = "tessera-cli";

/** How the CLI authenticates to tenancy. */
export type Credential =
  /** A service credential with the platform-admin role, traded at identity for tenancy tokens. */
  | { kind: "client"; clientId: string; clientSecret: string; identityUrl: string }
  /** An internal token for audience `tenancy`, obtained elsewhere. */
  | { kind: "token"; token: string };

/** Where tenancy is and who the CLI is. */
export interface Connection {
  tenancyUrl: string;
  credential: Credential;
  /** `local`: read from `./tessera up`'s runtime.json and secrets.json; `explicit`: flags and environment. */
  source: "local" | "explicit";
}

const CLUSTER_HINT =
  "point at a platform with --tenancy-url (TESSERA_TENANCY_URL) and --identity-url (TESSERA_IDENTITY_URL), " +
  "with TESSERA_CLIENT_ID and TESSERA_CLIENT_SECRET (a service credential with the platform-admin role) or TESSERA_TOKEN";

const nonEmpty = (v: string | undefined) => (v === undefined || v === "" ? undefined : v);

/**
 * Works out the connection. Flags and environment win (a cluster); with neither, the platform
 * that `./tessera up` runs locally (its runtime.json for the URLs, the `tessera-cli` credential
 * it seeded from secrets.json). Secrets only ever come from the environment or secrets.json.
 */
export function resolveConnection(args: ParsedArgs, env: NodeJS.ProcessEnv, home: string): Connection {
  const explicitTenancy = nonEmpty(args.strings["tenancy-url"]) ?? nonEmpty(env.TESSERA_TENANCY_URL);
  const explicitIdentity = nonEmpty(args.strings["identity-url"]) ?? nonEmpty(env.TESSERA_IDENTITY_URL);
  const token = nonEmpty(env.TESSERA_TOKEN);
  const clientId = nonEmpty(env.TESSERA_CLIENT_ID);
  const clientSecret = nonEmpty(env.TESSERA_CLIENT_SECRET);
  if (clientId !== undefined && clientSecret === undefined)
    throw new CliError("TESSERA_CLIENT_ID is set but TESSERA_CLIENT_SECRET is not");
  if (clientSecret !== undefined && clientId === undefined)
    throw new CliError("TESSERA_CLIENT_SECRET is set but TESSERA_CLIENT_ID is not");

  // runtime.json is read only when something is not given explicitly
  let runtime: RuntimeInfo | undefined | null = null;
  const local = () => {
    if (runtime === null) runtime = readRuntime(home);
    return runtime;
  };
  const urlOf = (name: string) => local()?.components.find((c) => c.name === name)?.url;

  const tenancyUrl = explicitTenancy ?? urlOf("tenancy");
  if (!tenancyUrl) {
    throw new CliError(
      local()
        ? `the local platform has no tenancy service (${displayPath(runtimeFile(home))}); ${CLUSTER_HINT}`
        : `no platform to talk to: ./tessera up is not running here (no ${displayPath(runtimeFile(home))}); start it, or ${CLUSTER_HINT}`,
    );
  }
  checkUrl("--tenancy-url", tenancyUrl);

  if (token !== undefined) return { tenancyUrl, credential: { kind: "token", token }, source: "explicit" };
  if (clientId !== undefined && clientSecret !== undefined) {
    const identityUrl = explicitIdentity ?? urlOf("identity");
    if (!identityUrl)
      throw new CliError("TESSERA_CLIENT_ID needs identity's URL: --identity-url or TESSERA_IDENTITY_URL");
    checkUrl("--identity-url", identityUrl);
    return {
      tenancyUrl,
      credential: { kind: "client", clientId, clientSecret, identityUrl },
      source: explicitTenancy ? "explicit" : "local",
    };
  }
  if (explicitTenancy)
    throw new CliError(
      "no credential for --tenancy-url: set TESSERA_CLIENT_ID and TESSERA_CLIENT_SECRET (a service credential with the platform-admin role), or TESSERA_TOKEN",
    );

  // the local platform: up seeded a platform-admin credential for this CLI
  const identityUrl = explicitIdentity ?? urlOf("identity");
  if (!identityUrl) throw new CliError(`the local platform has no identity service; ${CLUSTER_HINT}`);
  checkUrl("--identity-url", identityUrl);
  const secret = readLocalCliSecret(home);
  return {
    tenancyUrl,
    credential: { kind: "client", clientId: CLI_CLIENT_ID, clientSecret: secret, identityUrl },
    source: "local",
  };
}

function readRuntime(home: string): RuntimeInfo | undefined {
  const file = runtimeFile(home);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as RuntimeInfo;
  } catch (err) {
    throw new CliError(`cannot read ${displayPath(file)}: ${(err as Error).message}`);
  }
}

function readLocalCliSecret(home: string): string {
  const file = secretsFile(home);
  let secret: unknown;
  try {
    secret = (JSON.parse(readFileSync(file, "utf8")) as { clients?: Record<string, unknown> }).clients?.[CLI_CLIENT_ID];
  } catch (err) {
    throw new CliError(`cannot read the local credentials in ${displayPath(file)}: ${(err as Error).message}`);
  }
  if (typeof secret !== "string" || secret === "")
    throw new CliError(
      `${displayPath(file)} holds no "${CLI_CLIENT_ID}" credential: restart ./tessera up (it seeds one for this CLI)`,
    );
  return secret;
}

function checkUrl(flag: string, url: string): void {
  const parsed = URL.parse(url);
  if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:"))
    throw new CliError(`${flag} must be an http:// or https:// URL (got ${JSON.stringify(url)})`);
}
