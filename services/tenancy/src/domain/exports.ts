import { createHash, createPrivateKey, createPublicKey, type KeyObject, randomUUID, sign } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Orm, POOL_DATABASE } from "@tessera/platform/db";
import { FailedPrecondition, NotFound } from "@tessera/platform/errors";
import { TENANT_NOT_FOUND } from "./access.ts";
import type { DataPlane } from "./data-plane.ts";
import { withTenantScope } from "./scope.ts";
import { getTenant } from "./tenants.ts";

/** One file of an export bundle. */
export interface ExportFileInfo {
  readonly name: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly rows: number;
}

/** A finished export bundle. */
export interface ExportBundle {
  readonly exportId: string;
  readonly files: readonly ExportFileInfo[];
  readonly manifest: string;
  readonly signature: string;
  readonly keyId: string;
}

/** The platform's export signing key (Ed25519). */
export interface ExportSigner {
  readonly keyId: string;
  readonly privateKey: KeyObject;
}

/** Reads the PEM (PKCS#8) Ed25519 private key; its id is the first 16 hex digits of the public key's SHA-256. */
export function exportSigner(pem: string): ExportSigner {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== "ed25519") throw new TypeError("the export signing key must be Ed25519");
  const spki = createPublicKey(privateKey).export({ type: "spki", format: "der" });
  return { keyId: createHash("sha256").update(spki).digest("hex").slice(0, 16), privateKey };
}

/** The export bundles of a deployment: written under `dir/<tenant>/<export>/`. */
export interface Exporter {
  create(tenantId: string, signal: AbortSignal): Promise<ExportBundle>;
  /** The bundle's files, manifest last. */
  files(tenantId: string, exportId: string): AsyncGenerator<{ file: string; data: Uint8Array }>;
}

const CHUNK = 256 * 1024;

/** Creates the exporter: NDJSON per service (one `{"table", "row"}` per line), a manifest, its signature. */
export function createExporter(options: {
  readonly orm: Orm;
  readonly plane: DataPlane;
  readonly dir: string | undefined;
  readonly signer: ExportSigner | undefined;
}): Exporter {
  const { orm, plane } = options;
  function configured(): { dir: string; signer: ExportSigner } {
    if (!options.dir || !options.signer)
      throw new FailedPrecondition("exports are not configured (TENANCY_EXPORT_DIR and TENANCY_EXPORT_SIGNING_KEY)");
    return { dir: options.dir, signer: options.signer };
  }
  return {
    async create(tenantId, signal) {
      const { dir, signer } = configured();
      const tenant = await getTenant(orm, tenantId);
      const exportId = randomUUID();
      const staging = join(dir, tenant.id, `.${exportId}`);
      await mkdir(staging, { recursive: true });
      const files: ExportFileInfo[] = [];
      try {
        const write = async (name: string, lines: AsyncIterable<string>) => {
          const hash = createHash("sha256");
          const out = createWriteStream(join(staging, name));
          let bytes = 0;
          let rows = 0;
          for await (const line of lines) {
            const data = `${line}\n`;
            hash.update(data);
            bytes += Buffer.byteLength(data);
            rows++;
            if (!out.write(data)) await once(out, "drain");
          }
          out.end();
          await once(out, "finish");
          files.push({ name, sha256: hash.digest("hex"), bytes, rows });
        };
        await write(
          "tenancy.ndjson",
          (async function* () {
            yield JSON.stringify({ table: "tenants", row: tenant });
          })(),
        );
        for (const svc of plane.services) {
          const database = svc.routed ? tenant.placementDatabase || POOL_DATABASE : POOL_DATABASE;
          await write(
            `${svc.name}.ndjson`,
            (async function* () {
              for await (const chunk of svc.client.exportTenantData({ tenantId: tenant.id, database }, { signal })) {
                for (const row of chunk.rows) yield `{"table":${JSON.stringify(chunk.table)},"row":${row}}`;
              }
            })(),
          );
        }
        const manifest = JSON.stringify({
          format: "tessera-export/1",
          export_id: exportId,
          tenant_id: tenant.id,
          slug: tenant.slug,
          created_at: new Date().toISOString(),
          key_id: signer.keyId,
          files,
        });
        const signature = sign(null, Buffer.from(manifest), signer.privateKey).toString("base64url");
        await writeFile(join(staging, "manifest.json"), manifest);
        await writeFile(join(staging, "manifest.sig"), signature);
        await rename(staging, join(dir, tenant.id, exportId));
        await withTenantScope(orm, tenant.id, (em) =>
          em.execute(
            "insert into tenant_exports (id, tenant_id, manifest, signature, key_id) values (?, ?, ?, ?, ?)",
            [exportId, tenant.id, manifest, signature, signer.keyId],
            "run",
          ),
        );
        return { exportId, files, manifest, signature, keyId: signer.keyId };
      } catch (err) {
        await rm(staging, { recursive: true, force: true });
        throw err;
      }
    },

    async *files(tenantId, exportId) {
      const { dir } = configured();
      const id = tenantId.toLowerCase();
      const known = await withTenantScope(orm, id, (em) =>
        em.execute<Array<{ id: string }>>("select id from tenant_exports where id = ? and tenant_id = ?", [
          exportId.toLowerCase(),
          id,
        ]),
      );
      if (known.length === 0) throw new NotFound(TENANT_NOT_FOUND.replace("tenant", "export"));
      const folder = join(dir, id, exportId.toLowerCase());
      const names = (await readdir(folder)).filter((n) => !n.startsWith("manifest")).sort();
      for (const name of [...names, "manifest.json", "manifest.sig"]) {
        const data = await readFile(join(folder, name));
        for (let at = 0; at < data.length || at === 0; at += CHUNK) {
          yield { file: name, data: data.subarray(at, at + CHUNK) };
          if (data.length === 0) break;
        }
      }
    },
  };
}
