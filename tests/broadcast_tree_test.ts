import assert from "node:assert/strict";
import fc from "fast-check";
import {
  children,
  depth,
  maxDepth,
  offset,
  parent,
  simulateTree,
  splitShare,
} from "../lib/broadcast_tree.ts";
import { dialsFinger, isPowerOfTwo } from "../lib/fingers.ts";

function ceilLog2(n: number): number {
  return n <= 1 ? 0 : Math.ceil(Math.log2(n));
}

function assertReachesEveryoneOnce(origin: number, n: number): void {
  const run = simulateTree(origin, n);
  for (let i = 0; i < n; i++) {
    if (run.receipts[i] !== 1) assert.fail(`n=${n} origin=${origin}: ${i} got ${run.receipts[i]}`);
    if (run.hops[i] !== depth(origin, i, n)) assert.fail(`n=${n}: hops of ${i}`);
  }
  assert.equal(run.transmissions, n - 1);
  assert.equal(Math.max(...run.hops), maxDepth(n));
  assert.ok(maxDepth(n) <= ceilLog2(n), `n=${n}: depth ${maxDepth(n)}`);
}

Deno.test("broadcast tree: the origin forwards to every power of two, farthest first", () => {
  assert.deepEqual(children(0, 0, 1), []);
  assert.deepEqual(children(0, 0, 2), [1]);
  assert.deepEqual(children(1, 1, 3), [0, 2]);
  assert.deepEqual(children(0, 0, 10), [8, 4, 2, 1]);
  assert.deepEqual(children(0, 8, 10), [9]);
  assert.deepEqual(children(0, 1, 10), []);
  assert.deepEqual(children(5, 5, 16), [13, 9, 7, 6]);
});

Deno.test("broadcast tree: parents clear the lowest bit of the offset", () => {
  assert.equal(parent(0, 0, 10), null);
  assert.equal(parent(0, 7, 10), 6);
  assert.equal(parent(0, 6, 10), 4);
  assert.equal(parent(0, 4, 10), 0);
  assert.equal(parent(8, 1, 10), 0); // offset 3
  assert.equal(offset(8, 1, 10), 3);
  assert.throws(() => children(0, 10, 10), RangeError);
  assert.throws(() => depth(0, 0, 0), RangeError);
});

Deno.test("broadcast tree: max depth is at most ceil(log2 N)", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 8, 9, 10, 200, 1000, 1024, 1025].map(maxDepth), [
    0,
    1,
    1,
    2,
    2,
    3,
    3,
    3,
    7,
    9,
    10,
    10,
  ]);
});

Deno.test("broadcast tree: every N up to 2,000 reaches each member exactly once", () => {
  for (let n = 1; n <= 2000; n++) {
    assertReachesEveryoneOnce(0, n);
    assertReachesEveryoneOnce(n - 1, n);
    assertReachesEveryoneOnce(Math.floor(n / 2), n);
  }
});

Deno.test("broadcast tree: every origin of every N up to 150 reaches each member exactly once", () => {
  for (let n = 1; n <= 150; n++) {
    for (let origin = 0; origin < n; origin++) assertReachesEveryoneOnce(origin, n);
  }
});

Deno.test("broadcast tree: any origin of any N up to 2,000 reaches each member exactly once", () => {
  const size = fc.integer({ min: 1, max: 2000 });
  fc.assert(
    fc.property(size.chain((n) => fc.tuple(fc.constant(n), fc.nat(n - 1))), ([n, origin]) => {
      assertReachesEveryoneOnce(origin, n);
    }),
    { numRuns: 300 },
  );
});

Deno.test("broadcast tree: the tree is the same from every origin, turned", () => {
  // So the exhaustive check from origin 0 holds for every origin of every N.
  const size = fc.integer({ min: 1, max: 5000 });
  const triple = size.chain((n) => fc.tuple(fc.constant(n), fc.nat(n - 1), fc.nat(n - 1)));
  fc.assert(
    fc.property(triple, ([n, origin, me]) => {
      const k = offset(origin, me, n);
      assert.deepEqual(children(origin, me, n), children(0, k, n).map((c) => (c + origin) % n));
      assert.equal(depth(origin, me, n), depth(0, k, n));
    }),
    { numRuns: 2000 },
  );
});

Deno.test("broadcast tree: every edge is a finger link and every subtree a ring interval", () => {
  for (const n of [2, 3, 7, 10, 64, 65, 200, 1000]) {
    for (let me = 0; me < n; me++) {
      const kids = children(0, me, n);
      for (const c of kids) {
        assert.ok(isPowerOfTwo((c - me + n) % n));
        assert.ok(dialsFinger(n, me, c) || dialsFinger(n, c, me));
        assert.equal(parent(0, c, n), me);
      }
      // Subtree of offset k = [k, k + lowbit(k)) ∩ [0, n).
      const subtree = new Set<number>();
      const stack = [me];
      while (stack.length > 0) {
        const v = stack.pop()!;
        subtree.add(v);
        stack.push(...children(0, v, n));
      }
      const low = me === 0 ? n : Math.min(me & -me, n - me);
      assert.deepEqual(
        [...subtree].sort((a, b) => a - b),
        Array.from({ length: low }, (_, i) => me + i),
      );
    }
  }
});

Deno.test("broadcast tree: a dead member's subtree goes without, nobody else", () => {
  const run = simulateTree(0, 10, new Set([4]));
  assert.deepEqual(run.receipts, [1, 1, 1, 1, 1, 0, 0, 0, 1, 1]);
  assert.equal(run.transmissions, 6);
});

Deno.test("broadcast tree: splitting shares gives the binomial tree when views agree", () => {
  assert.deepEqual(splitShare(1), []);
  assert.deepEqual(splitShare(2), [{ offset: 1, span: 1 }]);
  for (let n = 1; n <= 700; n++) {
    // Hand shares down from the origin (offset 0, span n); compare with children().
    const stack = [{ at: 0, span: n }];
    let reached = 1;
    while (stack.length > 0) {
      const { at, span } = stack.pop()!;
      const kids = splitShare(span).map((s) => ({ at: at + s.offset, span: s.span }));
      assert.deepEqual(kids.map((k) => k.at), children(0, at, n), `n=${n} at=${at}`);
      const total = kids.reduce((sum, k) => sum + k.span, 1);
      assert.equal(total, span, `n=${n}: shares of ${at} cover it`);
      reached += kids.length;
      stack.push(...kids);
    }
    assert.equal(reached, n);
  }
});
