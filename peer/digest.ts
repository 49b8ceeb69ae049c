/**
 * The repair digest of docs/overlay.md: a bounded summary of the message IDs
 * a peer holds, which it sends on its ring links a few times a second while
 * its room is active, so a neighbour that missed a message (a tree node died,
 * or views of the member list differed for a moment) learns of it and pulls
 * it.
 *
 * Per origin a digest carries the highest msgID held and a 64-bit mask of the
 * 64 msgIDs below it (bit i set: holds high − 1 − i). msgIDs of one origin
 * count up by one per message (`MsgCounter` of `./flood.ts`), so that window
 * is the origin's last 64 messages. {@linkcode RecentIds} keeps exactly that
 * per origin (constant memory), {@linkcode diff} compares it with a
 * neighbour's digest and returns the msgIDs to pull.
 *
 * Everything is bounded against a hostile neighbour: a digest holds at most
 * {@linkcode MAX_DIGEST_ORIGINS} origins ({@linkcode parseDigest} refuses
 * more), one origin can name at most 65 msgIDs, and {@linkcode diff} returns at
 * most `maxPull` of them, for origins the caller accepts (its members). Nothing
 * in a digest changes what I hold: only messages that arrive do.
 *
 * Wired in `peer/tree.ts` and `peer/fingers_links.ts` (docs/overlay.md).
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { diff, RecentIds } from "./digest.ts";
 * const mine = new RecentIds(), theirs = new RecentIds();
 * for (const id of [1n, 2n, 3n, 4n]) theirs.add("7", id);
 * for (const id of [1n, 2n, 4n]) mine.add("7", id);
 * deepEqual(diff(mine, theirs.digest()), [{ originHid: "7", msgId: 3n }]);
 * ```
 *
 * @module
 */

import { decimalUint64, opError } from "./op_fields.ts";

/** msgIDs below the highest that a digest covers per origin. */
export const DIGEST_WINDOW = 64;
/** Most origins in one digest. */
export const MAX_DIGEST_ORIGINS = 256;
/** Most msgIDs one {@linkcode diff} returns by default. */
export const MAX_PULL = 256;

const WINDOW = BigInt(DIGEST_WINDOW);
const FULL = (1n << WINDOW) - 1n;

/** What a peer holds from one origin, as its digest says. */
export interface OriginDigest {
  /** The origin's HashID, decimal. */
  originHid: string;
  /** Highest msgID held. */
  high: bigint;
  /** Bit i set: holds `high − 1 − i` (i below {@linkcode DIGEST_WINDOW}). */
  mask: bigint;
}

/** A digest: the origins active lately, most recently active first. */
export interface Digest {
  origins: OriginDigest[];
}

/** One message to pull. */
export interface Want {
  originHid: string;
  msgId: bigint;
}

/** What {@linkcode diff} asks about my own messages. */
export interface Holdings {
  /** True if I hold the message, or it is too old for me to tell. */
  has(originHid: string, msgId: bigint): boolean;
}

/** Options of {@linkcode RecentIds}. */
export interface RecentIdsOptions {
  /** Origins remembered, least recently active forgotten first (default 4096). */
  maxOrigins?: number;
  /** An origin is in my digest while it sent within this many ms (default 5,000). */
  activeMs?: number;
  /** The clock, in ms (default `Date.now`). */
  now?: () => number;
}

interface Window {
  high: bigint;
  mask: bigint;
  at: number;
}

/** The msgIDs I hold per origin, a 64-message window each; see the module doc. */
export class RecentIds implements Holdings {
  readonly #maxOrigins: number;
  readonly #activeMs: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();

  /** Creates an empty record. */
  constructor(options: RecentIdsOptions = {}) {
    this.#maxOrigins = options.maxOrigins ?? 4096;
    this.#activeMs = options.activeMs ?? 5000;
    this.#now = options.now ?? Date.now;
    if (this.#maxOrigins < 1 || this.#activeMs <= 0) {
      throw new RangeError("RecentIds bounds must be positive");
    }
  }

  /** Origins remembered. */
  get origins(): number {
    return this.#windows.size;
  }

  /** Records a message I now hold (delivered, by the tree or by a pull). */
  add(originHid: string, msgId: bigint): void {
    const now = this.#now();
    let w = this.#windows.get(originHid);
    if (w === undefined) {
      w = { high: msgId, mask: 0n, at: now };
      if (this.#windows.size >= this.#maxOrigins) {
        this.#windows.delete(this.#windows.keys().next().value!);
      }
    } else {
      this.#windows.delete(originHid);
      w.at = now;
      if (msgId > w.high) {
        const shift = msgId - w.high;
        w.mask = shift > WINDOW ? 0n : ((w.mask << shift) | (1n << (shift - 1n))) & FULL;
        w.high = msgId;
      } else if (msgId < w.high && w.high - msgId <= WINDOW) {
        w.mask |= 1n << (w.high - msgId - 1n);
      }
    }
    this.#windows.set(originHid, w);
  }

  /** True if I hold the message, or it is older than my window (too old to pull). */
  has(originHid: string, msgId: bigint): boolean {
    const w = this.#windows.get(originHid);
    if (w === undefined) return false;
    if (msgId === w.high) return true;
    if (msgId > w.high) return false;
    const back = w.high - msgId - 1n;
    return back >= WINDOW || (w.mask >> back & 1n) === 1n;
  }

  /** Forgets an origin (it left the room, or restarted). */
  forget(originHid: string): void {
    this.#windows.delete(originHid);
  }

  /** My digest: the origins active within `activeMs`, most recent first, at most `max`. */
  digest(max: number = MAX_DIGEST_ORIGINS): Digest {
    const since = this.#now() - this.#activeMs;
    const origins: OriginDigest[] = [];
    const all = [...this.#windows];
    for (let i = all.length - 1; i >= 0 && origins.length < max; i--) {
      const [originHid, w] = all[i]!;
      if (w.at < since) break;
      origins.push({ originHid, high: w.high, mask: w.mask });
    }
    return { origins };
  }

  /**
   * The digest of these origins only (an acknowledgement of the tree copies
   * a link brought, `./tree.ts`), at most {@linkcode MAX_DIGEST_ORIGINS}, the
   * ones I hold nothing of left out.
   */
  digestOf(originHids: Iterable<string>): Digest {
    const origins: OriginDigest[] = [];
    for (const originHid of originHids) {
      if (origins.length >= MAX_DIGEST_ORIGINS) break;
      const w = this.#windows.get(originHid);
      if (w !== undefined) origins.push({ originHid, high: w.high, mask: w.mask });
    }
    return { origins };
  }
}

/**
 * What a neighbour's digest says it holds, as {@linkcode Holdings}: a msgID
 * of an origin it lists, at or below its highest and in its mask, or older
 * than its window. Confirms the tree copies handed to it (`./child_watch.ts`).
 */
export function digestHoldings(digest: Digest): Holdings {
  const byOrigin = new Map(digest.origins.map((o) => [o.originHid, o]));
  return {
    has(originHid: string, msgId: bigint): boolean {
      const o = byOrigin.get(originHid);
      if (o === undefined || msgId > o.high) return false;
      if (msgId === o.high) return true;
      const back = o.high - msgId - 1n;
      return back >= WINDOW || (o.mask >> back & 1n) === 1n;
    },
  };
}

/** Options of {@linkcode diff}. */
export interface DiffOptions {
  /** Most msgIDs returned (default {@linkcode MAX_PULL}). */
  maxPull?: number;
  /** Origins worth pulling from (my members); default all. */
  accept?: (originHid: string) => boolean;
}

/**
 * The msgIDs `theirs` holds and `mine` lacks, newest origin first, at most
 * `maxPull`: what to pull from the neighbour that sent `theirs`.
 */
export function diff(mine: Holdings, theirs: Digest, options: DiffOptions = {}): Want[] {
  const maxPull = options.maxPull ?? MAX_PULL;
  const accept = options.accept ?? (() => true);
  const out: Want[] = [];
  for (const o of theirs.origins.slice(0, MAX_DIGEST_ORIGINS)) {
    if (out.length >= maxPull) break;
    if (!accept(o.originHid)) continue;
    if (!mine.has(o.originHid, o.high)) out.push({ originHid: o.originHid, msgId: o.high });
    for (let i = 0n; i < WINDOW && out.length < maxPull; i++) {
      if ((o.mask >> i & 1n) === 0n) continue;
      const msgId = o.high - 1n - i;
      if (msgId < 1n) break;
      if (!mine.has(o.originHid, msgId)) out.push({ originHid: o.originHid, msgId });
    }
  }
  return out;
}

/** The JSON body of a proposed `digest` op (docs/overlay.md): origins as `[hid, high, maskHex]`. */
export function digestBody(room: string, digest: Digest): Record<string, unknown> {
  return {
    room,
    origins: digest.origins.map((o) => [o.originHid, o.high.toString(), o.mask.toString(16)]),
  };
}

/**
 * Reads the body of a `digest` op from an untrusted neighbour. Throws the op
 * error of `./op_fields.ts` on anything malformed or over the bounds.
 */
export function parseDigest(body: Record<string, unknown>): { room: string; digest: Digest } {
  const { room, origins } = body;
  if (typeof room !== "string" || room.length === 0 || room.length > 64) {
    throw opError("digest needs a room");
  }
  if (!Array.isArray(origins) || origins.length > MAX_DIGEST_ORIGINS) {
    throw opError(`digest needs at most ${MAX_DIGEST_ORIGINS} origins`);
  }
  const seen = new Set<string>();
  const out: OriginDigest[] = [];
  for (const entry of origins) {
    if (!Array.isArray(entry) || entry.length !== 3) throw opError("digest origin malformed");
    const [hid, high, mask] = entry;
    const originHid = decimalUint64(hid, "digest origin");
    if (seen.has(originHid.toString())) throw opError("digest names an origin twice");
    seen.add(originHid.toString());
    if (typeof mask !== "string" || !/^[0-9a-f]{1,16}$/.test(mask)) {
      throw opError("digest mask malformed");
    }
    out.push({
      originHid: originHid.toString(),
      high: decimalUint64(high, "digest high"),
      mask: BigInt(`0x${mask}`),
    });
  }
  return { room, digest: { origins: out } };
}
