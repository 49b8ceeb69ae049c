/**
 * Broadcast: one text to every online user except the sender and those who
 * block the sender, each once, rate-limited per sender. Pure: the registry
 * passes who is online, the blocks and the time, and sends the `broadcast`
 * push to the names returned.
 *
 * The rate limit refuses (`rate-limited` with `retryAfterMs`) rather than
 * delays: a broadcast is one request whose cost is its audience, so a sender
 * gets `burst` at once and `perMinute` sustained.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Broadcasts } from "./broadcast.ts";
 * const broadcasts = new Broadcasts({ perMinute: 6, burst: 1 });
 * const noBlocks = { has: () => false };
 * const sent = broadcasts.send("alice", "hi all", ["alice", "bob", "carol"], noBlocks, 0);
 * assert.deepEqual(sent, { ok: true, to: ["bob", "carol"], at: 0 });
 * assert.equal(broadcasts.send("alice", "again", ["bob"], noBlocks, 1).ok, false);
 * ```
 *
 * @module
 */

import { TokenBucket } from "../lib/token_bucket.ts";
import { type BlockLookup, broadcastAudience } from "./blocks.ts";
import { MAIL_MAX_TEXT_BYTES } from "./mailbox.ts";

const encoder = new TextEncoder();

/** Options of {@linkcode Broadcasts}. */
export interface BroadcastOptions {
  /**
   * Broadcasts one sender may make per minute, sustained.
   * @default {6}
   */
  perMinute?: number;
  /**
   * Broadcasts one sender may make at once.
   * @default {3}
   */
  burst?: number;
  /**
   * Longest text, in UTF-8 bytes: it reaches the registry in an `X` frame,
   * bounded as mail is ({@linkcode MAIL_MAX_TEXT_BYTES}).
   * @default {1024}
   */
  maxTextBytes?: number;
}

/** What {@linkcode Broadcasts.send} decided. */
export type BroadcastResult =
  | { ok: true; to: string[]; at: number }
  | { ok: false; code: "rate-limited"; retryAfterMs: number }
  | { ok: false; code: "empty" | "too-long" };

/** The broadcast rate limits of every sender; see the module doc. */
export class Broadcasts {
  readonly #perMinute: number;
  readonly #burst: number;
  readonly #maxTextBytes: number;
  readonly #buckets = new Map<string, TokenBucket>();

  /**
   * Creates the limits.
   *
   * @throws {RangeError} when `perMinute` is not positive or `burst` is below 1
   */
  constructor(options: BroadcastOptions = {}) {
    this.#perMinute = options.perMinute ?? 6;
    this.#burst = options.burst ?? 3;
    this.#maxTextBytes = options.maxTextBytes ?? MAIL_MAX_TEXT_BYTES;
    // TokenBucket checks the rate and the burst.
    new TokenBucket({ ratePerSecond: this.#perMinute / 60, burst: this.#burst });
  }

  /**
   * A broadcast of `text` from `sender` at `now`: who among `online` gets it,
   * or why nobody does.
   */
  send(
    sender: string,
    text: string,
    online: Iterable<string>,
    blocks: BlockLookup,
    now: number,
  ): BroadcastResult {
    if (text.length === 0) return { ok: false, code: "empty" };
    if (encoder.encode(text).length > this.#maxTextBytes) return { ok: false, code: "too-long" };
    let bucket = this.#buckets.get(sender);
    if (bucket === undefined) {
      bucket = new TokenBucket({ ratePerSecond: this.#perMinute / 60, burst: this.#burst });
      this.#buckets.set(sender, bucket);
    }
    const tokens = bucket.tokens(now);
    if (tokens < 1) {
      return {
        ok: false,
        code: "rate-limited",
        retryAfterMs: Math.ceil((1 - tokens) * 60_000 / this.#perMinute),
      };
    }
    bucket.take(1, now);
    return { ok: true, to: broadcastAudience(blocks, sender, online), at: now };
  }

  /** Forgets senders whose bucket is full again at `now` (call now and then). */
  sweep(now: number): void {
    for (const [sender, bucket] of this.#buckets) {
      if (bucket.tokens(now) >= this.#burst) this.#buckets.delete(sender);
    }
  }

  /** Senders with a bucket kept (for tests and stats). */
  get trackedSenders(): number {
    return this.#buckets.size;
  }
}
