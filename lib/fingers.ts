/**
 * Finger links (docs/overlay.md): besides the seed's forward link to its ring
 * successor, a peer links to the members at ring distances 2, 4, 8, … ahead of
 * it in the sorted member list of `./ring.ts`, as in Chord. The choice is a
 * function of the member list and my place in it only, so every peer that
 * sees the same list agrees on the shape.
 *
 * Distances are the powers of two below N, so they are distinct and map to
 * distinct members: N = 1 has no finger, N = 2 one (distance 1), N = 3 two
 * (1 and 2, the second being my predecessor). Every finger is a TCP link both
 * ways; when two members are each other's finger (distance d one way, N − d
 * the other) only one of them dials it ({@linkcode dialsFinger}).
 *
 * Wired in `peer/tree.ts` and `peer/fingers_links.ts` (docs/overlay.md).
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { fingerDistances, fingerIndexes } from "./fingers.ts";
 * deepEqual(fingerDistances(10), [1, 2, 4, 8]);
 * deepEqual(fingerIndexes(10, 7), [8, 9, 1, 5]);
 * ```
 *
 * @module
 */

import type { Member } from "./frames.ts";
import { memberKey, type RingMember, ringOrder } from "./ring.ts";

/** One finger: the member at `distance` ahead of me on the ring. */
export interface Finger {
  /** Ring distance from me, a power of two below N. */
  distance: number;
  /** Its index in the sorted member list. */
  index: number;
  /** The member. */
  member: RingMember;
}

function checkRing(n: number, index: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`Ring size ${n} is not positive`);
  if (!Number.isSafeInteger(index) || index < 0 || index >= n) {
    throw new RangeError(`Index ${index} is outside a ring of ${n}`);
  }
}

/** The finger distances of a ring of `n`: 1, 2, 4, … below `n`. */
export function fingerDistances(n: number): number[] {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`Ring size ${n} is not positive`);
  const out: number[] = [];
  for (let d = 1; d < n; d *= 2) out.push(d);
  return out;
}

/** The indexes of my fingers in a ring of `n`, nearest first (distinct, never `me`). */
export function fingerIndexes(n: number, me: number): number[] {
  checkRing(n, me);
  return fingerDistances(n).map((d) => (me + d) % n);
}

/**
 * True if `me` dials the finger link to `other` (their distance ahead of me is
 * a power of two): the nearer side dials when both are each other's finger,
 * the lower index when the two distances are equal (N = 2d).
 */
export function dialsFinger(n: number, me: number, other: number): boolean {
  checkRing(n, me);
  checkRing(n, other);
  if (me === other) return false;
  const ahead = (other - me + n) % n, behind = n - ahead;
  if (!isPowerOfTwo(ahead)) return false;
  if (!isPowerOfTwo(behind)) return true;
  return ahead < behind || (ahead === behind && me < other);
}

/**
 * Every index I share a finger link with (the ones I dial and the ones that
 * dial me), ascending: the links a broadcast tree or a digest may use.
 */
export function fingerNeighbours(n: number, me: number): number[] {
  checkRing(n, me);
  const out = new Set<number>();
  for (const d of fingerDistances(n)) {
    out.add((me + d) % n);
    out.add((me - d + n) % n);
  }
  out.delete(me);
  return [...out].sort((a, b) => a - b);
}

/**
 * My fingers among `members` (sorted as `ringOrder` sorts them, `me` counted
 * in), nearest first. The first is the seed's forward link when my successor
 * answers.
 */
export function fingers(members: readonly Member[], me: Member): Finger[] {
  const ring = ringOrder(members, me);
  const myKey = memberKey(me);
  const x = ring.findIndex((m) => memberKey(m) === myKey);
  return fingerDistances(ring.length).map((distance) => {
    const index = (x + distance) % ring.length;
    return { distance, index, member: ring[index]! };
  });
}

/** True for 1, 2, 4, …. */
export function isPowerOfTwo(x: number): boolean {
  return Number.isSafeInteger(x) && x > 0 && 2 ** Math.round(Math.log2(x)) === x;
}
