import { scrubLine } from "../log/index.ts";

/** Exponential backoff with full jitter: a random delay in [base/2, min(max, base * 2^(attempt-1))]. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * One line describing an error for logs and message headers: credentials masked, printable ASCII
 * only (header values cannot carry CR/LF), bounded length.
 */
export function describeError(err: unknown, max = 512): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const line = scrubLine(text)
    .replace(/[^\x20-\x7e]+/g, " ")
    .trim();
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

/** Checks an option is a positive integer (or the fallback when omitted). */
export function positiveInt(value: number | undefined, fallback: number, what: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${what} must be a positive integer`);
  return v;
}
