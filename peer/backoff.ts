/**
 * Delays that double from a first one up to a cap, for retries that should
 * not hammer what is down: `firstMs`, `2 × firstMs`, … `capMs`, `capMs`, ….
 * Pure: it only counts.
 *
 * @example
 * ```ts
 * import { Backoff } from "./backoff.ts";
 * const backoff = new Backoff(100, 300);
 * [backoff.next(), backoff.next(), backoff.next()]; // [100, 200, 300]
 * ```
 *
 * @module
 */

/** Doubling delays; see the module doc. */
export class Backoff {
  readonly #capMs: number;
  #nextMs: number;

  /**
   * Delays from `firstMs` doubling up to `capMs`.
   *
   * @throws {RangeError} when `firstMs` is not positive or `capMs` is below it
   */
  constructor(firstMs: number, capMs: number) {
    if (!(firstMs > 0) || !(capMs >= firstMs)) {
      throw new RangeError(`Backoff needs 0 < firstMs <= capMs, got ${firstMs} and ${capMs}`);
    }
    this.#nextMs = firstMs;
    this.#capMs = capMs;
  }

  /** The next delay, in ms. */
  next(): number {
    const delay = this.#nextMs;
    this.#nextMs = Math.min(this.#capMs, delay * 2);
    return delay;
  }
}
