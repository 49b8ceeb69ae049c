/**
 * Token buckets per key that refuse what is over the rate (a text from an
 * origin, a poke from an address, a report of one kind), and say when a
 * refusal is worth reporting, so that a flood costs one report, not one per
 * frame.
 *
 * A key's *burst of refusals* starts with its first refusal and ends once its
 * bucket is full again (nothing was taken for `burst / ratePerSecond`
 * seconds): {@linkcode Verdict.first} marks the start, and the next take after
 * the end carries the number refused in {@linkcode Verdict.ended}. A sender
 * that keeps going over the rate stays in one burst, however long.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "./rate_limit.ts";
 * const texts = new RateLimiter({ ratePerSecond: 200, burst: 400 });
 * const verdict = texts.take("1419600254385803609");
 * if (!verdict.allowed && verdict.first) console.log("dropping that origin's texts");
 * ```
 *
 * @module
 */

import { TokenBucket } from "../lib/token_bucket.ts";

/** Options of a {@linkcode RateLimiter}. */
export interface RateLimiterOptions {
  /** Tokens each key gains per second. `Infinity` allows everything. */
  ratePerSecond: number;
  /** Most tokens a key holds, and starts with. At least 1. */
  burst: number;
  /** Keys remembered; the least recently used is forgotten first (default 4096). */
  maxKeys?: number;
  /** The clock, in ms (default `performance.now`). */
  now?: () => number;
}

/** The outcome of one {@linkcode RateLimiter.take}. */
export interface Verdict {
  /** Within the rate: go ahead. */
  allowed: boolean;
  /** Refused, and the first refusal of a burst: report it. */
  first: boolean;
  /** Allowed after a burst of refusals ended: how many were refused in it (else 0). */
  ended: number;
  /** Allowed: how many were refused since the last allowed take (else 0). */
  skipped: number;
}

interface Bucket {
  tokens: TokenBucket;
  refused: number;
  skipped: number;
}

const ALLOWED: Verdict = Object.freeze({ allowed: true, first: false, ended: 0, skipped: 0 });

/** Token buckets per key that refuse over the rate; see the module doc. */
export class RateLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  /**
   * Creates a limiter with no keys yet.
   *
   * @throws {RangeError} when the rate is not positive, the burst is below 1
   * or `maxKeys` is below 1
   */
  constructor(options: RateLimiterOptions) {
    if (!(options.ratePerSecond > 0)) {
      throw new RangeError(`ratePerSecond must be positive, got ${options.ratePerSecond}`);
    }
    if (!(options.burst >= 1)) {
      throw new RangeError(`burst must be at least 1, got ${options.burst}`);
    }
    const maxKeys = options.maxKeys ?? 4096;
    if (!(maxKeys >= 1)) throw new RangeError(`maxKeys must be at least 1, got ${maxKeys}`);
    this.#perMs = options.ratePerSecond / 1000;
    this.#burst = options.burst;
    this.#maxKeys = maxKeys;
    this.#now = options.now ?? (() => performance.now());
  }

  /** True when the limiter allows everything (an infinite rate). */
  get unlimited(): boolean {
    return this.#perMs === Infinity;
  }

  /** Keys remembered. */
  get keys(): number {
    return this.#buckets.size;
  }

  /** How many takes of `key` were refused in its current burst of refusals (0 if none). */
  refusals(key: string): number {
    return this.#buckets.get(key)?.refused ?? 0;
  }

  /** Takes one token for `key`, if it has one. */
  take(key: string): Verdict {
    if (this.unlimited) return ALLOWED;
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = {
        tokens: new TokenBucket({ ratePerSecond: this.#perMs * 1000, burst: this.#burst }),
        refused: 0,
        skipped: 0,
      };
      if (this.#buckets.size >= this.#maxKeys) {
        this.#buckets.delete(this.#buckets.keys().next().value!);
      }
    } else {
      // Most recently used last.
      this.#buckets.delete(key);
    }
    this.#buckets.set(key, bucket);
    const tokens = bucket.tokens.tokens(now);
    let ended = 0;
    if (bucket.refused > 0 && tokens >= this.#burst) {
      ended = bucket.refused;
      bucket.refused = 0;
    }
    if (tokens >= 1) {
      bucket.tokens.take(1, now);
      const skipped = bucket.skipped;
      bucket.skipped = 0;
      return { allowed: true, first: false, ended, skipped };
    }
    bucket.refused++;
    bucket.skipped++;
    return { allowed: false, first: bucket.refused === 1, ended: 0, skipped: 0 };
  }
}
