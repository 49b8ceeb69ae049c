import assert from "node:assert/strict";
import { RepairQueue } from "../peer/repair_queue.ts";

const w = (msgId: bigint) => ({ originHid: "7", msgId });

function clocked(options: Partial<ConstructorParameters<typeof RepairQueue>[0]> = {}) {
  const clock = { now: 0 };
  const queue = new RepairQueue({ graceMs: 100, now: () => clock.now, ...options });
  return { clock, queue };
}

Deno.test("repair queue: waits the grace, and forgets a want whose message arrives", () => {
  const { clock, queue } = clocked();
  queue.heard([w(1n), w(2n)], "pred", true);
  clock.now = 99;
  assert.equal(queue.due().size, 0);
  queue.received("7", 1n);
  clock.now = 100;
  assert.deepEqual(queue.due(), new Map([["pred", [w(2n)]]]));
  assert.equal(queue.nextDueAt(), 200);
});

Deno.test("repair queue: a want heard only from the successor waits longer", () => {
  const { clock, queue } = clocked({ laterMs: 300 });
  queue.heard([w(1n)], "succ", false);
  clock.now = 100;
  assert.equal(queue.due().size, 0);
  clock.now = 400;
  assert.deepEqual(queue.due(), new Map([["succ", [w(1n)]]]));
  // Heard from the predecessor meanwhile: asked of it first, at the grace.
  queue.heard([w(2n)], "succ", false);
  queue.heard([w(2n)], "pred", true);
  clock.now = 500;
  assert.deepEqual(queue.due(), new Map([["pred", [w(2n)]]]));
});

Deno.test("repair queue: asks the next neighbour after the retry, then gives up", () => {
  const { clock, queue } = clocked({ retryMs: 50, maxAttempts: 2 });
  queue.heard([w(1n)], "a", true);
  queue.heard([w(1n)], "b", true);
  queue.heard([w(1n)], "c", true); // over maxAttempts: not kept
  clock.now = 100;
  assert.deepEqual([...queue.due().keys()], ["b"]);
  clock.now = 150;
  assert.deepEqual([...queue.due().keys()], ["a"]);
  clock.now = 200;
  assert.equal(queue.due().size, 0);
  assert.equal(queue.size, 0);
});

Deno.test("repair queue: holds at most maxPending wants", () => {
  const { queue } = clocked({ maxPending: 3 });
  queue.heard(Array.from({ length: 1000 }, (_, i) => w(BigInt(i + 1))), "x", true);
  assert.equal(queue.size, 3);
  queue.forget("7");
  assert.equal(queue.size, 0);
  assert.throws(() => new RepairQueue({ graceMs: 1, maxPending: 0 }), RangeError);
});
