import { randomUUID } from "node:crypto";
import type { TxEntityManager } from "@tessera/platform/db";
import { randomSecret, sha256Hex } from "../secrets.ts";
import { pgArray, query, queryOne, toDate } from "../sql.ts";

/** What a login challenge permits: answering with a factor, or enrolling the first one. */
export type ChallengePurpose = "verify" | "enroll";

/** Wrong codes one challenge absorbs before it is spent (each also counts towards the lockout). */
export const MAX_CHALLENGE_ATTEMPTS = 5;

/** A live challenge, locked for the rest of the transaction. */
export interface ChallengeRecord {
  id: string;
  userId: string;
  tenantId: string | undefined;
  purpose: ChallengePurpose;
  failedAttempts: number;
  /** The methods of the sign-in before the second factor (`["pwd"]` or `["fed"]`). */
  firstAmr: string[];
}

interface ChallengeRow {
  id: string;
  user_id: string;
  tenant_id: string | null;
  purpose: ChallengePurpose;
  failed_attempts: number;
  first_amr: string[];
}

/**
 * Issues a challenge after a correct password: an opaque `tsm_<256 random bits>` token, stored
 * only as its SHA-256 (like refresh tokens), expiring after `ttlMs`.
 */
export async function createChallenge(
  em: TxEntityManager,
  input: {
    userId: string;
    tenantId: string | undefined;
    purpose: ChallengePurpose;
    ttlMs: number;
    /** How the user signed in before this second factor (`["pwd"]`, or `["fed"]` after SSO). */
    firstAmr?: readonly string[];
  },
): Promise<{ id: string; token: string; expiresAt: Date }> {
  const id = randomUUID();
  const token = `tsm_${randomSecret()}`;
  const row = await queryOne<{ expires_at: unknown }>(
    em,
    `insert into mfa_challenges (id, token_hash, user_id, tenant_id, purpose, first_amr, expires_at)
     values (?, ?, ?, ?, ?, ?::text[], now() + make_interval(secs => ?)) returning expires_at`,
    [
      id,
      sha256Hex(token),
      input.userId,
      input.tenantId ?? null,
      input.purpose,
      pgArray(input.firstAmr ?? ["pwd"]),
      input.ttlMs / 1000,
    ],
  );
  // forget long-dead challenges of this user as new ones are made (no sweeper needed)
  await query(em, "delete from mfa_challenges where user_id = ? and expires_at < now() - interval '1 day'", [
    input.userId,
  ]);
  return { id, token, expiresAt: toDate(row?.expires_at) };
}

/** The challenge of a token when it is unspent and unexpired, locked; undefined otherwise. */
export async function lockChallenge(em: TxEntityManager, token: string): Promise<ChallengeRecord | undefined> {
  const row = await queryOne<ChallengeRow>(
    em,
    `select id, user_id, tenant_id, purpose, failed_attempts, first_amr from mfa_challenges
     where token_hash = ? and used_at is null and expires_at > now() for update`,
    [sha256Hex(token)],
  );
  return (
    row && {
      id: row.id,
      userId: row.user_id,
      tenantId: row.tenant_id ?? undefined,
      purpose: row.purpose,
      failedAttempts: row.failed_attempts,
      firstAmr: row.first_amr,
    }
  );
}

/** Spends a challenge: it answered (or may no longer answer) its login. */
export async function spendChallenge(em: TxEntityManager, id: string): Promise<void> {
  await query(em, "update mfa_challenges set used_at = now() where id = ?", [id]);
}

/** Counts a wrong code against the challenge, spending it at {@link MAX_CHALLENGE_ATTEMPTS}. */
export async function recordChallengeFailure(em: TxEntityManager, id: string): Promise<void> {
  await query(
    em,
    `update mfa_challenges set failed_attempts = failed_attempts + 1,
       used_at = case when failed_attempts + 1 >= ? then now() else used_at end
     where id = ?`,
    [MAX_CHALLENGE_ATTEMPTS, id],
  );
}
