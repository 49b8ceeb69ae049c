import assert from "node:assert/strict";
import fc from "fast-check";
import { children } from "../lib/broadcast_tree.ts";
import { handOn, limitPosition, pullerShare, shareIndexes } from "../lib/tree_shares.ts";
import { ringOrder } from "../lib/ring.ts";
import type { Member } from "../lib/frames.ts";

// HashIDs: alice < bob < carol.
const alice: Member = { name: "alice", ip: "127.0.0.1", port: 50001 };
const bob: Member = { name: "bob", ip: "127.0.0.1", port: 50002 };
const carol: Member = { name: "carol", ip: "127.0.0.1", port: 50003 };
const none = () => false;

/** Where global position g sorts in a sorted list of global positions. */
function position(list: readonly number[], g: number): number {
  const at = list.findIndex((x) => x >= g);
  return at < 0 ? list.length : at;
}

/**
 * One broadcast from `origin` over n members where member p sees only `views[p]`
 * (sorted global positions, p and the origin counted in): copies each member got.
 */
function broadcast(n: number, origin: number, views: readonly number[][]): number[] {
  const got = new Array<number>(n).fill(0);
  got[origin] = 1;
  const queue: [number, number][] = [[origin, origin]];
  while (queue.length > 0) {
    const [p, limit] = queue.shift()!;
    const list = [...new Set([...views[p]!, p, origin])].sort((a, b) => a - b);
    const share = shareIndexes(list.length, list.indexOf(p), position(list, limit));
    for (const h of handOn(share, none)) {
      const child = list[h.child]!;
      got[child]!++;
      queue.push([child, h.limit === null ? limit : list[h.limit]!]);
    }
  }
  return got;
}

Deno.test("tree shares: a share runs forward from its first member, wrapping, to its end", () => {
  assert.deepEqual(shareIndexes(5, 3, 1), [3, 4, 0]);
  assert.deepEqual(shareIndexes(5, 3, 4), [3]);
  assert.deepEqual(shareIndexes(5, 3, 3), [3, 4, 0, 1, 2]);
  assert.deepEqual(shareIndexes(5, 0, 5), [0, 1, 2, 3, 4]);
  assert.deepEqual(shareIndexes(1, 0, 0), [0]);
  assert.throws(() => shareIndexes(5, 5, 0), RangeError);
  assert.throws(() => shareIndexes(5, 0, 6), RangeError);
});

Deno.test("tree shares: with agreed views the shares are the binomial tree", () => {
  for (const n of [1, 2, 3, 7, 10, 64, 100, 333]) {
    for (const origin of [0, n - 1, Math.floor(n / 3)]) {
      const queue: [number, number][] = [[origin, origin]];
      while (queue.length > 0) {
        const [p, limit] = queue.shift()!;
        const hs = handOn(shareIndexes(n, p, limit), none);
        assert.deepEqual(hs.map((h) => h.child), children(origin, p, n));
        for (const h of hs) queue.push([h.child, h.limit ?? limit]);
      }
    }
  }
});

Deno.test("tree shares: however the views differ, no member gets two tree copies", () => {
  const room = fc.integer({ min: 1, max: 60 }).chain((n) =>
    fc.tuple(
      fc.constant(n),
      fc.nat(n - 1),
      fc.array(fc.array(fc.boolean(), { minLength: n, maxLength: n }), {
        minLength: n,
        maxLength: n,
      }),
    )
  );
  fc.assert(
    fc.property(room, ([n, origin, sees]) => {
      const views = sees.map((row) => row.flatMap((seen, g) => (seen ? [g] : [])));
      const got = broadcast(n, origin, views);
      assert.ok(got.every((c) => c <= 1), JSON.stringify(got));
      // And with full views, exactly once.
      const full = Array.from({ length: n }, () => Array.from({ length: n }, (_, g) => g));
      assert.ok(broadcast(n, origin, full).every((c) => c === 1));
    }),
    { numRuns: 300 },
  );
});

Deno.test("tree shares: a dead child's part goes whole to the next live member in it", () => {
  const share = shareIndexes(10, 0, 0);
  const dead = (i: number) => i === 8 || i === 4;
  assert.deepEqual(handOn(share, dead).map((h) => [h.child, h.limit, h.took]), [
    [9, null, true],
    [5, 8, true],
    [2, 4, false],
    [1, 2, false],
  ]);
  // A part with nobody alive is dropped.
  assert.deepEqual(handOn(share, (i) => i >= 8).map((h) => h.child), [4, 2, 1]);
});

Deno.test("tree shares: the member after a dead one takes its share over when it pulls", () => {
  const dead = (i: number) => i === 4;
  assert.deepEqual(pullerShare(10, 0, 5, dead), { limit: 8, took: true });
  // 5 splits [5, 8) itself: 6 is its successor, 7 its farthest child.
  assert.deepEqual(pullerShare(10, 0, 6, dead), { limit: 7, took: false });
  assert.deepEqual(pullerShare(10, 0, 6, none), { limit: 8, took: false });
  assert.deepEqual(pullerShare(10, 0, 9, none), { limit: 0, took: false });
  assert.deepEqual(pullerShare(10, 0, 0, none), { limit: 0, took: false });
  assert.equal(pullerShare(10, 0, 4, dead), null);
});

Deno.test("tree shares: a share's end missing from my list sorts where it would be", () => {
  const ring = ringOrder([alice, carol], alice);
  assert.equal(limitPosition(ring, alice), 0);
  assert.equal(limitPosition(ring, bob), 1);
  assert.equal(limitPosition(ring, carol), 1);
  assert.equal(limitPosition(ringOrder([alice, bob], alice), carol), 2);
});
