/**
 * The tree's acknowledgements (peer/child_watch.ts, peer/tree.ts): a child
 * that confirms nothing for `suspectMs` goes silent and its unconfirmed copies
 * are handed on, once; a live child is never suspected; the bounds hold
 * whatever a hostile child does; and a router hands a silent child's part to
 * the next member, from the top, through a member that reaches it.
 */
import { deepEqual, equal, throws } from "node:assert/strict";
import { decodeFrame, type TextFrame } from "../lib/frames.ts";
import { ringOrder } from "../lib/ring.ts";
import { fingerApart } from "../lib/tree_shares.ts";
import { ProtocolError } from "../lib/errors.ts";
import { ChildWatch } from "../peer/child_watch.ts";
import { digestHoldings, RecentIds } from "../peer/digest.ts";
import type { Membership } from "../peer/membership.ts";
import { MAX_WAITING_HANDOVERS, TreeRouter } from "../peer/tree.ts";
import { parseTreeHeader, treeHeaderBody } from "../peer/tree_ops.ts";
import { type FakeLink, fakeLink, fakeText } from "./support/fake_link.ts";

const bob = { name: "bob", ip: "127.0.0.1", port: 50002 };
const end = { name: "carol", ip: "127.0.0.1", port: 50003 };
const held = { has: () => true };
const lacks = { has: () => false };

function copy(msgId: bigint) {
  return { originHid: "7", msgId, end, hops: 1 };
}

Deno.test("child watch: a child that confirms nothing for suspectMs goes silent, with every copy unconfirmed", () => {
  let now = 0;
  const watch = new ChildWatch({ suspectMs: 400, now: () => now });
  watch.sent(bob, copy(1n));
  now = 100;
  watch.sent(bob, copy(2n));
  equal(watch.nextDueAt(), 400);
  now = 399;
  deepEqual(watch.due(), []);
  equal(watch.isSilent(bob), false);
  now = 400;
  const [silent] = watch.due();
  deepEqual(silent?.child, bob);
  deepEqual(silent?.copies.map((c) => c.msgId), [1n, 2n]);
  equal(watch.isSilent(bob), true);
  deepEqual(watch.due(), [], "handed on once");
  equal(watch.size, 0);
  // Heard again, 700 ms after the copy it had not confirmed: live, not silent any more, and
  // given twice that next time (it was only slow).
  now = 700;
  deepEqual(watch.heard(bob, held), []);
  equal(watch.isSilent(bob), false);
  watch.sent(bob, copy(3n));
  now = 700 + 1399;
  deepEqual(watch.due(), []);
  now = 700 + 1400;
  equal(watch.due().length, 1);
});

Deno.test("child watch: a live child that confirms is never suspected; one it lacks long after goes to it once more", () => {
  let now = 0;
  const watch = new ChildWatch({ suspectMs: 400, now: () => now });
  for (let k = 1n; k <= 50n; k++) {
    watch.sent(bob, copy(k));
    now += 100;
    // Its digest, 100 ms after each copy, shows everything up to k − 1 (k itself still in flight).
    const mine = new RecentIds({ now: () => now });
    for (let j = 1n; j < k; j++) mine.add("7", j);
    watch.heard(bob, digestHoldings(mine.digest()));
    deepEqual(watch.due(), []);
  }
  equal(watch.isSilent(bob), false);
  const all = new RecentIds({ now: () => now });
  for (let j = 1n; j <= 50n; j++) all.add("7", j);
  deepEqual(watch.heard(bob, digestHoldings(all.digest())), []);
  equal(watch.size, 0);
  // A copy it lacks in every digest: handed to it once more after suspectMs, then forgotten.
  const mine = new RecentIds({ now: () => now });
  watch.sent(bob, copy(99n));
  now += 400;
  deepEqual(watch.heard(bob, digestHoldings(mine.digest())).map((c) => c.msgId), [99n]);
  watch.sent(bob, copy(99n), true);
  now += 400;
  deepEqual(watch.heard(bob, digestHoldings(mine.digest())), [], "not a third time");
  equal(watch.size, 0);
});

Deno.test("child watch: a child whose confirmations come late lately gets twice that, at most 4 × suspectMs", () => {
  let now = 0;
  const watch = new ChildWatch({ suspectMs: 400, now: () => now });
  watch.sent(bob, copy(1n));
  now = 300;
  watch.heard(bob, held); // 300 ms late
  watch.sent(bob, copy(2n));
  now = 300 + 599;
  deepEqual(watch.due(), [], "not at 400 ms: it answered 300 ms late a moment ago");
  now = 300 + 600;
  equal(watch.due().length, 1);
  // However late it was, a silence of 1,600 ms is enough.
  watch.heard(bob, held);
  watch.sent(bob, copy(3n));
  now += 10_000;
  watch.heard(bob, held);
  watch.sent(bob, copy(4n));
  now += 1_600;
  equal(watch.due().length, 1);
});

Deno.test("child watch: a dropped link hands its unconfirmed copies on at once", () => {
  const watch = new ChildWatch({ suspectMs: 400, now: () => 0 });
  watch.sent(bob, copy(1n));
  watch.sent(bob, copy(2n));
  watch.heard(bob, { has: (_o, id) => id === 1n });
  deepEqual(watch.lost(bob).map((c) => c.msgId), [2n]);
  deepEqual(watch.lost(bob), []);
});

Deno.test("child watch: bounded per child and in children, whatever is sent", () => {
  let now = 0;
  const watch = new ChildWatch({ suspectMs: 400, maxPerChild: 8, maxChildren: 4, now: () => now });
  for (let k = 1n; k <= 1000n; k++) watch.sent(bob, copy(k));
  equal(watch.size, 8);
  for (let i = 0; i < 100; i++) {
    watch.sent({ name: `m${i}`, ip: "127.0.0.1", port: 1000 + i }, copy(1n));
  }
  equal(watch.size, 4, "the least recently sent to are forgotten");
  now = 400;
  equal(watch.due().length, 4);
  throws(() => new ChildWatch({ suspectMs: 0 }), RangeError);
  // A hostile child claiming to hold everything only confirms: nothing is handed on.
  watch.sent(bob, copy(1n));
  deepEqual(watch.heard(bob, held), []);
  deepEqual(watch.heard(bob, lacks), []);
});

Deno.test("digest holdings: what a digest shows held, and its window", () => {
  const mine = new RecentIds();
  for (const id of [100n, 98n, 30n]) mine.add("7", id);
  const holds = digestHoldings(mine.digest());
  equal(holds.has("7", 100n), true);
  equal(holds.has("7", 99n), false);
  equal(holds.has("7", 98n), true);
  equal(holds.has("7", 101n), false);
  equal(holds.has("7", 30n), true, "older than the window counts as held");
  equal(holds.has("8", 1n), false);
  deepEqual(mine.digestOf(["7", "8"]).origins.map((o) => o.originHid), ["7"]);
});

Deno.test("tree ops: a hand-over carries its part; bare only on a hand-over, never pulled", () => {
  const part = { from: bob, limit: end };
  const body = treeHeaderBody("r", "7", 3n, {
    hops: 2,
    limit: null,
    pulled: false,
    part,
    bare: true,
  });
  deepEqual(parseTreeHeader(body).route, { hops: 2, limit: null, pulled: false, part, bare: true });
  const plain = treeHeaderBody("r", "7", 3n, { hops: 2, limit: end, pulled: false });
  throws(() => parseTreeHeader({ ...plain, bare: true }), ProtocolError);
  throws(() => parseTreeHeader({ ...plain, part: { from: bob } }), ProtocolError);
  throws(() => parseTreeHeader({ ...plain, part: [bob, end] }), ProtocolError);
  const pulled = treeHeaderBody("r", "7", 3n, { hops: 2, limit: null, pulled: true });
  throws(() => parseTreeHeader({ ...pulled, part: { from: bob, limit: end } }), ProtocolError);
  equal(fingerApart(24, 1, 9), true);
  equal(fingerApart(24, 9, 1), true);
  equal(fingerApart(24, 2, 9), false);
  equal(fingerApart(24, 3, 3), false);
});

// A ring of 12; I am the origin at index 0, linked (as fingers are) to 1, 2, 4, 8, 10, 11.
const members = Array.from({ length: 12 }, (_, i) => ({
  name: `m${i}`,
  ip: "127.0.0.1",
  port: 41000 + i,
}));
const ring = ringOrder(members, members[0]!);

function routerAt(me: number, linked: number[], now: () => number) {
  const links = new Map(linked.map((i) => [ring[i]!.name, fakeLink(ring[i]!, "forward")]));
  const tree = new TreeRouter({
    place: () => ({ room: "r", me: ring[me]! }) as never,
    members: {
      ring,
      members: ring,
      speaksRingchat: () => true,
      speakers: () => ring.length,
    } as unknown as Membership,
    ringOnly: false,
    ringLinks: () => [],
    linkTo: (m) => links.get(m.name),
    speaksRingchat: () => true,
    bytesFor: (_link, raw) => raw,
    isMember: () => true,
    report: () => {},
  }, { now, ackMs: 50, suspectMs: 200 });
  return { tree, links };
}

function text(msgId: bigint): { frame: TextFrame; raw: Uint8Array } {
  return fakeText(msgId, ring[0]!);
}

/** The `tree` ops written on a link, read back. */
function treeOps(link: FakeLink) {
  const ops = [];
  for (const bytes of link.written) {
    if (bytes[0] !== 0x58) continue; // "X": the fake texts are not frames
    const frame = decodeFrame(bytes);
    if (frame.type === "X" && frame.op === "tree") ops.push(parseTreeHeader(frame.body));
  }
  return ops;
}

Deno.test("tree: a silent child's part goes, from its top, through a member that reaches it", async () => {
  let now = 1000;
  const { tree, links } = routerAt(0, [1, 2, 4, 8, 10, 11], () => now);
  const silent = links.get(ring[4]!.name)!;
  const { frame, raw } = text(1n);
  tree.delivered(frame, raw, 0, false);
  equal(tree.originate(frame, raw), 4, "to 8, 4, 2 and 1");
  // Everyone but 4 confirms: their digests show message 1.
  const mine = new RecentIds({ now: () => now });
  mine.add(frame.originHid, 1n);
  const digest = {
    type: "X" as const,
    op: "digest",
    body: { room: "r", origins: [[frame.originHid, "1", "0"]] },
  };
  for (const i of [1, 2, 8]) tree.onOp(links.get(ring[i]!.name)!, digest);
  now += 200;
  // The watch's timer is real: let it fire.
  await new Promise((resolve) => setTimeout(resolve, 250));
  equal(tree.counts.silent, 1);
  equal(tree.counts.resent, 1);
  // 4 is linked only to me among 0..8's members I reach; 5 takes its part over, reached by 1.
  const handed = treeOps(links.get(ring[1]!.name)!).at(-1)!;
  deepEqual(handed.route.part?.from.name, ring[5]!.name);
  deepEqual(handed.route.part?.limit.name, ring[8]!.name);
  equal(handed.route.bare, true, "1 holds it: the op alone");
  // 4 still gets its own copy, pulled (it hands nothing on).
  equal(treeOps(silent).at(-1)?.route.pulled, true);
  // The next message: 4 is skipped, its part rides on 1's copy, 4 gets a pulled copy.
  const second = text(2n);
  tree.delivered(second.frame, second.raw, 0, false);
  tree.originate(second.frame, second.raw);
  const onOne = treeOps(links.get(ring[1]!.name)!).at(-1)!;
  equal(onOne.msgId, 2n);
  deepEqual(onOne.route.part?.from.name, ring[5]!.name);
  equal(onOne.route.bare, undefined);
  equal(treeOps(silent).at(-1)?.route.pulled, true);
  // 4 speaks again: it gets its part back.
  tree.onOp(silent, digest);
  const third = text(3n);
  tree.delivered(third.frame, third.raw, 0, false);
  tree.originate(third.frame, third.raw);
  deepEqual(treeOps(silent).at(-1)?.route.limit?.name, ring[8]!.name);
  tree.close();
});

Deno.test("tree: a bare hand-over of a text not held yet waits for it, bounded", () => {
  let now = 1000;
  // I am 1, linked to 5 (my finger at +4).
  const { tree, links } = routerAt(1, [0, 5], () => now);
  const from0 = links.get(ring[0]!.name)!;
  const { frame, raw } = text(1n);
  const part = { from: ring[5]!, limit: ring[8]! };
  const body = treeHeaderBody("r", frame.originHid, 1n, {
    hops: 1,
    limit: null,
    pulled: false,
    part,
    bare: true,
  });
  tree.onOp(from0, { type: "X", op: "tree", body });
  equal(links.get(ring[5]!.name)!.written.length, 0, "not held yet");
  tree.delivered(frame, raw, 1, false);
  const passed = treeOps(links.get(ring[5]!.name)!);
  equal(passed.length, 1);
  deepEqual(passed[0]?.route.limit?.name, ring[8]!.name);
  equal(passed[0]?.route.hops, 2);
  // Once per message and part, however often it is asked.
  for (let i = 0; i < 10; i++) tree.onOp(from0, { type: "X", op: "tree", body });
  equal(treeOps(links.get(ring[5]!.name)!).length, 1);
  // Forged bare hand-overs of texts never sent: held at most MAX_WAITING_HANDOVERS, nothing sent.
  for (let k = 2; k < 2 + 2 * MAX_WAITING_HANDOVERS; k++) {
    now += 10;
    tree.onOp(from0, {
      type: "X",
      op: "tree",
      body: treeHeaderBody("r", frame.originHid, BigInt(k), {
        hops: 1,
        limit: null,
        pulled: false,
        part,
        bare: true,
      }),
    });
  }
  equal(treeOps(links.get(ring[5]!.name)!).length, 1);
  tree.close();
});
