import { createPublicKey, type KeyObject, verify } from "node:crypto";

/** The bundle's own files, streamed last; not data files. */
export const MANIFEST_FILE = "manifest.json";
export const SIGNATURE_FILE = "manifest.sig";

/** What ExportTenant answered. */
export interface ExportListing {
  files: ReadonlyArray<{ name: string; sha256: string; bytes: bigint | number; rows: bigint | number }>;
  /** The manifest JSON exactly as signed. */
  manifest: string;
  /** Ed25519 signature of the manifest, base64url. */
  signature: string;
  keyId: string;
}

/** A file as ReadExport delivered it. */
export interface ReceivedFile {
  name: string;
  sha256: Buffer;
  bytes: number;
}

export interface FileCheck {
  name: string;
  rows: number | null;
  /** Bytes received (null: never received). */
  bytes: number | null;
  expectedSha256: string | null;
  /** Hex sha256 of what was received. */
  sha256: string | null;
  status: "ok" | "mismatch" | "missing" | "unexpected";
}

export interface ExportCheck {
  files: FileCheck[];
  /** Where the expected digests came from: the signed manifest, or (when it lists none) ExportTenant's answer. */
  expectedFrom: "manifest" | "listing";
  /** Whether the streamed manifest.json is byte for byte the manifest ExportTenant reported. */
  manifest: "matches" | "differs" | "not_received";
  signature: { status: "valid" | "invalid" | "unchecked"; keyId: string };
  problems: string[];
  ok: boolean;
}

interface Expected {
  name: string;
  sha256: string;
  rows: number | null;
  bytes: number | null;
}

const num = (v: unknown): number | null =>
  typeof v === "number" || typeof v === "bigint"
    ? Number(v)
    : typeof v === "string" && /^\d+$/.test(v)
      ? Number(v)
      : null;

/** The files a manifest lists (`{"files": [{"name"|"file"|"path", "sha256", …}]}`), or undefined when it lists none. */
export function manifestEntries(manifest: string): Expected[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(manifest);
  } catch {
    return undefined;
  }
  const files = (parsed as { files?: unknown } | null)?.files;
  if (!Array.isArray(files)) return undefined;
  const entries: Expected[] = [];
  for (const f of files) {
    if (typeof f !== "object" || f === null) return undefined;
    const e = f as Record<string, unknown>;
    const name = e.name ?? e.file ?? e.path;
    if (typeof name !== "string" || typeof e.sha256 !== "string") return undefined;
    entries.push({ name, sha256: e.sha256, rows: num(e.rows), bytes: num(e.bytes) });
  }
  return entries;
}

/** Whether `expected` (hex, base64 or base64url, optionally `sha256:`-prefixed) names this digest. */
export function digestMatches(expected: string, digest: Buffer): boolean {
  const e = expected.trim().replace(/^sha256[:-]/i, "");
  if (/^[0-9a-f]{64}$/i.test(e)) return e.toLowerCase() === digest.toString("hex");
  const unpadded = e.replace(/=+$/, "");
  return unpadded === digest.toString("base64url") || unpadded === digest.toString("base64").replace(/=+$/, "");
}

/**
 * Reads an Ed25519 public key: PEM (SPKI), a JWK (`{"kty":"OKP","crv":"Ed25519","x":…}`), a JWKS
 * (the key whose `kid` is `keyId`, or its only key), or the raw 32 bytes in base64/base64url.
 */
export function loadPublicKey(text: string, keyId: string): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject;
  if (trimmed.startsWith("-----BEGIN")) key = createPublicKey(trimmed);
  else if (trimmed.startsWith("{")) {
    const parsed = JSON.parse(trimmed) as { keys?: Array<Record<string, unknown>> } & Record<string, unknown>;
    let jwk: Record<string, unknown> | undefined = parsed;
    if (Array.isArray(parsed.keys)) {
      jwk = parsed.keys.find((k) => k.kid === keyId) ?? (parsed.keys.length === 1 ? parsed.keys[0] : undefined);
      if (!jwk) throw new Error(`the key set has no key with kid "${keyId}"`);
    }
    key = createPublicKey({ key: jwk as import("node:crypto").JsonWebKey, format: "jwk" });
  } else {
    const raw = Buffer.from(trimmed, "base64url");
    if (raw.length !== 32) throw new Error("not a PEM, JWK or raw 32-byte Ed25519 public key");
    key = createPublicKey({
      key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), raw]),
      format: "der",
      type: "spki",
    });
  }
  if (key.asymmetricKeyType !== "ed25519") throw new Error(`the key is ${key.asymmetricKeyType}, not Ed25519`);
  return key;
}

/**
 * Checks a received bundle: every file the signed manifest lists arrived with its sha256 (and size,
 * when listed), nothing else arrived, the streamed manifest is the one reported, and — given a
 * public key — the manifest's Ed25519 signature is valid.
 */
export function checkExport(
  listing: ExportListing,
  received: ReadonlyMap<string, ReceivedFile>,
  streamed: { manifest?: Buffer; signature?: Buffer },
  publicKey?: KeyObject,
): ExportCheck {
  const problems: string[] = [];
  const fromManifest = manifestEntries(listing.manifest);
  const fromListing: Expected[] = listing.files.map((f) => ({
    name: f.name,
    sha256: f.sha256,
    rows: Number(f.rows),
    bytes: Number(f.bytes),
  }));
  const expected = fromManifest ?? fromListing;
  if (fromManifest) {
    for (const l of fromListing) {
      const m = fromManifest.find((e) => e.name === l.name);
      if (!m) problems.push(`ExportTenant listed ${l.name}, which the signed manifest does not`);
      else if (m.sha256.trim().toLowerCase() !== l.sha256.trim().toLowerCase())
        problems.push(`ExportTenant and the signed manifest disagree on ${l.name}'s sha256`);
    }
  }

  const files: FileCheck[] = expected.map((e) => {
    const got = received.get(e.name);
    const rows = e.rows ?? fromListing.find((l) => l.name === e.name)?.rows ?? null;
    if (!got) {
      problems.push(`${e.name} was not received`);
      return { name: e.name, rows, bytes: null, expectedSha256: e.sha256, sha256: null, status: "missing" };
    }
    const sizeOk = e.bytes === null || e.bytes === got.bytes;
    const ok = digestMatches(e.sha256, got.sha256) && sizeOk;
    if (!ok) problems.push(`${e.name}: ${sizeOk ? "sha256" : "size"} does not match the manifest`);
    const status = ok ? "ok" : "mismatch";
    return {
      name: e.name,
      rows,
      bytes: got.bytes,
      expectedSha256: e.sha256,
      sha256: got.sha256.toString("hex"),
      status,
    };
  });
  for (const got of received.values()) {
    if (expected.some((e) => e.name === got.name)) continue;
    problems.push(`${got.name} was received but is not in the manifest`);
    files.push({
      name: got.name,
      rows: null,
      bytes: got.bytes,
      expectedSha256: null,
      sha256: got.sha256.toString("hex"),
      status: "unexpected",
    });
  }

  const manifest = !streamed.manifest
    ? "not_received"
    : streamed.manifest.equals(Buffer.from(listing.manifest, "utf8"))
      ? "matches"
      : "differs";
  if (manifest === "differs") problems.push(`the streamed ${MANIFEST_FILE} is not the manifest ExportTenant reported`);
  if (streamed.signature) {
    const text = streamed.signature.toString("utf8").trim();
    if (text !== listing.signature && streamed.signature.toString("base64url") !== listing.signature)
      problems.push(`the streamed ${SIGNATURE_FILE} is not the signature ExportTenant reported`);
  }

  let signature: ExportCheck["signature"]["status"] = "unchecked";
  if (publicKey) {
    let valid = false;
    try {
      valid = verify(
        null,
        Buffer.from(listing.manifest, "utf8"),
        publicKey,
        Buffer.from(listing.signature, "base64url"),
      );
    } catch {
      valid = false;
    }
    signature = valid ? "valid" : "invalid";
    if (!valid)
      problems.push(
        `the manifest's signature does not verify with the given public key (key id ${listing.keyId || "-"})`,
      );
  }
  return {
    files,
    expectedFrom: fromManifest ? "manifest" : "listing",
    manifest,
    signature: { status: signature, keyId: listing.keyId },
    problems,
    ok: problems.length === 0,
  };
}
