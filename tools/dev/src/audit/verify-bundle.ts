import { createHash, createPublicKey, type JsonWebKey, type KeyObject, verify } from "node:crypto";

/**
 * The offline verifier of an audit export bundle. Deliberately independent of the audit service's
 * code: it follows the record's documented canonical form (services/audit/README.md), so a verifier
 * an outsider writes from the README would agree with it.
 */

/** The bundle's lines: one header, the signed statements, then the records in chain order. */
export const BUNDLE_FORMAT = "tessera-audit-bundle/1";

/** One record line: the hashed fields under their canonical names, plus both hashes (hex). */
export interface BundleRecord {
  type: "record";
  tenant_id: string;
  sequence: number;
  event_id: string;
  occurred_at: string;
  recorded_at: string;
  actor: { id: string; kind: string };
  action: string;
  target: { id: string; type: string };
  outcome: string;
  source_ip: string;
  user_agent: string;
  previous_hash: string;
  hash: string;
}

/** A signed statement line (`head` or `checkpoint`). */
export interface BundleStatement {
  type: "head" | "checkpoint";
  payload: string;
  signature: string;
  key_id: string;
}

export type BundleLine =
  | { type: "audit-bundle"; format: string; tenant_id: string; exported_at: string }
  | BundleRecord
  | BundleStatement;

/** What the verifier found. */
export interface BundleVerdict {
  ok: boolean;
  finding:
    | "intact"
    | "record_broken"
    | "head_mismatch"
    | "truncated"
    | "checkpoint_unsigned"
    | "unanchored"
    | "malformed";
  message: string;
  tenantId?: string;
  firstBrokenSequence?: number;
  /** Records checked. */
  verified: number;
  /** Records after the signed head (appended, not signed yet when exported). */
  unsigned: number;
}

/** First 16 hex digits of SHA-256 of the public key's SPKI DER. */
export function keyIdOf(key: KeyObject): string {
  return createHash("sha256")
    .update(key.export({ type: "spki", format: "der" }))
    .digest("hex")
    .slice(0, 16);
}

/** Ed25519 public keys from a JWKS or PEM (SPKI) blocks, by key id. */
export function loadTrustedKeys(text: string): Map<string, KeyObject> {
  const trimmed = text.trim();
  let keys: KeyObject[];
  if (trimmed.startsWith("{")) {
    const parsed = JSON.parse(trimmed) as { keys?: unknown };
    const list = Array.isArray(parsed.keys) ? parsed.keys : [parsed];
    keys = list.map((jwk) => createPublicKey({ key: jwk as JsonWebKey, format: "jwk" }));
  } else {
    const blocks = trimmed.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? [];
    keys = blocks.map((pem) => createPublicKey(pem));
  }
  if (keys.length === 0) throw new Error("no public keys: give a JWKS or PEM public keys");
  for (const k of keys)
    if (k.asymmetricKeyType !== "ed25519") throw new Error(`a ${k.asymmetricKeyType} key is not Ed25519`);
  return new Map(keys.map((k) => [keyIdOf(k), k]));
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

function canonical(value: Json): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  return `{${Object.keys(value)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(value[k] ?? null)}`)
    .join(",")}}`;
}

/** SHA-256(previous hash ‖ canonical JSON of every field but the hashes). */
export function recordHash(r: BundleRecord): string {
  const { type: _type, previous_hash, hash: _hash, ...fields } = r;
  return createHash("sha256")
    .update(Buffer.from(previous_hash, "hex"))
    .update(canonical(fields as unknown as Json), "utf8")
    .digest("hex");
}

type Statement = { format: string; tenant_id: string; sequence: number; hash: string; signed_at: string };

function checkStatement(
  keys: ReadonlyMap<string, KeyObject>,
  s: BundleStatement,
  format: string,
  tenantId: string,
): { ok: true; statement: Statement } | { ok: false; problem: string } {
  if (!s.signature) return { ok: false, problem: "it is not signed" };
  const key = keys.get(s.key_id);
  if (!key)
    return { ok: false, problem: `it is signed with key ${s.key_id || "-"}, which is not among the given keys` };
  let valid = false;
  try {
    valid = verify(null, Buffer.from(s.payload, "utf8"), key, Buffer.from(s.signature, "base64url"));
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, problem: `its signature does not verify with key ${s.key_id}` };
  const statement = JSON.parse(s.payload) as Statement;
  if (statement.format !== format || statement.tenant_id !== tenantId) {
    return { ok: false, problem: `it is not a ${format} statement about tenant ${tenantId}` };
  }
  return { ok: true, statement };
}

const ZERO = "0".repeat(64);

/** Verifies a bundle's lines against trusted public keys. */
export function verifyBundle(lines: readonly BundleLine[], keys: ReadonlyMap<string, KeyObject>): BundleVerdict {
  const header = lines[0];
  const result = (v: Omit<BundleVerdict, "verified" | "unsigned"> & Partial<BundleVerdict>): BundleVerdict => ({
    verified: 0,
    unsigned: 0,
    ...v,
  });
  if (header?.type !== "audit-bundle" || header.format !== BUNDLE_FORMAT) {
    return result({ ok: false, finding: "malformed", message: `not a ${BUNDLE_FORMAT} bundle (bad first line)` });
  }
  const tenantId = header.tenant_id;
  const head = lines.find((l): l is BundleStatement => l.type === "head");
  const checkpoint = lines.find((l): l is BundleStatement => l.type === "checkpoint");
  const records = lines.filter((l): l is BundleRecord => l.type === "record");
  const fail = (finding: BundleVerdict["finding"], at: number, message: string, verified: number) =>
    result({ ok: false, finding, tenantId, firstBrokenSequence: at, message, verified });

  let base = { seq: 0, hash: ZERO };
  if (checkpoint) {
    const claimed = JSON.parse(checkpoint.payload) as Statement;
    const check = checkStatement(keys, checkpoint, "tessera-audit-checkpoint/1", tenantId);
    if (!check.ok) {
      return fail(
        "checkpoint_unsigned",
        1,
        `the retention checkpoint at sequence ${claimed.sequence} is not trustworthy: ${check.problem}; ` +
          `records up to ${claimed.sequence} were removed without a signed checkpoint`,
        0,
      );
    }
    base = { seq: check.statement.sequence, hash: check.statement.hash };
  }

  let prev = base;
  const hashes = new Map<number, string>();
  for (const r of records) {
    const expected = prev.seq + 1;
    if (r.tenant_id !== tenantId)
      return fail("record_broken", r.sequence, `record ${r.sequence} is of another tenant`, hashes.size);
    if (r.sequence !== expected) {
      return fail(
        "record_broken",
        expected,
        `sequence ${expected} is missing (next record: ${r.sequence})`,
        hashes.size,
      );
    }
    if (r.previous_hash !== prev.hash) {
      return fail("record_broken", r.sequence, `record ${r.sequence}: previous hash does not match`, hashes.size);
    }
    if (recordHash(r) !== r.hash) {
      return fail("record_broken", r.sequence, `record ${r.sequence}: hash does not match the record`, hashes.size);
    }
    hashes.set(r.sequence, r.hash);
    prev = { seq: r.sequence, hash: r.hash };
  }
  const verified = hashes.size;
  if (!head) {
    if (verified === 0) return result({ ok: true, finding: "intact", tenantId, message: "the log is empty" });
    return fail(
      "unanchored",
      0,
      "the bundle carries no signed head: nothing proves these records are the log audit signed",
      verified,
    );
  }
  const check = checkStatement(keys, head, "tessera-audit-head/1", tenantId);
  if (!check.ok) return fail("head_mismatch", 0, `the signed head is not trustworthy: ${check.problem}`, verified);
  const signed = check.statement;
  if (signed.sequence > prev.seq) {
    return fail(
      "truncated",
      prev.seq + 1,
      `the signed head is at sequence ${signed.sequence} (signed ${signed.signed_at}) but the log ends at ${prev.seq}: ` +
        `records ${prev.seq + 1}–${signed.sequence} were removed`,
      verified,
    );
  }
  const at = signed.sequence === base.seq ? base.hash : hashes.get(signed.sequence);
  if (at !== undefined && at !== signed.hash) {
    return fail(
      "head_mismatch",
      signed.sequence,
      `the record at sequence ${signed.sequence} does not carry the signed head's hash (signed ${signed.signed_at}): ` +
        `a record at or before it was rewritten and the hashes after it recomputed`,
      verified,
    );
  }
  const unsigned = prev.seq - Math.max(signed.sequence, base.seq);
  return result({
    ok: true,
    finding: "intact",
    tenantId,
    verified,
    unsigned,
    message:
      `intact: ${verified} records (${base.seq + 1}–${prev.seq}) of tenant ${tenantId} verify; ` +
      `the head signed at ${signed.signed_at} (sequence ${signed.sequence}, key ${head.key_id}) matches` +
      `${checkpoint ? `; the log starts after the signed checkpoint at ${base.seq}` : ""}` +
      `${unsigned > 0 ? `; ${unsigned} later records were not signed yet` : ""}`,
  });
}
