import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";

/** SHA-256 hex of a high-entropy token: enough for values with 256 random bits (no argon2 needed). */
export function sha256Hex(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex");
}

/** Compares two hex digests in constant time. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** 256 random bits, base64url. */
export function randomSecret(): string {
  return randomBytes(32).toString("base64url");
}

/** Refresh tokens: `tsr_<secret>`. */
export function newRefreshToken(): string {
  return `tsr_${randomSecret()}`;
}

/** Invitation tokens: `tsi_<secret>`. */
export function newInvitationToken(): string {
  return `tsi_${randomSecret()}`;
}

const API_KEY = /^tsk_live_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

/** A new API key: `tsk_live_<12 hex prefix>_<secret>` (the log kit masks `tsk_live_…` anywhere). */
export function newApiKey(): { key: string; prefix: string } {
  const prefix = randomBytes(6).toString("hex");
  return { key: `tsk_live_${prefix}_${randomSecret()}`, prefix };
}

/** The visible prefix of a well-formed API key, or undefined. */
export function apiKeyPrefix(key: string): string | undefined {
  return API_KEY.exec(key)?.[1];
}

/**
 * A 256-bit key for one purpose, derived (HKDF-SHA256) from `IDENTITY_KEY_ENCRYPTION_KEY`: signing
 * keys and TOTP secrets are sealed under different keys of the one configured secret.
 */
export function derivedKey(kek: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync("sha256", kek, Buffer.alloc(0), purpose, 32));
}

/** AES-256-GCM: `iv (12) | tag (16) | ciphertext`, bound to `aad` (e.g. the row's id). */
export function seal(key: Buffer, aad: string, plaintext: Buffer): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv).setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

/** Opens what {@link seal} sealed; throws when the key, the aad or the bytes do not match. */
export function unseal(key: Buffer, aad: string, sealed: Buffer): Buffer {
  const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, 12)).setAAD(Buffer.from(aad));
  decipher.setAuthTag(sealed.subarray(12, 28));
  return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]);
}
