/**
 * A bounded map whose entries expire: least recently used entries go first when it is full, and
 * an entry is gone once its own time to live has passed. Small on purpose: one Map, whose
 * insertion order is the recency order.
 */
export class ExpiringLru<K, V> {
  readonly #max: number;
  readonly #entries = new Map<K, { value: V; expiresAt: number }>();
  readonly #now: () => number;

  constructor(max: number, now: () => number = Date.now) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError("max must be a positive integer");
    this.#max = max;
    this.#now = now;
  }

  /** The live value of `key` (marking it recently used), or undefined when absent or expired. */
  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= this.#now()) return undefined;
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Stores `value` for `ttlMs`, evicting the least recently used entries beyond the bound. */
  set(key: K, value: V, ttlMs: number): void {
    this.#entries.delete(key);
    if (!(ttlMs > 0)) return;
    this.#entries.set(key, { value, expiresAt: this.#now() + ttlMs });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
  }

  /** Whether a live entry exists, without marking it used. */
  has(key: K): boolean {
    const entry = this.#entries.get(key);
    return entry !== undefined && entry.expiresAt > this.#now();
  }

  delete(key: K): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  /** Entries held, expired ones not yet dropped included. */
  get size(): number {
    return this.#entries.size;
  }
}
