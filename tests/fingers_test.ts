import assert from "node:assert/strict";
import fc from "fast-check";
import {
  dialsFinger,
  fingerDistances,
  fingerIndexes,
  fingerNeighbours,
  fingers,
  isPowerOfTwo,
} from "../lib/fingers.ts";
import { forwardCandidates, memberKey, ringOrder } from "../lib/ring.ts";
import type { Member } from "../lib/frames.ts";

// HashIDs: alice < bob < carol.
const alice: Member = { name: "alice", ip: "127.0.0.1", port: 50001 };
const bob: Member = { name: "bob", ip: "127.0.0.1", port: 50002 };
const carol: Member = { name: "carol", ip: "127.0.0.1", port: 50003 };

Deno.test("fingers: distances are the powers of two below N", () => {
  assert.deepEqual(fingerDistances(1), []);
  assert.deepEqual(fingerDistances(2), [1]);
  assert.deepEqual(fingerDistances(3), [1, 2]);
  assert.deepEqual(fingerDistances(5), [1, 2, 4]);
  assert.deepEqual(fingerDistances(8), [1, 2, 4]);
  assert.deepEqual(fingerDistances(9), [1, 2, 4, 8]);
  assert.throws(() => fingerDistances(0), RangeError);
});

Deno.test("fingers: a lone member has none, two members one, three members two", () => {
  assert.deepEqual(fingers([], alice), []);
  assert.deepEqual(fingers([alice, bob], alice).map((f) => f.member.name), ["bob"]);
  assert.deepEqual(fingers([carol, bob, alice], bob).map((f) => [f.distance, f.member.name]), [
    [1, "carol"],
    [2, "alice"],
  ]);
});

Deno.test("fingers: the first finger is the seed's first forward candidate", () => {
  const first = fingers([carol, bob, alice], carol)[0]!;
  assert.equal(
    first.member.name,
    forwardCandidates([carol, bob, alice], carol, () => false)[0]!.name,
  );
  assert.equal(first.member.name, "alice");
});

Deno.test("fingers: a member listed twice counts once", () => {
  assert.deepEqual(fingers([bob, bob, carol, carol, alice], alice).map((f) => f.member.name), [
    "bob",
    "carol",
  ]);
});

Deno.test("fingers: every peer agrees on the shape, whatever order the registry lists", () => {
  const member = fc.record({
    name: fc.stringMatching(/^[a-z]{1,6}$/),
    ip: fc.constant("10.0.0.1"),
    port: fc.integer({ min: 1, max: 65535 }),
  });
  fc.assert(
    fc.property(
      fc.uniqueArray(member, { minLength: 1, maxLength: 40, selector: memberKey }),
      (ms) => {
        const ring = ringOrder(ms, ms[0]!);
        const shuffled = [...ms].reverse();
        for (const [i, me] of ring.entries()) {
          const mine = fingers(shuffled, me);
          // Distinct members, never me, each at its power-of-two distance on the one ring.
          const keys = mine.map((f) => memberKey(f.member));
          assert.equal(new Set(keys).size, keys.length);
          assert.ok(!keys.includes(memberKey(me)));
          assert.deepEqual(mine.map((f) => f.index), fingerIndexes(ring.length, i));
          for (const f of mine) assert.equal(memberKey(ring[f.index]!), memberKey(f.member));
        }
      },
    ),
  );
});

Deno.test("fingers: exactly one side dials each finger link", () => {
  for (let n = 1; n <= 130; n++) {
    const dialled = new Set<string>();
    for (let me = 0; me < n; me++) {
      for (const other of fingerNeighbours(n, me)) {
        const a = dialsFinger(n, me, other), b = dialsFinger(n, other, me);
        assert.ok(a !== b, `n=${n}: ${me}<->${other} dialled by ${a && b ? "both" : "neither"}`);
        if (a) dialled.add(`${Math.min(me, other)}-${Math.max(me, other)}`);
      }
      // Every finger ahead of me is linked, by me or by it.
      for (const f of fingerIndexes(n, me)) {
        assert.ok(dialsFinger(n, me, f) || dialsFinger(n, f, me));
      }
    }
    // Each peer has O(log N) links: at most two per distance.
    for (let me = 0; me < n; me++) {
      assert.ok(fingerNeighbours(n, me).length <= 2 * fingerDistances(n).length);
    }
    assert.ok(dialled.size <= n * fingerDistances(n).length);
  }
});

Deno.test("fingers: powers of two are recognised up to 2^52", () => {
  assert.ok(isPowerOfTwo(1) && isPowerOfTwo(2 ** 31) && isPowerOfTwo(2 ** 52));
  assert.ok(
    !isPowerOfTwo(0) && !isPowerOfTwo(3) && !isPowerOfTwo(2 ** 31 + 1) && !isPowerOfTwo(-2),
  );
});
