import { randomBytes, randomUUID } from "node:crypto";
import type { TxEntityManager } from "@tessera/platform/db";
import { sha256Hex } from "../secrets.ts";
import { query, queryOne } from "../sql.ts";

/** How many recovery codes a user holds after confirmation or regeneration. */
export const RECOVERY_CODE_COUNT = 10;

/** Crockford's base32 alphabet (no i, l, o, u): easy to read off paper and type back. */
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

/**
 * A recovery code: 16 base32 characters = 80 random bits, shown as `xxxx-xxxx-xxxx-xxxx`.
 *
 * Stored as SHA-256, not argon2id: a slow hash protects *guessable* secrets (passwords) from an
 * offline attacker; 80 random bits cannot be enumerated even at billions of SHA-256s per second
 * (2^80 ≈ 10^24), and a fast hash lets one indexed lookup find the code among a user's ten
 * instead of ten argon2 verifications per attempt. Online guessing is stopped by the lockout.
 */
export function newRecoveryCode(): string {
  const bytes = randomBytes(16);
  let code = "";
  for (let i = 0; i < 16; i++) code += ALPHABET[(bytes[i] ?? 0) & 31];
  return code.match(/.{4}/g)?.join("-") ?? code;
}

/** The canonical form of a typed code: lower-case, no dashes, Crockford's look-alikes folded. */
export function normalizeRecoveryCode(input: string): string {
  return input.toLowerCase().replace(/[-\s]/g, "").replace(/[il]/g, "1").replace(/o/g, "0");
}

/** Replaces all of a user's recovery codes with new ones, returning them (shown once). */
export async function replaceRecoveryCodes(em: TxEntityManager, userId: string): Promise<string[]> {
  await query(em, "delete from mfa_recovery_codes where user_id = ?", [userId]);
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
  for (const code of codes) {
    await query(em, "insert into mfa_recovery_codes (id, user_id, code_hash) values (?, ?, ?)", [
      randomUUID(),
      userId,
      sha256Hex(normalizeRecoveryCode(code)),
    ]);
  }
  return codes;
}

/** Spends one of the user's unused codes; false when it is unknown or already used. */
export async function useRecoveryCode(em: TxEntityManager, userId: string, code: string): Promise<boolean> {
  const row = await queryOne(
    em,
    `update mfa_recovery_codes set used_at = now()
     where user_id = ? and code_hash = ? and used_at is null returning id`,
    [userId, sha256Hex(normalizeRecoveryCode(code))],
  );
  return row !== undefined;
}

/** Unused recovery codes of a user. */
export async function recoveryCodesRemaining(em: TxEntityManager, userId: string): Promise<number> {
  const row = await queryOne<{ n: number | string }>(
    em,
    "select count(*)::int as n from mfa_recovery_codes where user_id = ? and used_at is null",
    [userId],
  );
  return Number(row?.n ?? 0);
}

/** Deletes a user's recovery codes (their last factor was removed). */
export async function deleteRecoveryCodes(em: TxEntityManager, userId: string): Promise<void> {
  await query(em, "delete from mfa_recovery_codes where user_id = ?", [userId]);
}
