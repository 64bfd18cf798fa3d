import { Code, ConnectError } from "@connectrpc/connect";
import { Interrupted } from "./errors.ts";

/** How a command follows something that happens in the background. */
export interface FollowOptions {
  /** Between two polls. */
  intervalMs: number;
  /** Overall limit; past it {@link pollUntil} throws {@link TimedOut}. */
  timeoutMs: number;
  /** Ctrl-C: {@link pollUntil} throws {@link Interrupted}. */
  signal: AbortSignal;
  /** How long polls may keep failing with UNAVAILABLE or DEADLINE_EXCEEDED (a restarting tenancy) before the error counts. */
  toleranceMs?: number;
  now?: () => number;
}

/** The limit of a follow ran out before the end; what happens goes on in the background. */
export class TimedOut extends Error {}

/** UNAVAILABLE or DEADLINE_EXCEEDED: tenancy restarting or briefly overloaded; worth asking again. */
export const transient = (err: unknown) => {
  const code = err instanceof ConnectError ? err.code : undefined;
  return code === Code.Unavailable || code === Code.DeadlineExceeded;
};

/** Waits `ms`; resolves early (with false) when the signal aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Calls `fetch` every interval and hands each answer to `onValue` until `finished` says so;
 * resolves with the last answer. Transient failures are ridden out for `toleranceMs` (default 30 s).
 */
export async function pollUntil<T>(
  fetch: () => Promise<T>,
  finished: (value: T) => boolean,
  onValue: (value: T) => void,
  options: FollowOptions,
): Promise<T> {
  const now = options.now ?? Date.now;
  const deadline = now() + options.timeoutMs;
  const tolerance = options.toleranceMs ?? 30_000;
  let failingSince: number | undefined;
  for (;;) {
    if (options.signal.aborted) throw new Interrupted();
    try {
      const value = await fetch();
      failingSince = undefined;
      onValue(value);
      if (finished(value)) return value;
    } catch (err) {
      if (options.signal.aborted) throw new Interrupted();
      if (!transient(err)) throw err;
      failingSince ??= now();
      if (now() - failingSince > tolerance) throw err;
    }
    if (now() >= deadline) throw new TimedOut();
    if (!(await pause(Math.min(options.intervalMs, Math.max(0, deadline - now())), options.signal)))
      throw new Interrupted();
  }
}
