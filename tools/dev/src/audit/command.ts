import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServiceTokenSource } from "@tessera/platform/auth";
import { closeServiceClient, createServiceClient } from "@tessera/platform/rpc-client";
import { AuditService } from "@tessera/proto/tessera/audit/v1/audit_pb";
import { tesseraHome } from "../paths.ts";
import { type ArgsSpec, type ParsedArgs, parseArgs, UsageError } from "../tenants/args.ts";
import { resolveConnection } from "../tenants/connection.ts";
import { runtimeFile } from "../up/runtime.ts";
import { readBundle, writeBundle } from "./bundle.ts";
import { loadTrustedKeys, verifyBundle } from "./verify-bundle.ts";

/** Deadline of the whole export stream. */
const EXPORT_TIMEOUT_MS = 10 * 60_000;

const HELP = `usage: ./tessera audit <command>

  verify --bundle FILE --keys FILE [--json]
      Verifies an audit export bundle offline: every record's hash and link, the signed retention
      checkpoint it starts from and the signed head it must reach, against the given Ed25519 public
      keys (a JWKS, or PEM public keys one after another). Exit 0 intact, 1 with the finding on stderr.
  export --tenant ID --out FILE [--audit-url URL] [--identity-url URL]
      Writes a tenant's whole audit log with its signed head and checkpoint as a bundle (NDJSON).
      Credentials as for ./tessera tenants: TESSERA_TOKEN (audience audit), TESSERA_CLIENT_ID +
      TESSERA_CLIENT_SECRET, or the local tessera-cli credential of ./tessera up.`;

const VERIFY: ArgsSpec = {
  options: { bundle: { type: "string", required: true }, keys: { type: "string", required: true } },
};
const EXPORT: ArgsSpec = {
  options: {
    tenant: { type: "string", required: true },
    out: { type: "string", required: true },
    "audit-url": { type: "string" },
  },
};

async function verifyCommand(args: ParsedArgs): Promise<number> {
  const bundle = args.strings.bundle as string;
  const keysFile = args.strings.keys as string;
  let keys: ReturnType<typeof loadTrustedKeys>;
  try {
    keys = loadTrustedKeys(await readFile(keysFile, "utf8"));
  } catch (err) {
    console.error(`tessera audit verify: cannot read the keys in ${keysFile}: ${(err as Error).message}`);
    return 1;
  }
  let verdict: ReturnType<typeof verifyBundle>;
  try {
    verdict = verifyBundle(await readBundle(bundle), keys);
  } catch (err) {
    console.error(`tessera audit verify: cannot read the bundle ${bundle}: ${(err as Error).message}`);
    return 1;
  }
  if (args.flags.json) console.log(JSON.stringify(verdict));
  if (verdict.ok) {
    if (!args.flags.json) console.log(verdict.message);
    return 0;
  }
  const at = verdict.firstBrokenSequence ? ` at sequence ${verdict.firstBrokenSequence}` : "";
  console.error(`tessera audit verify: NOT INTACT (${verdict.finding}${at}): ${verdict.message}`);
  return 1;
}

function localAuditUrl(): string | undefined {
  const file = runtimeFile(tesseraHome());
  if (!existsSync(file)) return undefined;
  const runtime = JSON.parse(readFileSync(file, "utf8")) as { components?: Array<{ name: string; url?: string }> };
  return runtime.components?.find((c) => c.name === "audit")?.url;
}

async function exportCommand(args: ParsedArgs, env: NodeJS.ProcessEnv): Promise<number> {
  const auditUrl = args.strings["audit-url"] || env.TESSERA_AUDIT_URL || localAuditUrl();
  if (!auditUrl) {
    console.error("tessera audit export: no audit service: --audit-url (TESSERA_AUDIT_URL), or run ./tessera up");
    return 1;
  }
  // the tenants CLI's credential resolution, with audit's URL in tenancy's place
  const connection = resolveConnection(
    { ...args, strings: { ...args.strings, "tenancy-url": auditUrl } },
    env,
    tesseraHome(),
  );
  const credential = connection.credential;
  const tokens =
    credential.kind === "client"
      ? createServiceTokenSource({
          identityUrl: credential.identityUrl,
          clientId: credential.clientId,
          clientSecret: credential.clientSecret,
          timeoutMs: 15_000,
        })
      : undefined;
  const client = createServiceClient(AuditService, {
    baseUrl: auditUrl,
    defaultTimeoutMs: EXPORT_TIMEOUT_MS,
    interceptors: [
      (next) => async (req) => {
        const token = credential.kind === "token" ? credential.token : await tokens?.getToken("audit");
        req.header.set("authorization", `Bearer ${token}`);
        return next(req);
      },
    ],
  });
  try {
    const out = args.strings.out as string;
    const n = await writeBundle(client, args.strings.tenant as string, out, { timeoutMs: EXPORT_TIMEOUT_MS });
    console.log(`wrote ${n} records of tenant ${args.strings.tenant} to ${out}`);
    return 0;
  } catch (err) {
    console.error(`tessera audit export: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    tokens?.close();
    closeServiceClient(client);
  }
}

/** `./tessera audit <command>`: 0 done / intact, 1 failed / not intact (the finding on stderr), 2 usage. */
export async function runAudit(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    (name === undefined ? console.error : console.log)(HELP);
    return name === undefined ? 2 : 0;
  }
  const spec = name === "verify" ? VERIFY : name === "export" ? EXPORT : undefined;
  if (!spec) {
    console.error(`tessera audit: unknown command ${JSON.stringify(name)}\n\n${HELP}`);
    return 2;
  }
  let args: ParsedArgs;
  try {
    args = parseArgs(rest, spec);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`tessera audit ${name}: ${err.message}\n\n${HELP}`);
    return 2;
  }
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  return name === "verify" ? verifyCommand(args) : exportCommand(args, env);
}
