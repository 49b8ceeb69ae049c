import { deepEqual, equal, throws } from "node:assert/strict";
import { Broadcasts } from "../registry/broadcast.ts";

const NO_BLOCKS = { has: () => false };

Deno.test("broadcast: reaches each of N online users once, not the sender, not who blocks her", () => {
  const broadcasts = new Broadcasts();
  const online = Array.from({ length: 50 }, (_, i) => `u${i}`);
  const sent = broadcasts.send("u0", "hello", [...online, ...online], NO_BLOCKS, 0);
  if (!sent.ok) throw new Error(sent.code);
  equal(sent.to.length, 49);
  equal(new Set(sent.to).size, 49);
  equal(sent.to.includes("u0"), false);
  const blocks = { has: (by: string, name: string) => by === "u7" && name === "u0" };
  const again = broadcasts.send("u0", "hello", online, blocks, 0);
  equal(again.ok && again.to.includes("u7"), false);
  equal(again.ok && again.to.length, 48);
});

Deno.test("broadcast: a sender gets the burst at once, then the sustained rate", () => {
  const broadcasts = new Broadcasts({ perMinute: 6, burst: 2 });
  equal(broadcasts.send("alice", "1", [], NO_BLOCKS, 0).ok, true);
  equal(broadcasts.send("alice", "2", [], NO_BLOCKS, 0).ok, true);
  deepEqual(broadcasts.send("alice", "3", [], NO_BLOCKS, 0), {
    ok: false,
    code: "rate-limited",
    retryAfterMs: 10_000,
  });
  deepEqual(broadcasts.send("alice", "3", [], NO_BLOCKS, 4_000), {
    ok: false,
    code: "rate-limited",
    retryAfterMs: 6_000,
  });
  // Another sender has its own limit.
  equal(broadcasts.send("bob", "1", [], NO_BLOCKS, 4_000).ok, true);
  equal(broadcasts.send("alice", "3", [], NO_BLOCKS, 10_000).ok, true);
  equal(broadcasts.trackedSenders, 2);
  broadcasts.sweep(1_000_000);
  equal(broadcasts.trackedSenders, 0);
});

Deno.test("broadcast: empty and too-long texts are refused without using the rate", () => {
  const broadcasts = new Broadcasts({ burst: 1, maxTextBytes: 4 });
  deepEqual(broadcasts.send("alice", "", [], NO_BLOCKS, 0), { ok: false, code: "empty" });
  deepEqual(broadcasts.send("alice", "héllo", [], NO_BLOCKS, 0), { ok: false, code: "too-long" });
  equal(broadcasts.send("alice", "héy", [], NO_BLOCKS, 0).ok, true);
  throws(() => new Broadcasts({ perMinute: 0 }), RangeError);
  throws(() => new Broadcasts({ burst: 0 }), RangeError);
});
