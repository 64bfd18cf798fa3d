import type { DescMethod } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel as IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";

/** Exponential backoff for retrying a call that failed with UNAVAILABLE. */
export interface RetryPolicy {
  /** Attempts in total, the first included; 1 disables retries. */
  readonly maxAttempts: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

/** Three attempts, 100 ms then 200 ms (each with jitter), capped at 2 s. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 3, initialBackoffMs: 100, maxBackoffMs: 2_000 };

/**
 * Only methods the proto declares free of side effects (or idempotent) may be sent twice: a
 * failed attempt may still have reached the handler.
 */
export function isRetryableMethod(method: DescMethod): boolean {
  return method.idempotency === IdempotencyLevel.NO_SIDE_EFFECTS || method.idempotency === IdempotencyLevel.IDEMPOTENT;
}

/** UNAVAILABLE is the one code that means "try again, perhaps elsewhere". */
export function isRetryableError(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.Unavailable;
}

/**
 * Backoff before attempt `attempt + 1` (attempt counts from 1): exponential, capped, with
 * "equal jitter" (half fixed, half random) so that many clients do not retry in lock-step.
 */
export function backoffMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** (attempt - 1));
  return Math.round(base / 2 + random() * (base / 2));
}

/** Checks a policy given by a caller; throws a clear error for nonsense values. */
export function validateRetryPolicy(policy: RetryPolicy): RetryPolicy {
  const { maxAttempts, initialBackoffMs, maxBackoffMs } = policy;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new Error("retry.maxAttempts must be an integer >= 1");
  if (!(initialBackoffMs > 0)) throw new Error("retry.initialBackoffMs must be > 0");
  if (!(maxBackoffMs >= initialBackoffMs)) throw new Error("retry.maxBackoffMs must be >= retry.initialBackoffMs");
  return policy;
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(ConnectError.from(signal.reason, Code.Canceled));
    const onAbort = () => {
      clearTimeout(timer);
      reject(ConnectError.from(signal?.reason, Code.Canceled));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
