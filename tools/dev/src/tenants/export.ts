import { createHash, type Hash, type KeyObject } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { ConnectError } from "@connectrpc/connect";
import { displayPath } from "../paths.ts";
import { renderTable } from "../table.ts";
import type { TenantsCommand } from "./context.ts";
import { CliError } from "./errors.ts";
import {
  checkExport,
  type ExportCheck,
  loadPublicKey,
  MANIFEST_FILE,
  type ReceivedFile,
  SIGNATURE_FILE,
} from "./export-verify.ts";
import type { Paint } from "./render.ts";

/** ExportTenant writes the whole bundle before it answers. */
const EXPORT_TIMEOUT_MS = 10 * 60_000;
/** Reading a bundle: one deadline for the whole stream. */
const READ_TIMEOUT_MS = 60 * 60_000;

/** A file name from the stream that stays inside DIR: relative, no `..`, plain characters. */
const SAFE_NAME = /^(?:[A-Za-z0-9_][A-Za-z0-9._-]*\/)*[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

interface OpenFile {
  fd: number;
  hash: Hash;
  bytes: number;
  chunks: Buffer[] | undefined;
}

function renderCheck(check: ExportCheck, dir: string, exportId: string, slug: string, paint: Paint): string {
  const mark = (s: string) => (s === "ok" ? paint("green", "ok") : paint("red", s.toUpperCase()));
  const table = renderTable(
    ["file", "rows", "bytes", "sha256"],
    check.files.map((f) => [
      f.name,
      f.rows === null ? "-" : String(f.rows),
      f.bytes === null ? "-" : formatBytes(f.bytes),
      mark(f.status),
    ]),
  );
  const signature =
    check.signature.status === "valid"
      ? paint("green", `valid (key ${check.signature.keyId || "-"})`)
      : check.signature.status === "invalid"
        ? paint("red", `INVALID for the given key (key id ${check.signature.keyId || "-"})`)
        : `not checked (key id ${check.signature.keyId || "-"}): pass --public-key FILE to check it`;
  return [
    `export ${exportId} of ${slug} in ${displayPath(dir)}`,
    table,
    `digests: from the ${check.expectedFrom === "manifest" ? "signed manifest" : "ExportTenant answer (the manifest lists no files)"}`,
    `manifest: ${check.manifest === "matches" ? "the streamed copy matches" : check.manifest === "differs" ? paint("red", "the streamed copy DIFFERS") : "not streamed (written from ExportTenant's answer)"}`,
    `signature: ${signature}`,
    check.ok ? paint("green", "verified") : paint("red", `NOT verified: ${check.problems.join("; ")}`),
  ].join("\n");
}

/** `tenants export`: ExportTenant, then ReadExport into DIR, checking every file against the manifest. */
export const exportCommand: TenantsCommand = {
  name: "export",
  summary: "export a tenant's data into DIR, verifying every file's sha256 (and the manifest's signature)",
  usage: "export <id|slug> --out DIR [--public-key FILE]",
  spec: {
    options: { out: { type: "string", required: true }, "public-key": { type: "string" } },
    positionals: ["tenant"],
  },
  async run(ctx) {
    const dir = resolve(ctx.args.strings.out as string);
    const keyFile = ctx.args.strings["public-key"];
    let keyText: string | undefined;
    if (keyFile !== undefined) {
      try {
        keyText = readFileSync(keyFile, "utf8");
      } catch (err) {
        throw new CliError(`cannot read --public-key ${keyFile}: ${(err as Error).message}`);
      }
    }
    const t = ctx.tenancy();
    const tenant = await t.resolve(ctx.args.positionals.tenant as string);
    const listing = await t.client
      .exportTenant({ tenantId: tenant.id }, { timeoutMs: EXPORT_TIMEOUT_MS, signal: ctx.signal })
      .catch((err: unknown) => {
        throw t.explain(err);
      });
    let publicKey: KeyObject | undefined;
    if (keyText !== undefined) {
      try {
        publicKey = loadPublicKey(keyText, listing.keyId);
      } catch (err) {
        throw new CliError(`--public-key ${keyFile} is not a usable Ed25519 public key: ${(err as Error).message}`);
      }
    }

    mkdirSync(dir, { recursive: true });
    const open = new Map<string, OpenFile>();
    const live = ctx.out.live();
    let total = 0;
    const status = (current: string) => {
      const done = [...open.keys()].filter((n) => n !== current).length;
      live.update(
        [
          `receiving export ${listing.exportId} of ${tenant.slug}: ${current} (${done} files done, ${formatBytes(total)})`,
        ],
        `receiving ${current}`,
      );
    };
    try {
      for await (const chunk of t.client.readExport(
        { tenantId: tenant.id, exportId: listing.exportId },
        { timeoutMs: READ_TIMEOUT_MS, signal: ctx.signal },
      )) {
        let file = open.get(chunk.file);
        if (!file) {
          if (!SAFE_NAME.test(chunk.file) || chunk.file.split("/").some((p) => p === "." || p === ".."))
            throw new CliError(
              `the export stream names a file outside ${displayPath(dir)}: ${JSON.stringify(chunk.file)}`,
            );
          const path = join(dir, chunk.file);
          mkdirSync(dirname(path), { recursive: true });
          let fd: number;
          try {
            fd = openSync(path, "wx", 0o600);
          } catch (err) {
            throw new CliError(
              (err as NodeJS.ErrnoException).code === "EEXIST"
                ? `${displayPath(path)} exists already: export into an empty folder`
                : `cannot write ${displayPath(path)}: ${(err as Error).message}`,
            );
          }
          const meta = chunk.file === MANIFEST_FILE || chunk.file === SIGNATURE_FILE;
          file = { fd, hash: createHash("sha256"), bytes: 0, chunks: meta ? [] : undefined };
          open.set(chunk.file, file);
        }
        writeSync(file.fd, chunk.data);
        file.hash.update(chunk.data);
        file.bytes += chunk.data.length;
        file.chunks?.push(Buffer.from(chunk.data));
        total += chunk.data.length;
        status(chunk.file);
      }
    } catch (err) {
      if (ctx.signal.aborted)
        throw new CliError(`interrupted: the files in ${displayPath(dir)} are incomplete`, 130, "CANCELED");
      if (err instanceof CliError) throw err;
      if (err instanceof ConnectError) throw t.explain(err);
      throw new CliError(`writing the export into ${displayPath(dir)} failed: ${(err as Error).message}`);
    } finally {
      for (const f of open.values()) closeSync(f.fd);
      live.done();
    }

    const received = new Map<string, ReceivedFile>();
    for (const [name, f] of open)
      if (name !== MANIFEST_FILE && name !== SIGNATURE_FILE)
        received.set(name, { name, sha256: f.hash.digest(), bytes: f.bytes });
    const streamedManifest = open.get(MANIFEST_FILE)?.chunks;
    const streamedSignature = open.get(SIGNATURE_FILE)?.chunks;
    // the folder stays verifiable later even when the stream left the manifest out
    if (!streamedManifest && !existsSync(join(dir, MANIFEST_FILE)))
      writeFileSync(join(dir, MANIFEST_FILE), listing.manifest, { mode: 0o600 });
    if (!streamedSignature && !existsSync(join(dir, SIGNATURE_FILE)))
      writeFileSync(join(dir, SIGNATURE_FILE), `${listing.signature}\n`, { mode: 0o600 });
    const check = checkExport(
      listing,
      received,
      {
        ...(streamedManifest && { manifest: Buffer.concat(streamedManifest) }),
        ...(streamedSignature && { signature: Buffer.concat(streamedSignature) }),
      },
      publicKey,
    );
    ctx.out.result({ tenant: { id: tenant.id, slug: tenant.slug }, exportId: listing.exportId, dir, ...check }, () =>
      renderCheck(check, dir, listing.exportId, tenant.slug, ctx.out.paint),
    );
    if (!check.ok) {
      ctx.out.warn("export", `the export in ${displayPath(dir)} did not verify: ${check.problems.join("; ")}`);
      return 1;
    }
    return 0;
  },
};
