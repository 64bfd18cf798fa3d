import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type JsonWebKey,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { canonicalJson } from "./record.ts";

/** The audit signing key: the one private key that signs heads and checkpoints now. */
export interface AuditSigner {
  readonly keyId: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** The keys audit signs with and verifies against (several public keys: rotation). */
export interface AuditKeys {
  /** Absent: nothing is signed (heads are not published, checkpoints are stored unsigned). */
  readonly signer?: AuditSigner;
  /** Trusted public keys by key id; the signer's own is always among them. */
  readonly trusted: ReadonlyMap<string, KeyObject>;
}

/** A signed statement: canonical JSON, its Ed25519 signature (base64url) and the key's id. */
export interface SignedStatement {
  readonly payload: string;
  readonly signature: string;
  readonly keyId: string;
}

/** What a tenant's signed chain head states. */
export interface HeadStatement {
  readonly format: "tessera-audit-head/1";
  readonly tenant_id: string;
  readonly sequence: number;
  /** Hex SHA-256 of the record at `sequence`. */
  readonly hash: string;
  readonly signed_at: string;
}

/** What a signed retention checkpoint states: the last removed record's sequence and hash. */
export interface CheckpointStatement {
  readonly format: "tessera-audit-checkpoint/1";
  readonly tenant_id: string;
  readonly sequence: number;
  readonly hash: string;
  readonly signed_at: string;
}

export const HEAD_FORMAT = "tessera-audit-head/1";
export const CHECKPOINT_FORMAT = "tessera-audit-checkpoint/1";

const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** First 16 hex digits of SHA-256 of the public key's SPKI DER (as tenancy's export key ids). */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash("sha256")
    .update(publicKey.export({ type: "spki", format: "der" }))
    .digest("hex")
    .slice(0, 16);
}

/**
 * Reads the Ed25519 signing key: PKCS#8 PEM, or the 32-byte private key (seed) in base64 or
 * base64url (what a secret store holding raw keys, or `openssl rand -base64 32`, gives).
 */
export function loadSigner(text: string): AuditSigner {
  const trimmed = text.trim();
  let privateKey: KeyObject;
  if (trimmed.startsWith("-----BEGIN")) privateKey = createPrivateKey(trimmed);
  else {
    const seed = Buffer.from(trimmed, "base64");
    if (seed.length !== 32) throw new TypeError("must be a PKCS#8 PEM or a base64 32-byte Ed25519 key");
    privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
  }
  if (privateKey.asymmetricKeyType !== "ed25519") throw new TypeError("must be an Ed25519 key");
  const publicKey = createPublicKey(privateKey);
  return { keyId: keyIdOf(publicKey), privateKey, publicKey };
}

/** Reads Ed25519 public keys: a JWKS (`{"keys":[{"kty":"OKP","crv":"Ed25519","x":…}]}`) or PEM (SPKI) blocks. */
export function loadPublicKeys(text: string): KeyObject[] {
  const trimmed = text.trim();
  if (trimmed === "") return [];
  let keys: KeyObject[];
  if (trimmed.startsWith("{")) {
    const parsed = JSON.parse(trimmed) as { keys?: unknown };
    if (!Array.isArray(parsed.keys)) throw new TypeError('a JWKS must have a "keys" array');
    keys = parsed.keys.map((jwk) => createPublicKey({ key: jwk as JsonWebKey, format: "jwk" }));
  } else {
    const blocks = trimmed.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? [];
    if (blocks.length === 0) throw new TypeError("must be a JWKS or PEM public keys");
    keys = blocks.map((pem) => createPublicKey(pem));
  }
  for (const key of keys) {
    if (key.asymmetricKeyType !== "ed25519") throw new TypeError(`a ${key.asymmetricKeyType} key is not Ed25519`);
  }
  return keys;
}

/** The keys from AUDIT_SIGNING_KEY and AUDIT_VERIFY_KEYS (either may be absent). */
export function auditKeys(signingKey?: string, verifyKeys?: string): AuditKeys {
  const signer = signingKey ? loadSigner(signingKey) : undefined;
  const trusted = new Map<string, KeyObject>();
  for (const key of loadPublicKeys(verifyKeys ?? "")) trusted.set(keyIdOf(key), key);
  if (signer) trusted.set(signer.keyId, signer.publicKey);
  return signer ? { signer, trusted } : { trusted };
}

/** Signs a statement's canonical JSON. */
export function signStatement(signer: AuditSigner, statement: HeadStatement | CheckpointStatement): SignedStatement {
  const payload = canonicalJson({ ...statement });
  return {
    payload,
    signature: sign(null, Buffer.from(payload, "utf8"), signer.privateKey).toString("base64url"),
    keyId: signer.keyId,
  };
}

/** A checked statement, or why it is not trusted. */
export type StatementCheck<S> = { ok: true; statement: S } | { ok: false; problem: string };

/**
 * Checks a signed statement: a trusted key (by id) verifies its signature, and it is a statement of
 * the expected format about the expected tenant.
 */
export function checkStatement<S extends HeadStatement | CheckpointStatement>(
  keys: AuditKeys,
  signed: SignedStatement,
  format: S["format"],
  tenantId: string,
): StatementCheck<S> {
  if (!signed.signature) return { ok: false, problem: "it is not signed" };
  const key = keys.trusted.get(signed.keyId);
  if (!key) return { ok: false, problem: `it is signed with key ${signed.keyId || "-"}, which is not trusted` };
  let valid = false;
  try {
    valid = verify(null, Buffer.from(signed.payload, "utf8"), key, Buffer.from(signed.signature, "base64url"));
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, problem: `its signature does not verify with key ${signed.keyId}` };
  let statement: S;
  try {
    statement = JSON.parse(signed.payload) as S;
  } catch {
    return { ok: false, problem: "its payload is not JSON" };
  }
  if (statement.format !== format) return { ok: false, problem: `it is not a ${format} statement` };
  if (statement.tenant_id !== tenantId) return { ok: false, problem: "it is about another tenant" };
  if (!Number.isSafeInteger(statement.sequence) || !/^[0-9a-f]{64}$/.test(statement.hash)) {
    return { ok: false, problem: "its sequence or hash is malformed" };
  }
  return { ok: true, statement };
}

/** Reads a statement's payload without checking it (what it claims). */
export function claimed(signed: SignedStatement): { sequence: number; hash: string } | undefined {
  try {
    const parsed = JSON.parse(signed.payload) as { sequence?: unknown; hash?: unknown };
    return typeof parsed.sequence === "number" && typeof parsed.hash === "string"
      ? { sequence: parsed.sequence, hash: parsed.hash }
      : undefined;
  } catch {
    return undefined;
  }
}
