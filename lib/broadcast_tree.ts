/**
 * The broadcast tree of docs/overlay.md: the binomial tree over finger links
 * (`./fingers.ts`) that every peer computes from the origin's index, its own
 * index and the size of the sorted member list, with no message of its own.
 *
 * The member at offset k = (me − origin) mod N forwards to the offsets
 * k + 2^j below N for every j below the lowest set bit of k; the origin
 * (k = 0) to every 2^j below N. Its parent is k with the lowest set bit
 * cleared, so each member but the origin has exactly one parent, receives
 * exactly once when views agree, and sits popcount(k) hops from the origin:
 * at most ⌈log₂ N⌉. Every tree edge spans a power of two ahead, a finger.
 * The subtree under offset k is the ring interval [k, k + lowbit(k)), which
 * is what makes the ring a good repair path (docs/overlay.md).
 *
 * Wired in `peer/tree.ts` and `peer/fingers_links.ts` (docs/overlay.md).
 *
 * @example
 * ```ts
 * import { deepEqual, equal } from "node:assert/strict";
 * import { children, depth, maxDepth } from "./broadcast_tree.ts";
 * deepEqual(children(0, 0, 10), [8, 4, 2, 1]);
 * deepEqual(children(0, 4, 10), [6, 5]);
 * deepEqual(children(3, 7, 10), [9, 8]); // offset 4 from origin 3
 * equal(depth(0, 7, 10), 3);
 * equal(maxDepth(10), 3); // offset 7
 * ```
 *
 * @module
 */

/** Largest ring this module computes for (offsets stay 32-bit). */
export const MAX_TREE_SIZE = 2 ** 30;

function check(n: number, ...indexes: number[]): void {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_TREE_SIZE) {
    throw new RangeError(`Tree size ${n} is outside 1..${MAX_TREE_SIZE}`);
  }
  for (const i of indexes) {
    if (!Number.isSafeInteger(i) || i < 0 || i >= n) {
      throw new RangeError(`Index ${i} is outside a tree of ${n}`);
    }
  }
}

/** My offset from the origin along the ring. */
export function offset(originIndex: number, myIndex: number, n: number): number {
  check(n, originIndex, myIndex);
  return (myIndex - originIndex + n) % n;
}

/** The lowest set bit of k (k > 0), or `n` rounded up to a power of two for k = 0. */
function span(k: number, n: number): number {
  if (k > 0) return k & -k;
  let s = 1;
  while (s < n) s *= 2;
  return s;
}

/**
 * The indexes I forward a message from `originIndex` to, farthest first
 * (the largest subtree first, so the slowest branch starts earliest).
 */
export function children(originIndex: number, myIndex: number, n: number): number[] {
  const k = offset(originIndex, myIndex, n);
  const out: number[] = [];
  for (let step = span(k, n) / 2; step >= 1; step /= 2) {
    if (k + step < n) out.push((originIndex + k + step) % n);
  }
  return out;
}

/** The index I receive a message from `originIndex` from, or null for the origin. */
export function parent(originIndex: number, myIndex: number, n: number): number | null {
  const k = offset(originIndex, myIndex, n);
  if (k === 0) return null;
  return (originIndex + (k & (k - 1))) % n;
}

/** Hops from the origin to me: the set bits of my offset. */
export function depth(originIndex: number, myIndex: number, n: number): number {
  let k = offset(originIndex, myIndex, n), bits = 0;
  while (k > 0) {
    k &= k - 1;
    bits++;
  }
  return bits;
}

/**
 * Hops from the origin to the farthest member: the most set bits of an offset
 * below N, at most ⌈log₂ N⌉ (0 for N = 1).
 */
export function maxDepth(n: number): number {
  check(n);
  if (n === 1) return 0;
  const last = n - 1;
  const bitLength = Math.floor(Math.log2(last)) + 1;
  let ones = 0;
  for (let k = last; k > 0; k &= k - 1) ones++;
  return Math.max(ones, bitLength - 1);
}

/** A share of a broadcast handed to a child: where it starts and how many members it holds. */
export interface Share {
  /** The child's position after me, in my ring order (1 = my successor). */
  offset: number;
  /** Members in the child's share, the child first. */
  span: number;
}

/**
 * The shares I hand on when mine holds `span` members (me first, then the
 * next `span − 1` in ring order), farthest first: the child at offset 2^j
 * gets the members from it up to offset 2^(j+1), the last share cut at
 * `span`. The origin's share is the whole ring (`span` = N). With agreed
 * views this is exactly {@linkcode children}; on the wire a share travels as
 * the HashID where it ends, so each peer maps it onto its own member list,
 * and shares stay disjoint even when views differ: a member is in one share
 * at every level, so it never gets two tree copies (docs/overlay.md).
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { splitShare } from "./broadcast_tree.ts";
 * deepEqual(splitShare(10), [
 *   { offset: 8, span: 2 },
 *   { offset: 4, span: 4 },
 *   { offset: 2, span: 2 },
 *   { offset: 1, span: 1 },
 * ]);
 * ```
 */
export function splitShare(span: number): Share[] {
  check(span);
  const out: Share[] = [];
  let step = 1;
  while (step * 2 < span) step *= 2;
  for (; step >= 1 && span > 1; step /= 2) {
    out.push({ offset: step, span: Math.min(2 * step, span) - step });
  }
  return out;
}

/** What one broadcast over the tree did, member by member. */
export interface TreeBroadcast {
  /** Copies each index received (the origin counts its own as one). */
  receipts: number[];
  /** Hops from the origin to each index, -1 if it never got the message. */
  hops: number[];
  /** Frames sent. */
  transmissions: number;
}

/**
 * Runs one broadcast from `originIndex` over a tree of `n` by following
 * {@linkcode children} from the origin, breadth first. Members in `dead`
 * receive but forward nothing (a peer killed mid-stream); their subtrees go
 * without.
 */
export function simulateTree(
  originIndex: number,
  n: number,
  dead: ReadonlySet<number> = new Set(),
): TreeBroadcast {
  check(n, originIndex);
  const receipts = new Array<number>(n).fill(0);
  const hops = new Array<number>(n).fill(-1);
  receipts[originIndex] = 1;
  hops[originIndex] = 0;
  let transmissions = 0;
  let frontier = [originIndex];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const from of frontier) {
      if (dead.has(from)) continue;
      for (const to of children(originIndex, from, n)) {
        transmissions++;
        receipts[to]!++;
        if (hops[to] === -1) {
          hops[to] = hops[from]! + 1;
          next.push(to);
        }
      }
    }
    frontier = next;
  }
  return { receipts, hops, transmissions };
}
