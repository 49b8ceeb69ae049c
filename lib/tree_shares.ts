/**
 * The broadcast tree as shares of the ring (docs/overlay.md §2), over one
 * peer's own sorted member list: which members are in my share, whom I hand
 * which part of it to (a dead child's part taken over by the next member in
 * it), and which part a peer that pulled a message should carry on with.
 *
 * Positions are indexes into my sorted list (`ringOrder` of `./ring.ts`). A
 * share's end arrives as a member identity that may be missing from my list;
 * {@linkcode limitPosition} places it where it would sort. A share runs from
 * its first member forward, wrapping, up to (not including) its end; an end
 * at the first member's own position is the whole ring (the origin's share).
 *
 * Wired in `peer/tree.ts` and `peer/fingers_links.ts` (docs/overlay.md).
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { handOn, shareIndexes } from "./tree_shares.ts";
 * const mine = shareIndexes(10, 3, 3); // the origin 3: the whole ring
 * deepEqual(mine, [3, 4, 5, 6, 7, 8, 9, 0, 1, 2]);
 * deepEqual(handOn(mine, () => false).map((h) => [h.child, h.limit]), [
 *   [1, null], // offset 8: members 1 and 2, up to my own end
 *   [7, 1],
 *   [5, 7],
 *   [4, 5],
 * ]);
 * ```
 *
 * @module
 */

import { splitShare } from "./broadcast_tree.ts";
import type { Member } from "./frames.ts";
import { memberKey, type RingMember } from "./ring.ts";
import { hashId } from "./sdbm.ts";

/** One part of my share handed to a child. */
export interface Handoff {
  /** The index of the member that gets it: the part's first member, or the next live one. */
  child: number;
  /** The index where the part ends (exclusive), or null where mine ends. */
  limit: number | null;
  /** True if the part's first member was dead and `child` took the part over. */
  took: boolean;
  /** The part's position within my share, and its length. */
  first: number;
  span: number;
}

/**
 * The indexes of my share in a ring of `n`: from `from` forward, wrapping,
 * up to `limitPos` (exclusive, 0..n; `limitPos ≡ from` is the whole ring).
 */
export function shareIndexes(n: number, from: number, limitPos: number): number[] {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`Ring size ${n} is not positive`);
  if (!Number.isSafeInteger(from) || from < 0 || from >= n) {
    throw new RangeError(`Index ${from} is outside a ring of ${n}`);
  }
  if (!Number.isSafeInteger(limitPos) || limitPos < 0 || limitPos > n) {
    throw new RangeError(`Position ${limitPos} is outside a ring of ${n}`);
  }
  const length = (limitPos % n - from + n) % n || n;
  return Array.from({ length }, (_, i) => (from + i) % n);
}

/**
 * Whom I hand my share on to (`splitShare`), farthest first. A part whose
 * first member `isDead` (its link dropped) goes to the next live member in
 * it, whole; a part with no live member is dropped.
 */
export function handOn(share: readonly number[], isDead: (index: number) => boolean): Handoff[] {
  const out: Handoff[] = [];
  for (const { offset, span } of splitShare(Math.max(share.length, 1))) {
    const end = offset + span;
    const limit = end < share.length ? share[end]! : null;
    let at = offset;
    while (at < end && isDead(share[at]!)) at++;
    if (at === end) continue;
    out.push({ child: share[at]!, limit, took: at > offset, first: offset, span });
  }
  return out;
}

/**
 * The part of the tree of a message from `origin` that `puller` would have
 * had in a ring of `n` (my list), and whether it took it over from a dead
 * member: only then does a pulled copy go on down the tree (docs/overlay.md
 * §3). `limit` is an index, or the origin's index for the whole ring. Null
 * if `puller` is not in the tree (not live in my list).
 */
export function pullerShare(
  n: number,
  origin: number,
  puller: number,
  isDead: (index: number) => boolean,
): { limit: number; took: boolean } | null {
  let cur = origin, limit = origin, took = false;
  while (cur !== puller) {
    const share = shareIndexes(n, cur, limit);
    const at = share.indexOf(puller);
    if (at < 0) return null;
    const next = handOn(share, isDead).find((h) => at >= h.first && at < h.first + h.span);
    if (next === undefined) return null;
    cur = next.child;
    limit = next.limit ?? limit;
    took = next.took;
  }
  return { limit, took };
}

/**
 * True when `a` and `b` are a power of two apart either way round a ring of
 * `n`: one is a finger of the other (`./fingers.ts`), so a finger link joins
 * them once both have their fingers. The tree hands a part whose first member
 * I cannot reach to such a member (`peer/tree.ts`).
 */
export function fingerApart(n: number, a: number, b: number): boolean {
  const d = ((b - a) % n + n) % n;
  const power = (x: number) => x > 0 && (x & (x - 1)) === 0;
  return d !== 0 && (power(d) || power(n - d));
}

function before(a: RingMember, b: RingMember): boolean {
  if (a.hashId !== b.hashId) return a.hashId < b.hashId;
  return memberKey(a) < memberKey(b);
}

/**
 * Where a share's end sorts in my list (0..n): its index if I list it, else
 * the index of the first member after it.
 */
export function limitPosition(ring: readonly RingMember[], limit: Member): number {
  const key = { ...limit, hashId: hashId(limit.name, limit.ip, limit.port) };
  let lo = 0, hi = ring.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (before(ring[mid]!, key)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
