/**
 * Each origin's texts in msgID order (peer/origin_order.ts): a text that
 * comes before an earlier one of its origin waits for it, bounded in time,
 * in count and in origins, and nothing waits without a gap before it.
 */
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { Membership } from "../peer/membership.ts";
import {
  countsInOrder,
  inOriginOrder,
  ORDER_GAP,
  ORDER_ORIGINS,
  OriginOrder,
} from "../peer/origin_order.ts";

/** An order on a clock of my own (`clock.now`), showing into `shown`. */
function ordered(waitMs = 1000, maxHeld = 64) {
  const clock = { now: 0 };
  const shown: string[] = [];
  const order = new OriginOrder<string>((t) => shown.push(t), {
    waitMs,
    maxHeld,
    now: () => clock.now,
  });
  return { order, shown, clock };
}

Deno.test("origin order: texts without a gap are shown at once, the first of an origin too", () => {
  const { order, shown } = ordered();
  order.offer("a", 100n, "a100");
  order.offer("b", 7n, "b7");
  order.offer("a", 101n, "a101");
  // An earlier one after the first seen: nothing told me to wait for it, shown as it comes.
  order.offer("b", 5n, "b5");
  deepEqual(shown, ["a100", "b7", "a101", "b5"]);
  equal(order.held, 0);
  order.close();
});

Deno.test("origin order: a text after a gap waits for the missing one and follows it", () => {
  const { order, shown } = ordered();
  order.offer("a", 1n, "a1");
  order.offer("a", 4n, "a4");
  order.offer("a", 3n, "a3");
  order.offer("b", 9n, "b9"); // another origin is not held up
  deepEqual(shown, ["a1", "b9"]);
  equal(order.held, 2);
  order.offer("a", 2n, "a2");
  deepEqual(shown, ["a1", "b9", "a2", "a3", "a4"]);
  equal(order.held, 0);
  order.close();
});

Deno.test("origin order: reversed texts (a pull answered newest first) are shown oldest first", () => {
  const { order, shown } = ordered();
  order.offer("a", 10n, "a10");
  for (const id of [13n, 12n, 11n]) order.offer("a", id, `a${id}`);
  deepEqual(shown, ["a10", "a11", "a12", "a13"]);
  order.close();
});

Deno.test("origin order: a gap that never fills is given up after waitMs, in order", () => {
  const { order, shown, clock } = ordered(500);
  order.offer("a", 1n, "a1");
  order.offer("a", 3n, "a3");
  clock.now = 200;
  order.offer("a", 5n, "a5");
  order.expire();
  deepEqual(shown, ["a1"]);
  clock.now = 500;
  order.expire();
  // a3's time is up: it is shown, and a5 waits on for a4 until its own time.
  deepEqual(shown, ["a1", "a3"]);
  equal(order.expired, 1);
  order.offer("a", 4n, "a4");
  deepEqual(shown, ["a1", "a3", "a4", "a5"]);
  // a2 comes after all: shown at once (late), not held.
  order.offer("a", 2n, "a2");
  deepEqual(shown, ["a1", "a3", "a4", "a5", "a2"]);
  equal(order.held, 0);
  order.close();
});

Deno.test("origin order: the timer shows a text whose gap never fills", async () => {
  const { promise, resolve } = Promise.withResolvers<void>();
  const shown: string[] = [];
  const order = new OriginOrder<string>((t) => {
    shown.push(t);
    if (shown.length === 2) resolve();
  }, { waitMs: 20, maxHeld: 8 });
  order.offer("a", 1n, "a1");
  const start = performance.now();
  order.offer("a", 3n, "a3");
  await promise;
  ok(performance.now() - start >= 19, "shown before its wait was over");
  deepEqual(shown, ["a1", "a3"]);
  order.close();
});

Deno.test("origin order: a msgID passed (shown by the history, or not to be shown) fills the gap", () => {
  const { order, shown } = ordered();
  order.offer("a", 1n, "a1");
  order.offer("a", 3n, "a3");
  order.passed("a", 2n);
  deepEqual(shown, ["a1", "a3"]);
  // A passed msgID of an unknown origin sets where it goes on.
  order.passed("b", 10n);
  order.offer("b", 12n, "b12");
  deepEqual(shown, ["a1", "a3"]);
  order.passed("b", 11n);
  deepEqual(shown, ["a1", "a3", "b12"]);
  order.close();
});

Deno.test("origin order: a jump of ORDER_GAP or more (a restarted origin) is not waited for", () => {
  const { order, shown } = ordered();
  order.offer("a", 1n, "a1");
  order.offer("a", 3n, "a3");
  order.offer("a", 2n + BigInt(ORDER_GAP), "far");
  // a3 waited for a2: shown first, then the far one, and the origin goes on from there.
  deepEqual(shown, ["a1", "a3", "far"]);
  order.offer("a", 3n + BigInt(ORDER_GAP), "next");
  deepEqual(shown, ["a1", "a3", "far", "next"]);
  equal(order.held, 0);
  order.close();
});

Deno.test("origin order: a restarted origin's texts wait for its first since the restart", () => {
  const { order, shown } = ordered();
  order.offer("a", 5_000_007n, "old");
  // Its new counter starts at a clock seed (a multiple of 1,000); its first text was lost.
  order.offer("a", 9_000_002n, "new 2");
  order.offer("a", 9_000_003n, "new 3");
  deepEqual(shown, ["old"]);
  order.offer("a", 9_000_001n, "new 1");
  deepEqual(shown, ["old", "new 1", "new 2", "new 3"]);
  // Its first text first: nothing waits.
  order.offer("b", 1_000n, "b old");
  order.offer("b", 4_000_001n, "b new");
  deepEqual(shown.slice(4), ["b old", "b new"]);
  equal(order.held, 0);
  order.close();
});

Deno.test("origin order: at most maxHeld wait; one more shows what the longest waiting origin holds", () => {
  const { order, shown, clock } = ordered(1000, 4);
  order.offer("a", 1n, "a1");
  order.offer("b", 1n, "b1");
  order.offer("a", 3n, "a3");
  clock.now = 1;
  order.offer("a", 4n, "a4");
  order.offer("b", 3n, "b3");
  order.offer("b", 4n, "b4");
  equal(order.held, 4);
  clock.now = 2;
  order.offer("b", 5n, "b5");
  // a held first: its texts go, in order; b's wait on.
  deepEqual(shown, ["a1", "b1", "a3", "a4"]);
  equal(order.held, 3);
  order.close();
});

Deno.test("origin order: a hostile member holding at most maxHeld, however many it sends", () => {
  const { order, shown } = ordered(60_000, 16);
  order.offer("evil", 1n, "first");
  order.offer("honest", 1n, "h1");
  for (let k = 0; k < 100_000; k++) {
    // Always a gap, with msgIDs both within and beyond the horizon, and the same ids again.
    order.offer("evil", 3n + BigInt(k % (2 * ORDER_GAP)), `e${k}`);
    ok(order.held <= 16);
  }
  order.offer("honest", 2n, "h2");
  ok(shown.includes("h2"), "an honest origin waits for nothing");
  order.close();
});

Deno.test("origin order: at most ORDER_ORIGINS origins are remembered", () => {
  const { order, shown } = ordered();
  for (let k = 0; k < ORDER_ORIGINS + 10; k++) order.offer(`o${k}`, 1n, `o${k}`);
  ok(order.origins <= ORDER_ORIGINS);
  // The first, forgotten, starts again from what it sends next: no wait.
  order.offer("o0", 5n, "o0 again");
  equal(shown.at(-1), "o0 again");
  order.close();
});

Deno.test("origin order: waitMs 0 holds nothing; flush shows what waits, in order", () => {
  const none = ordered(0);
  none.order.offer("a", 1n, "a1");
  none.order.offer("a", 3n, "a3");
  none.order.offer("a", 2n, "a2");
  deepEqual(none.shown, ["a1", "a3", "a2"]);
  none.order.close();
  const some = ordered();
  some.order.offer("a", 1n, "a1");
  some.order.offer("a", 4n, "a4");
  some.order.offer("a", 3n, "a3");
  some.order.flush();
  deepEqual(some.shown, ["a1", "a3", "a4"]);
  equal(some.order.held, 0);
  some.order.close();
  throws(() => new OriginOrder(() => {}, { waitMs: -1, maxHeld: 1 }), RangeError);
});

Deno.test("origin order: only members known to speak ringchat/2 are held for order", () => {
  const members = new Membership(1000);
  const us = { name: "us", ip: "127.0.0.1", port: 1 };
  const seed = { name: "seed", ip: "127.0.0.1", port: 2 };
  members.set({ type: "M", msid: 1n, members: [us, seed] }, 0);
  const inOrder = countsInOrder(members);
  const [usHid, seedHid] = members.members.map((m) => m.hashId.toString());
  // No member-info (a plain registry): nobody is known to count in order.
  equal(inOrder(usHid!), false);
  members.setInfo({ room: "r", msid: 1n, members: [{ ...us, key: null }] });
  equal(inOrder(usHid!), true);
  equal(inOrder(seedHid!), false);
  equal(inOrder("12345"), false);
});

Deno.test("origin order: inOriginOrder sorts each origin within its places", () => {
  const m = (originHid: string, id: bigint) => ({ originHid, id });
  deepEqual(
    inOriginOrder([m("a", 3n), m("b", 2n), m("a", 1n), m("b", 1n), m("a", 2n)], (x) => x.id),
    [m("a", 1n), m("b", 1n), m("a", 2n), m("b", 2n), m("a", 3n)],
  );
});
