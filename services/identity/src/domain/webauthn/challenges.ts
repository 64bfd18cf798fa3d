import { randomBytes, randomUUID } from "node:crypto";
import type { TxEntityManager } from "@tessera/platform/db";
import { sha256Hex } from "../secrets.ts";
import { query, queryOne, toDate } from "../sql.ts";

/** What a ceremony challenge is for. */
export type CeremonyPurpose = "register" | "second_factor" | "passwordless";

/**
 * A new WebAuthn challenge: 256 random bits, base64url (what the browser signs over). Only its
 * SHA-256 is stored, with its purpose, the user it is for (none for passwordless) and, for a
 * second factor, the login's MFA challenge; it lives `ttlMs` and is spent by its first use.
 */
export async function newCeremonyChallenge(
  em: TxEntityManager,
  input: { purpose: CeremonyPurpose; ttlMs: number; userId?: string; mfaChallengeId?: string },
): Promise<{ challenge: string; expiresAt: Date }> {
  const challenge = randomBytes(32).toString("base64url");
  const row = await queryOne<{ expires_at: unknown }>(
    em,
    `insert into webauthn_challenges (id, challenge_hash, purpose, user_id, mfa_challenge_id, expires_at)
     values (?, ?, ?, ?, ?, now() + make_interval(secs => ?)) returning expires_at`,
    [
      randomUUID(),
      sha256Hex(challenge),
      input.purpose,
      input.userId ?? null,
      input.mfaChallengeId ?? null,
      input.ttlMs / 1000,
    ],
  );
  // forget dead challenges a few at a time as new ones are made (no sweeper needed)
  await query(
    em,
    `delete from webauthn_challenges where id in (
       select id from webauthn_challenges where expires_at < now() - interval '1 hour' limit 50)`,
  );
  return { challenge, expiresAt: toDate(row?.expires_at) };
}

/**
 * Spends the challenge a response names when it is live and of this purpose (and, when given, of
 * this user and MFA challenge): the first use wins, every later one (a replay) finds nothing.
 */
export async function takeCeremonyChallenge(
  em: TxEntityManager,
  challenge: string,
  purpose: CeremonyPurpose,
  bound: { userId?: string; mfaChallengeId?: string } = {},
): Promise<boolean> {
  const row = await queryOne(
    em,
    `update webauthn_challenges set used_at = now()
     where challenge_hash = ? and purpose = ? and used_at is null and expires_at > now()
       and (?::uuid is null or user_id = ?::uuid) and (?::uuid is null or mfa_challenge_id = ?::uuid)
     returning id`,
    [
      sha256Hex(challenge),
      purpose,
      bound.userId ?? null,
      bound.userId ?? null,
      bound.mfaChallengeId ?? null,
      bound.mfaChallengeId ?? null,
    ],
  );
  return row !== undefined;
}
