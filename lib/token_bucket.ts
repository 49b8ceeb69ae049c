/**
 * A token bucket for rate limits that delay instead of refusing: work is
 * always taken (the bucket may go into debt), and {@linkcode TokenBucket.delayMs}
 * says how long the caller should stop taking more (stop reading a socket, so
 * TCP backpressure slows the sender) until the debt is paid back.
 *
 * @example
 * ```ts
 * import { TokenBucket } from "./token_bucket.ts";
 * const bucket = new TokenBucket({ ratePerSecond: 1000, burst: 2000 });
 * bucket.take(2500, performance.now()); // 500 tokens in debt
 * bucket.delayMs(performance.now()); // about 500 ms
 * ```
 *
 * @module
 */

/** Options of a {@linkcode TokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens added per second. `Infinity` makes a bucket that never delays. */
  ratePerSecond: number;
  /** Most tokens the bucket holds (and starts with). At least 1. */
  burst: number;
}

/** A token bucket that may go into debt; see the module doc. */
export class TokenBucket {
  readonly #perMs: number;
  readonly #burst: number;
  #tokens: number;
  #at = Number.NaN;

  /**
   * Creates a full bucket.
   *
   * @throws {RangeError} when the rate is not positive or the burst is below 1
   */
  constructor(options: TokenBucketOptions) {
    if (!(options.ratePerSecond > 0)) {
      throw new RangeError(`ratePerSecond must be positive, got ${options.ratePerSecond}`);
    }
    if (!(options.burst >= 1)) {
      throw new RangeError(`burst must be at least 1, got ${options.burst}`);
    }
    this.#perMs = options.ratePerSecond / 1000;
    this.#burst = options.burst;
    this.#tokens = options.burst;
  }

  /** Tokens held at `now` (negative: in debt). */
  tokens(now: number): number {
    this.#refill(now);
    return this.#tokens;
  }

  /** Takes `count` tokens at `now`, going into debt if there are not enough. */
  take(count: number, now: number): void {
    this.#refill(now);
    this.#tokens -= count;
  }

  /** How long from `now` until the bucket is out of debt, in ms (0 when it is not in debt). */
  delayMs(now: number): number {
    this.#refill(now);
    if (this.#tokens >= 0 || this.#perMs === Infinity) return 0;
    return -this.#tokens / this.#perMs;
  }

  #refill(now: number): void {
    if (!Number.isNaN(this.#at) && now > this.#at) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#perMs);
    }
    if (Number.isNaN(this.#at) || now > this.#at) this.#at = now;
  }
}
