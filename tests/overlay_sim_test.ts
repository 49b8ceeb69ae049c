import assert from "node:assert/strict";
import { type SimOptions, simulate } from "../tools/bench/overlay_sim.ts";

function ceilLog2(n: number): number {
  return Math.ceil(Math.log2(n));
}

function run(options: SimOptions) {
  const result = simulate(options);
  const ms = result.messages;
  return {
    ...result,
    everyone: ms.every((m) => m.delivered === m.alive),
    maxDuplicates: Math.max(...ms.map((m) => m.duplicates)),
    maxHops: Math.max(...ms.map((m) => m.hopsToLast)),
    maxRepairMs: Math.max(...ms.map((m) => m.repairMs)),
    viaRepair: ms.reduce((s, m) => s + m.viaRepair, 0),
  };
}

Deno.test("overlay sim: with agreed views the tree reaches everyone in at most ceil(log2 N) hops, once", () => {
  for (const n of [2, 3, 10, 50, 200]) {
    const r = run({ n, mode: "tree", messages: 10 });
    assert.ok(r.everyone, `n=${n}`);
    assert.equal(r.maxDuplicates, 0);
    assert.ok(r.maxHops <= ceilLog2(n), `n=${n}: ${r.maxHops} hops`);
    for (const m of r.messages) assert.equal(m.transmissions, n - 1);
    assert.equal(r.pulls, 0);
  }
});

Deno.test("overlay sim: the ring floods N/2 hops with two duplicates a message", () => {
  const r = run({ n: 200, mode: "ring", messages: 5 });
  assert.ok(r.everyone);
  assert.equal(r.maxHops, 100);
  assert.ok(r.maxDuplicates <= 2);
});

Deno.test("overlay sim: a tree node killed mid-stream loses messages without the repair path", () => {
  const r = run({ n: 50, mode: "tree", killAt: 5, repair: false });
  assert.ok(!r.everyone);
});

Deno.test("overlay sim: a tree node killed mid-stream: everyone gets every message, at most 2 duplicates", () => {
  for (const n of [10, 50, 200]) {
    for (const seed of [1, 2, 3, 4]) {
      const r = run({ n, mode: "tree", killAt: 5, seed });
      assert.ok(r.everyone, `n=${n} seed=${seed}`);
      assert.ok(r.maxDuplicates <= 2, `n=${n} seed=${seed}: ${r.maxDuplicates} duplicates`);
      assert.ok(r.viaRepair > 0, `n=${n} seed=${seed}: nothing needed repair`);
      // Pulled within 1 s: the last repaired copy within 1 s plus the tree below the puller.
      assert.ok(r.maxRepairMs <= 1000 + ceilLog2(n) * 30, `n=${n}: ${r.maxRepairMs} ms`);
    }
  }
});

Deno.test("overlay sim: one member missing from half the views: everyone gets every message", () => {
  for (const n of [3, 10, 50, 200]) {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const r = run({ n, mode: "tree", splitView: { from: 2, to: 15 }, seed });
      assert.ok(r.everyone, `n=${n} seed=${seed}`);
      assert.ok(r.maxDuplicates <= 2, `n=${n} seed=${seed}: ${r.maxDuplicates} duplicates`);
      assert.ok(r.maxRepairMs <= 1000 + ceilLog2(n) * 30, `n=${n}: ${r.maxRepairMs} ms`);
    }
  }
});

Deno.test("overlay sim: the repair path alone finds what a split view misses", () => {
  // Some seed must miss a member without repair, or the split test proves nothing.
  let missed = 0;
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const r = run({ n: 10, mode: "tree", splitView: { from: 2, to: 15 }, seed, repair: false });
    if (!r.everyone) missed++;
  }
  assert.ok(missed > 0);
});
