/** One cumulative bucket: observations at most `le` seconds. */
export interface Bucket {
  readonly le: number;
  readonly count: number;
}

/**
 * The q-quantile (0 < q < 1) of a cumulative histogram, estimated the way Prometheus'
 * histogram_quantile does: find the bucket the rank falls into and interpolate linearly inside
 * it (from 0 for the first bucket). A rank in the +Inf bucket answers the highest finite bound.
 * Undefined when nothing was observed.
 */
export function quantile(q: number, buckets: readonly Bucket[]): number | undefined {
  if (!(q > 0 && q < 1)) throw new RangeError("q must be between 0 and 1 (exclusive)");
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total <= 0 || sorted.at(-1)?.le !== Number.POSITIVE_INFINITY) return undefined;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bucket of sorted) {
    if (bucket.count >= rank) {
      if (bucket.le === Number.POSITIVE_INFINITY) return lowerBound;
      const inBucket = bucket.count - lowerCount;
      if (inBucket <= 0) return bucket.le;
      return lowerBound + (bucket.le - lowerBound) * ((rank - lowerCount) / inBucket);
    }
    lowerBound = bucket.le;
    lowerCount = bucket.count;
  }
  return lowerBound;
}

/** Bucket counts of `later` minus `earlier` (same bounds): the histogram of what happened in between. */
export function subtractBuckets(later: readonly Bucket[], earlier: readonly Bucket[]): Bucket[] {
  const before = new Map(earlier.map((b) => [b.le, b.count]));
  return later.map((b) => ({ le: b.le, count: Math.max(0, b.count - (before.get(b.le) ?? 0)) }));
}
