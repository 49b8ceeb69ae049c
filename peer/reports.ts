/**
 * Reports of misbehaviour without flooding the user: of one kind (by key), a
 * few are shown at once, then one per `1 / ratePerSecond` s while the abuse
 * lasts, each saying how many were not shown. A flood costs a few lines, not
 * one per frame.
 *
 * @module
 */

import { RateLimiter } from "./rate_limit.ts";

/** Reports of one kind shown at once. */
export const REPORT_BURST = 3;
/** Reports of one kind shown per second after the burst. */
export const REPORT_RATE = 0.2;

/** A report to show: its kind and its text (with the count of those not shown). */
export interface Report {
  type: "info" | "error";
  message: string;
}

/** Throttled reports; see the module doc. */
export class Reports {
  readonly #limiter: RateLimiter;
  readonly #show: (report: Report) => void;

  /** Shows the reports let through with `show`. */
  constructor(
    show: (report: Report) => void,
    options: { burst?: number; ratePerSecond?: number; now?: () => number } = {},
  ) {
    this.#show = show;
    this.#limiter = new RateLimiter({
      ratePerSecond: options.ratePerSecond ?? REPORT_RATE,
      burst: options.burst ?? REPORT_BURST,
      now: options.now,
    });
  }

  /** Reports `message` of kind `key` unless too many of that kind came lately. */
  report(key: string, type: Report["type"], message: string): void {
    const verdict = this.#limiter.take(key);
    if (!verdict.allowed) return;
    const more = verdict.skipped === 0
      ? ""
      : ` (and ${verdict.skipped} more like it since the last report)`;
    this.#show({ type, message: message + more });
  }
}
