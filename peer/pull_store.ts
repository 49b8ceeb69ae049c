/**
 * The messages a peer delivered lately, kept to answer pulls (docs/overlay.md
 * §3): the `T` bytes exactly as the relay holds them (so `bytesFor` still
 * finds their signed op) and the hops the copy had come. Bounded by count,
 * bytes and age, oldest dropped first, whatever is added.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { PullStore } from "./pull_store.ts";
 * const store = new PullStore({ max: 1 });
 * store.add("7", 1n, new Uint8Array(3), 2);
 * store.add("7", 2n, new Uint8Array(3), 2);
 * equal(store.get("7", 1n), undefined);
 * equal(store.get("7", 2n)?.hops, 2);
 * ```
 *
 * @module
 */

/** Options of a {@linkcode PullStore}. */
export interface PullStoreOptions {
  /** Messages kept at most (default 2048). */
  max?: number;
  /** Bytes kept at most (default 4 MiB). */
  maxBytes?: number;
  /** Kept at most this long, in ms (default 30,000). */
  maxAgeMs?: number;
  /** The clock, in ms (default `Date.now`). */
  now?: () => number;
}

/** One message kept. */
export interface Stored {
  raw: Uint8Array;
  /** Hops from its origin to me (0: mine). */
  hops: number;
  at: number;
}

/** Recent messages by origin and msgID; see the module doc. */
export class PullStore {
  readonly #max: number;
  readonly #maxBytes: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  readonly #items = new Map<string, Stored>();
  #bytes = 0;

  /** An empty store. */
  constructor(options: PullStoreOptions = {}) {
    this.#max = options.max ?? 2048;
    this.#maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
    this.#maxAgeMs = options.maxAgeMs ?? 30_000;
    this.#now = options.now ?? Date.now;
    if (!(this.#max >= 1 && this.#maxBytes >= 1 && this.#maxAgeMs > 0)) {
      throw new RangeError("PullStore bounds must be positive");
    }
  }

  /** Messages kept. */
  get size(): number {
    return this.#items.size;
  }

  /** Bytes kept. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Keeps a delivered message (a second add of the same one changes nothing). */
  add(originHid: string, msgId: bigint, raw: Uint8Array, hops: number): void {
    const key = `${originHid}/${msgId}`;
    if (this.#items.has(key) || raw.length > this.#maxBytes) return;
    this.#items.set(key, { raw, hops, at: this.#now() });
    this.#bytes += raw.length;
    this.#prune();
  }

  /** The message, if still kept. */
  get(originHid: string, msgId: bigint): Stored | undefined {
    this.#prune();
    return this.#items.get(`${originHid}/${msgId}`);
  }

  /** Forgets everything (I left the room). */
  clear(): void {
    this.#items.clear();
    this.#bytes = 0;
  }

  #prune(): void {
    const oldest = this.#now() - this.#maxAgeMs;
    for (const [key, item] of this.#items) {
      if (this.#items.size <= this.#max && this.#bytes <= this.#maxBytes && item.at >= oldest) {
        break;
      }
      this.#items.delete(key);
      this.#bytes -= item.raw.length;
    }
  }
}
