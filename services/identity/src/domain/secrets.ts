import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

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
