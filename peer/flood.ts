/**
 * Exactly-once delivery for the flooded `T` frames of PROTOCOL.md §6.
 *
 * The seed remembers only the last msgID per origin, which drops a message that
 * overtook an older one on another path and everything from a peer restarted
 * under the same HashID. {@linkcode SeenWindow} instead keeps, per origin, a
 * bounded and time-limited window of the messages seen: a message is new
 * unless the same msgID with the same sender and content is in the window.
 * So an overtaking message is delivered, a restarted peer whose msgIDs start
 * again at 1 is delivered as soon as its text differs (and always once its
 * origin is forgotten: when it leaves the member list or handshakes again with
 * a msgID lower than its previous handshake's), and a true duplicate (same
 * bytes, another path) is dropped.
 *
 * {@linkcode MsgCounter} is my own msgID counter, seeded from the clock so it
 * never goes back across restarts: peers that still use the seed's
 * last-msgID rule keep delivering my messages after I restart.
 *
 * @module
 */

import { sdbmHash } from "../lib/sdbm.ts";

/** Options of a {@linkcode SeenWindow}. */
export interface SeenWindowOptions {
  /** Messages remembered per origin (default 1024). */
  perOrigin?: number;
  /** How long a message is remembered, in ms (default 10 minutes). */
  ttlMs?: number;
  /** Origins remembered; the least recently active is forgotten first (default 4096). */
  maxOrigins?: number;
  /** The clock, in ms (default `Date.now`). */
  now?: () => number;
}

interface Seen {
  digest: bigint;
  at: number;
}

interface OriginWindow {
  /** msgID → what was seen under it, in insertion (time) order. */
  seen: Map<bigint, Seen>;
  /** Highest msgID seen. */
  highest: bigint;
  /** Highest msgID pushed out by the count bound; older ids count as seen. */
  floor: bigint | null;
}

/** A bounded, time-limited window of seen messages per origin; see the module doc. */
export class SeenWindow {
  readonly #perOrigin: number;
  readonly #ttlMs: number;
  readonly #maxOrigins: number;
  readonly #now: () => number;
  readonly #origins = new Map<string, OriginWindow>();
  /** The msgID of each origin's last handshake. */
  readonly #handshakes = new Map<string, bigint>();

  /** Creates an empty window. */
  constructor(options: SeenWindowOptions = {}) {
    this.#perOrigin = options.perOrigin ?? 1024;
    this.#ttlMs = options.ttlMs ?? 10 * 60_000;
    this.#maxOrigins = options.maxOrigins ?? 4096;
    this.#now = options.now ?? Date.now;
    if (this.#perOrigin < 1 || this.#maxOrigins < 1 || this.#ttlMs <= 0) {
      throw new RangeError("SeenWindow bounds must be positive");
    }
  }

  /** Origins currently remembered. */
  get origins(): number {
    return this.#origins.size;
  }

  /**
   * Records a message and tells whether it is new (deliver and forward it) or
   * was seen before (drop it).
   */
  admit(originHid: string, originName: string, msgId: bigint, text: string): boolean {
    const now = this.#now();
    let window = this.#origins.get(originHid);
    if (window === undefined) {
      window = { seen: new Map(), highest: msgId, floor: null };
      if (this.#origins.size >= this.#maxOrigins) {
        const oldest = this.#origins.keys().next().value;
        if (oldest !== undefined) this.#origins.delete(oldest);
      }
    } else {
      // Most recently active origin last.
      this.#origins.delete(originHid);
    }
    this.#origins.set(originHid, window);
    this.#expire(window, now);

    const digest = sdbmHash(`${originName}\n${text}`);
    const previous = window.seen.get(msgId);
    if (previous !== undefined) {
      if (previous.digest === digest) return false;
      // Same msgID, other content: a restarted origin reusing its msgIDs.
      window.seen.delete(msgId);
    } else if (window.floor !== null && msgId <= window.floor) {
      return false;
    }
    window.seen.set(msgId, { digest, at: now });
    if (msgId > window.highest) window.highest = msgId;
    while (window.seen.size > this.#perOrigin) {
      const oldestId = window.seen.keys().next().value!;
      window.seen.delete(oldestId);
      if (window.floor === null || oldestId > window.floor) window.floor = oldestId;
    }
    return true;
  }

  /** The highest msgID seen from an origin, if it is remembered. */
  highest(originHid: string): bigint | undefined {
    return this.#origins.get(originHid)?.highest;
  }

  /** Forgets everything seen from an origin. */
  forget(originHid: string): void {
    this.#origins.delete(originHid);
  }

  /**
   * An origin handshook (`P` or `S`) with `msgId` as its last msgID. A counter
   * never goes back, so a msgID lower than the one of its previous handshake
   * means it restarted: forget what it sent before. (Not lower than the
   * highest message seen: its newer messages may overtake the handshake on
   * other paths.) Returns true if forgotten.
   */
  handshake(originHid: string, msgId: bigint): boolean {
    const previous = this.#handshakes.get(originHid);
    this.#handshakes.delete(originHid);
    this.#handshakes.set(originHid, msgId);
    if (this.#handshakes.size > this.#maxOrigins) {
      this.#handshakes.delete(this.#handshakes.keys().next().value!);
    }
    if (previous === undefined || msgId >= previous) return false;
    this.#origins.delete(originHid);
    return true;
  }

  #expire(window: OriginWindow, now: number): void {
    for (const [id, seen] of window.seen) {
      if (now - seen.at <= this.#ttlMs) break;
      window.seen.delete(id);
    }
  }
}

/**
 * The first msgID base of a peer: the clock in ms times 1000, so a peer
 * restarted later starts above everything it sent before unless it sent more
 * than 1000 messages per millisecond of its life.
 */
export function clockSeed(now: number = Date.now()): bigint {
  return BigInt(Math.floor(now)) * 1000n;
}

/** My msgID counter: never goes back, not even across restarts. */
export class MsgCounter {
  #last: bigint;

  /** Starts at `seed` (default {@linkcode clockSeed}). */
  constructor(seed: bigint = clockSeed()) {
    this.#last = seed;
  }

  /** The last msgID used (the seed before the first send), as sent in `P` and `S`. */
  get last(): bigint {
    return this.#last;
  }

  /** The msgID of my next message. */
  next(): bigint {
    this.#last += 1n;
    return this.#last;
  }
}

/**
 * The frames a peer sent or forwarded lately, to send again over a link that
 * comes up: a frame written into a link whose other end had just gone (a
 * peer that hung, then resumed) is lost, and a peer cut off for a moment
 * missed what was flooded meanwhile. Sending them once more is harmless
 * because every receiver drops what it has seen. Bounded by age, count and
 * bytes.
 */
export class RecentFrames {
  readonly #windowMs: number;
  readonly #max: number;
  readonly #maxBytes: number;
  readonly #now: () => number;
  readonly #frames: { at: number; bytes: Uint8Array }[] = [];
  #bytes = 0;

  /** Keeps at most `max` frames and `maxBytes` bytes, none older than `windowMs`. */
  constructor(
    windowMs: number,
    options: { max?: number; maxBytes?: number; now?: () => number } = {},
  ) {
    this.#windowMs = windowMs;
    this.#max = options.max ?? 256;
    this.#maxBytes = options.maxBytes ?? 256 * 1024;
    this.#now = options.now ?? Date.now;
  }

  /** Remembers a frame just sent. */
  push(bytes: Uint8Array): void {
    this.#frames.push({ at: this.#now(), bytes });
    this.#bytes += bytes.length;
    this.#prune();
    while (this.#frames.length > this.#max || this.#bytes > this.#maxBytes) {
      this.#bytes -= this.#frames.shift()!.bytes.length;
    }
  }

  /** The frames still within the window, oldest first. */
  frames(): Uint8Array[] {
    this.#prune();
    return this.#frames.map((f) => f.bytes);
  }

  #prune(): void {
    const oldest = this.#now() - this.#windowMs;
    while (this.#frames.length > 0 && this.#frames[0]!.at < oldest) {
      this.#bytes -= this.#frames.shift()!.bytes.length;
    }
  }
}
