/**
 * Small statistics for benchmark samples: nearest-rank quantiles, median,
 * max, and rounding for printing.
 *
 * @module
 */

/** The nearest-rank `q` quantile (0 < q ≤ 1) of `samples`, or null when there are none. */
export function quantile(samples: readonly number[], q: number): number | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
}

/** Summary of a set of samples: count, p50, p99, max (null when empty). */
export interface Summary {
  n: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

/** p50, p99 and max of `samples`, rounded to `digits` decimals. */
export function summarize(samples: readonly number[], digits = 3): Summary {
  return {
    n: samples.length,
    p50: roundOrNull(quantile(samples, 0.5), digits),
    p99: roundOrNull(quantile(samples, 0.99), digits),
    max: roundOrNull(samples.length === 0 ? null : Math.max(...samples), digits),
  };
}

/** Rounds to `digits` decimals. */
export function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Rounds, keeping null. */
export function roundOrNull(value: number | null, digits = 3): number | null {
  return value === null ? null : round(value, digits);
}

/** Parses a comma-separated list of positive integers (`"10,50,200"`). */
export function integerList(text: string, what: string): number[] {
  const values = text.split(",").map((part) => Number(part.trim()));
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new RangeError(`${what} must be a comma-separated list of positive integers: ${text}`);
  }
  return values;
}
