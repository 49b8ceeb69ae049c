import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { clockSeed, MsgCounter, RecentFrames, SeenWindow } from "../peer/flood.ts";

const HID = "1419600254385803609";

Deno.test("flood: delivers a message that overtook an older one on another path", () => {
  const seen = new SeenWindow();
  equal(seen.admit(HID, "alice", 5n, "five"), true);
  // 4 was sent first but arrives second, over a longer path: still new.
  equal(seen.admit(HID, "alice", 4n, "four"), true);
  // And the copies arriving over the other paths are dropped.
  equal(seen.admit(HID, "alice", 4n, "four"), false);
  equal(seen.admit(HID, "alice", 5n, "five"), false);
});

Deno.test("flood: drops every later copy of a message", () => {
  const seen = new SeenWindow();
  equal(seen.admit(HID, "alice", 1n, "a:b::\r\n"), true);
  for (let i = 0; i < 5; i++) equal(seen.admit(HID, "alice", 1n, "a:b::\r\n"), false);
});

Deno.test("flood: keeps origins apart", () => {
  const seen = new SeenWindow();
  equal(seen.admit(HID, "alice", 1n, "hi"), true);
  equal(seen.admit("7096407668745481807", "bob", 1n, "hi"), true);
  equal(seen.origins, 2);
});

Deno.test("flood: delivers a restarted origin's reused msgID when its text differs", () => {
  const seen = new SeenWindow();
  equal(seen.admit(HID, "alice", 1n, "before the restart"), true);
  equal(seen.admit(HID, "alice", 1n, "after the restart"), true);
  equal(seen.admit(HID, "alice", 1n, "after the restart"), false);
});

Deno.test("flood: forgets an origin that handshakes again with a lower msgID than before", () => {
  const seen = new SeenWindow();
  equal(seen.handshake(HID, 0n), false, "a first handshake");
  equal(seen.admit(HID, "alice", 3n, "hi"), true);
  equal(seen.handshake(HID, 3n), false, "its counter went on: not a restart");
  equal(seen.admit(HID, "alice", 3n, "hi"), false);
  equal(seen.handshake(HID, 0n), true, "msgID back to 0: restarted");
  equal(seen.highest(HID), undefined);
  equal(seen.admit(HID, "alice", 3n, "hi"), true);
});

Deno.test("flood: a handshake overtaken by that origin's newer messages forgets nothing", () => {
  const seen = new SeenWindow();
  seen.handshake(HID, 2n);
  // Sent after its handshake, arrived first over another path.
  equal(seen.admit(HID, "alice", 3n, "hi"), true);
  equal(seen.handshake(HID, 2n), false);
  equal(seen.admit(HID, "alice", 3n, "hi"), false);
});

Deno.test("flood: forget drops everything seen from an origin", () => {
  const seen = new SeenWindow();
  seen.admit(HID, "alice", 1n, "hi");
  seen.forget(HID);
  equal(seen.admit(HID, "alice", 1n, "hi"), true);
});

Deno.test("flood: the window per origin is bounded and ids pushed out count as seen", () => {
  const seen = new SeenWindow({ perOrigin: 4 });
  for (let id = 1n; id <= 10n; id++) equal(seen.admit(HID, "alice", id, `m${id}`), true);
  // 7..10 are held; 6 was pushed out by the bound and must not come back.
  equal(seen.admit(HID, "alice", 6n, "m6"), false);
  equal(seen.admit(HID, "alice", 10n, "m10"), false);
  equal(seen.admit(HID, "alice", 11n, "m11"), true);
  equal(seen.highest(HID), 11n);
});

Deno.test("flood: remembers a message for ttlMs only", () => {
  let now = 1000;
  const seen = new SeenWindow({ ttlMs: 50, now: () => now });
  equal(seen.admit(HID, "alice", 1n, "hi"), true);
  now += 50;
  equal(seen.admit(HID, "alice", 1n, "hi"), false);
  now += 1;
  equal(seen.admit(HID, "alice", 1n, "hi"), true, "expired, so a restarted origin gets through");
});

Deno.test("flood: the number of origins is bounded, least recently active forgotten first", () => {
  const seen = new SeenWindow({ maxOrigins: 2 });
  seen.admit("a", "a", 1n, "x");
  seen.admit("b", "b", 1n, "x");
  seen.admit("a", "a", 2n, "x");
  seen.admit("c", "c", 1n, "x");
  equal(seen.origins, 2);
  equal(seen.highest("b"), undefined);
  equal(seen.highest("a"), 2n);
});

Deno.test("flood: window bounds must be positive", () => {
  throws(() => new SeenWindow({ perOrigin: 0 }), RangeError);
});

Deno.test("flood: my msgID counter starts from the clock and only goes up", () => {
  const early = new MsgCounter(clockSeed(1_700_000_000_000));
  const ids = [early.next(), early.next(), early.next()];
  equal(ids[1]! - ids[0]!, 1n);
  // A restart a millisecond later starts above everything the first run sent
  // unless it sent 1000 messages per millisecond: seed-rule peers keep delivering.
  const restarted = new MsgCounter(clockSeed(1_700_000_000_001));
  ok(restarted.last >= ids[2]!);
  ok(restarted.next() > ids[2]!);
  ok(new MsgCounter().last >= clockSeed(Date.now() - 1000));
});

Deno.test("flood: recent frames are bounded by age, count and bytes", () => {
  let now = 0;
  const recent = new RecentFrames(100, { max: 3, maxBytes: 10, now: () => now });
  const frame = (n: number) => new Uint8Array(n);
  recent.push(frame(1));
  now = 50;
  recent.push(frame(2));
  deepEqual(recent.frames().map((f) => f.length), [1, 2]);
  now = 120;
  deepEqual(recent.frames().map((f) => f.length), [2], "the first is older than 100 ms");
  recent.push(frame(3));
  recent.push(frame(4));
  deepEqual(recent.frames().map((f) => f.length), [2, 3, 4]);
  recent.push(frame(5));
  deepEqual(recent.frames().map((f) => f.length), [4, 5], "count 3 and 10 bytes at most");
});
