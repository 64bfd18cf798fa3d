/**
 * Passes events on while the caller's credential holds: before an event, when the last check is
 * older than `everyMs`, `check` runs (asks identity again); an expired or revoked credential, or a
 * suspended tenant, ends the stream with that error instead of delivering further events.
 *
 * A hand-written iterator, not a generator: closing it must reach the source (a NATS
 * subscription) even before the first event, and a generator that never started would not pass
 * return() on.
 */
export function revalidated<T>(
  events: AsyncIterable<T>,
  check: () => Promise<void>,
  everyMs: number,
): AsyncIterableIterator<T> {
  const inner = events[Symbol.asyncIterator]();
  let checked = Date.now();
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      const result = await inner.next();
      if (!result.done && Date.now() - checked >= everyMs) {
        await check().catch(async (err: unknown) => {
          await inner.return?.();
          throw err;
        });
        checked = Date.now();
      }
      return result;
    },
    async return(value?: unknown) {
      await inner.return?.();
      return { done: true, value: value as T };
    },
    async throw(err?: unknown) {
      await inner.return?.();
      throw err;
    },
  };
}
