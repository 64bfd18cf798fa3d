import type { TxEntityManager } from "@tessera/platform/db";
import { query, queryOne, toDate, toDateOrUndefined } from "./sql.ts";

/** Per-account lockout: `threshold` consecutive failures lock for base·2^(n−threshold), at most max. */
export interface LockoutPolicy {
  threshold: number;
  baseMs: number;
  maxMs: number;
}

/** Per-IP limit: more than `maxFailuresPerMinute` failures block the address, doubling per strike. */
export interface IpLimitPolicy {
  maxFailuresPerMinute: number;
  blockBaseMs: number;
  blockMaxMs: number;
}

/** A quiet day forgets an account's earlier failures. */
const FAILURE_MEMORY = "interval '1 day'";

const backoff = (base: number, exponent: number, max: number) => Math.min(max, base * 2 ** Math.min(exponent, 30));

/** Until when the account is locked, if it is now. */
export async function accountLockedUntil(em: TxEntityManager, userId: string): Promise<Date | undefined> {
  const row = await queryOne<{ locked_until: unknown }>(
    em,
    "select locked_until from account_lockouts where user_id = ? and locked_until > now()",
    [userId],
  );
  return toDateOrUndefined(row?.locked_until);
}

/** Counts a wrong password; returns the count and, when this failure locked the account, until when. */
export async function recordAccountFailure(
  em: TxEntityManager,
  userId: string,
  policy: LockoutPolicy,
): Promise<{ failedCount: number; lockedUntil: Date | undefined }> {
  const row = await queryOne<{ failed_count: number }>(
    em,
    `insert into account_lockouts (user_id, failed_count, last_failed_at) values (?, 1, now())
     on conflict (user_id) do update set
       failed_count = case when account_lockouts.last_failed_at < now() - ${FAILURE_MEMORY} then 1
                           else account_lockouts.failed_count + 1 end,
       last_failed_at = now()
     returning failed_count`,
    [userId],
  );
  const failedCount = row?.failed_count ?? 1;
  if (failedCount < policy.threshold) return { failedCount, lockedUntil: undefined };
  const ms = backoff(policy.baseMs, failedCount - policy.threshold, policy.maxMs);
  const locked = await queryOne<{ locked_until: unknown }>(
    em,
    "update account_lockouts set locked_until = now() + make_interval(secs => ?) where user_id = ? returning locked_until",
    [ms / 1000, userId],
  );
  return { failedCount, lockedUntil: toDate(locked?.locked_until) };
}

/** A successful login forgets the failures. */
export async function resetAccountFailures(em: TxEntityManager, userId: string): Promise<void> {
  await query(em, "delete from account_lockouts where user_id = ?", [userId]);
}

/** True while the address is blocked. */
export async function ipBlocked(em: TxEntityManager, ip: string): Promise<boolean> {
  const row = await queryOne(em, "select 1 from ip_login_failures where ip = ? and blocked_until > now()", [ip]);
  return row !== undefined;
}

/** Counts a failed login from an address; blocks it (with backoff per strike) past the limit. */
export async function recordIpFailure(em: TxEntityManager, ip: string, policy: IpLimitPolicy): Promise<void> {
  const row = await queryOne<{ failures: number; strikes: number }>(
    em,
    `insert into ip_login_failures (ip, window_start, failures) values (?, now(), 1)
     on conflict (ip) do update set
       strikes = case when ip_login_failures.blocked_until < now() - ${FAILURE_MEMORY} then 0
                      else ip_login_failures.strikes end,
       failures = case when ip_login_failures.window_start < now() - interval '1 minute' then 1
                       else ip_login_failures.failures + 1 end,
       window_start = case when ip_login_failures.window_start < now() - interval '1 minute' then now()
                           else ip_login_failures.window_start end
     returning failures, strikes`,
    [ip],
  );
  if (!row || row.failures <= policy.maxFailuresPerMinute) return;
  const ms = backoff(policy.blockBaseMs, row.strikes, policy.blockMaxMs);
  await query(
    em,
    `update ip_login_failures set strikes = strikes + 1, failures = 0, window_start = now(),
       blocked_until = now() + make_interval(secs => ?) where ip = ?`,
    [ms / 1000, ip],
  );
}
