import { deepEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import { encodeFrame } from "../lib/frames.ts";
import {
  type Admission,
  clockSeed,
  MsgCounter,
  RecentFrames,
  SeenWindow,
  type SeenWindowOptions,
  textContent,
} from "../peer/flood.ts";
import { MinHeap } from "../tools/min_heap.ts";

const HID = "1419600254385803609";
const BOB = "7096407668745481807";
const CAROL = "18077499783421377068";
const MAX_U64 = (1n << 64n) - 1n;
const encoder = new TextEncoder();

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** A window whose members are alice, bob and carol (by HashID), on a clock the test moves. */
function window(options: SeenWindowOptions = {}): SeenWindow {
  const seen = new SeenWindow(options);
  seen.setMembers([HID, BOB, CAROL]);
  return seen;
}

Deno.test("flood: delivers a message that overtook an older one on another path", () => {
  const seen = window();
  equal(seen.admit(HID, "alice", 5n, bytes("five")), "new");
  // 4 was sent first but arrives second, over a longer path: still new.
  equal(seen.admit(HID, "alice", 4n, bytes("four")), "new");
  // And the copies arriving over the other paths are dropped.
  equal(seen.admit(HID, "alice", 4n, bytes("four")), "seen");
  equal(seen.admit(HID, "alice", 5n, bytes("five")), "seen");
});

Deno.test("flood: drops every later copy of a message", () => {
  const seen = window();
  equal(seen.admit(HID, "alice", 1n, bytes("a:b::\r\n")), "new");
  for (let i = 0; i < 5; i++) equal(seen.admit(HID, "alice", 1n, bytes("a:b::\r\n")), "seen");
});

Deno.test("flood: keeps origins apart", () => {
  const seen = window();
  equal(seen.admit(HID, "alice", 1n, bytes("hi")), "new");
  equal(seen.admit(BOB, "bob", 1n, bytes("hi")), "new");
  equal(seen.origins, 2);
  equal(seen.entries, 2);
});

Deno.test("flood: delivers a restarted origin's reused msgID when its text differs", () => {
  const seen = window();
  equal(seen.admit(HID, "alice", 1n, bytes("before the restart")), "new");
  equal(seen.admit(HID, "alice", 1n, bytes("after the restart")), "new");
  equal(seen.admit(HID, "alice", 1n, bytes("after the restart")), "seen");
  // Both texts stay remembered: a late copy of the first is no new message.
  equal(seen.admit(HID, "alice", 1n, bytes("before the restart")), "seen");
});

Deno.test("flood: the digest is of the content bytes, not of their decoding", () => {
  const seen = window();
  // Two invalid UTF-8 sequences that decode to the same U+FFFD text.
  equal(seen.admit(HID, "alice", 1n, new Uint8Array([0xff])), "new");
  equal(seen.admit(HID, "alice", 1n, new Uint8Array([0xfe])), "new");
  equal(seen.admit(HID, "alice", 1n, new Uint8Array([0xff])), "seen");
});

Deno.test("flood: textContent is a view of a T frame's content bytes", () => {
  const frame = encodeFrame({
    type: "T",
    room: "room1",
    originHid: HID,
    originName: "alice",
    msgId: 7n,
    text: "a:b::\r\nü",
  });
  const content = textContent(frame);
  deepEqual([...content], [...bytes("a:b::\r\nü")]);
  equal(content.buffer, frame.buffer, "a view, not a copy");
  throws(() => textContent(frame.subarray(0, frame.length - 1)), RangeError);
});

Deno.test("flood: forgets an origin that handshakes again with a lower msgID than before", () => {
  const seen = window();
  equal(seen.handshake(HID, 0n), false, "a first handshake");
  equal(seen.admit(HID, "alice", 3n, bytes("hi")), "new");
  equal(seen.handshake(HID, 3n), false, "its counter went on: not a restart");
  equal(seen.admit(HID, "alice", 3n, bytes("hi")), "seen");
  equal(seen.handshake(HID, 0n), true, "msgID back to 0: restarted");
  equal(seen.highest(HID), undefined);
  equal(seen.admit(HID, "alice", 3n, bytes("hi")), "new");
});

Deno.test("flood: a handshake overtaken by that origin's newer messages forgets nothing", () => {
  const seen = window();
  seen.handshake(HID, 2n);
  // Sent after its handshake, arrived first over another path.
  equal(seen.admit(HID, "alice", 3n, bytes("hi")), "new");
  equal(seen.handshake(HID, 2n), false);
  equal(seen.admit(HID, "alice", 3n, bytes("hi")), "seen");
});

Deno.test("flood: a handshake of a non-member is ignored", () => {
  const seen = window();
  equal(seen.handshake("666", 5n), false);
  equal(seen.handshake("666", 1n), false, "no state was kept for it");
});

Deno.test("flood: forget drops everything seen from an origin", () => {
  const seen = window();
  seen.admit(HID, "alice", 1n, bytes("hi"));
  seen.forget(HID);
  equal(seen.entries, 0);
  equal(seen.admit(HID, "alice", 1n, bytes("hi")), "new");
});

Deno.test("flood: a full window refuses until its oldest entry is minAgeMs old, then heals", () => {
  let now = 0;
  const seen = window({ perMember: 4, minAgeMs: 100, now: () => now });
  for (let id = 1n; id <= 4n; id++) equal(seen.admit(HID, "alice", id, bytes(`m${id}`)), "new");
  // Full of young entries: refused, not stored, and nothing pushed out.
  equal(seen.admit(HID, "alice", 5n, bytes("m5")), "full");
  equal(seen.admit(HID, "alice", 1n, bytes("m1")), "seen");
  equal(seen.entries, 4);
  // Another member is not affected.
  equal(seen.admit(BOB, "bob", 1n, bytes("b1")), "new");
  now = 100;
  equal(seen.admit(HID, "alice", 5n, bytes("m5")), "new", "m1 is old enough to go");
  equal(seen.entries, 5);
  // No floor: an id pushed out is heard again when it comes with new content,
  // and so is any lower id.
  equal(seen.admit(HID, "alice", 0n, bytes("restarted")), "new");
  equal(seen.highest(HID), 5n);
});

Deno.test("flood: remembers a message for ttlMs only", () => {
  let now = 1000;
  const seen = window({ ttlMs: 50, minAgeMs: 10, now: () => now });
  equal(seen.admit(HID, "alice", 1n, bytes("hi")), "new");
  now += 50;
  equal(seen.admit(HID, "alice", 1n, bytes("hi")), "seen");
  now += 1;
  equal(
    seen.admit(HID, "alice", 1n, bytes("hi")),
    "new",
    "expired, so a restarted origin gets through",
  );
});

Deno.test("flood: keeps no state for origins that are not members", () => {
  const seen = window();
  for (let i = 0; i < 10_000; i++) {
    equal(seen.admit(`forged-${i}`, "x", BigInt(i), bytes("storm")), "stranger");
  }
  equal(seen.origins, 0);
  equal(seen.entries, 0);
  ok(!seen.isMember("forged-1"));
  ok(seen.isMember(CAROL));
});

Deno.test("flood: a departed member stays one for departedMs, then is forgotten", () => {
  let now = 0;
  const seen = new SeenWindow({ departedMs: 100, now: () => now });
  seen.setMembers([HID, BOB]);
  equal(seen.admit(HID, "alice", 1n, bytes("hi")), "new");
  seen.handshake(HID, 9n);
  seen.setMembers([BOB]);
  ok(seen.isMember(HID));
  equal(seen.admit(HID, "alice", 1n, bytes("hi")), "seen", "its late copies are still dropped");
  equal(seen.admit(HID, "alice", 2n, bytes("last words")), "new", "its last messages still go");
  now = 50;
  seen.setMembers([BOB, HID]);
  now = 60;
  seen.setMembers([BOB]);
  now = 159;
  equal(seen.admit(HID, "alice", 1n, bytes("hi")), "seen", "listed again: departed anew at 60");
  now = 160;
  ok(!seen.isMember(HID));
  equal(seen.admit(HID, "alice", 3n, bytes("hi")), "stranger", "departedMs after it left");
  seen.setMembers([BOB]);
  equal(seen.origins, 0, "and its state goes with the next member list");
  seen.setMembers([BOB, HID]);
  equal(seen.admit(HID, "alice", 1n, bytes("hi")), "new", "came back after departedMs: forgotten");
  equal(seen.handshake(HID, 1n), false, "its handshake msgID was forgotten too");
});

Deno.test("flood: at most maxDeparted departed members keep state, the earliest goes first", () => {
  const seen = new SeenWindow({ maxDeparted: 1 });
  seen.setMembers([HID, BOB, CAROL]);
  for (const hid of [HID, BOB, CAROL]) seen.admit(hid, "x", 1n, bytes("hi"));
  seen.setMembers([CAROL]);
  equal(seen.origins, 2, "one of alice and bob is forgotten at once");
  seen.setMembers([CAROL, HID, BOB]);
  equal(seen.admit(HID, "x", 1n, bytes("hi")), "new");
  equal(seen.admit(BOB, "x", 1n, bytes("hi")), "seen");
});

Deno.test("flood: provisional origins are bounded, die out by minAgeMs, and end at the next member list", () => {
  let now = 0;
  const seen = window({ maxProvisional: 2, minAgeMs: 1000, now: () => now });
  equal(seen.provisional(HID), true, "a member already");
  equal(seen.provisionals, 0);
  equal(seen.provisional("1"), true);
  equal(seen.admit("1", "p1", 1n, bytes("a")), "new");
  now = 500;
  equal(seen.provisional("2"), true);
  equal(seen.provisional("3"), false, "full, and its oldest is younger than minAgeMs");
  equal(seen.admit("3", "p3", 1n, bytes("a")), "stranger");
  equal(seen.admit("1", "p1", 1n, bytes("a")), "seen", "a copy is still dropped");
  now = 1000;
  equal(seen.provisional("3"), true, "the oldest is minAgeMs old: it goes");
  equal(seen.isMember("1"), false);
  equal(seen.admit("2", "p2", 1n, bytes("b")), "new");
  equal(seen.entries, 1, "the oldest's entries went with it");
  equal(seen.admit("3", "p3", 1n, bytes("c")), "new");
  // The next member list: "2" is listed (it keeps its window), "3" is not: it departs.
  seen.setMembers([HID, BOB, CAROL, "2"]);
  equal(seen.provisionals, 0);
  equal(seen.admit("2", "p2", 1n, bytes("b")), "seen");
  equal(seen.admit("3", "p3", 1n, bytes("c")), "seen", "a departed member for departedMs");
  now += 20_000;
  seen.setMembers([HID, BOB, CAROL, "2"]);
  equal(seen.isMember("3"), false, "then forgotten");
  equal(seen.isMember("2"), true);
  throws(() => new SeenWindow({ maxProvisional: -1 }), RangeError);
  equal(new SeenWindow({ maxProvisional: 0 }).provisional("1"), false);
});

Deno.test("flood: window bounds are checked", () => {
  throws(() => new SeenWindow({ perMember: 0 }), RangeError);
  throws(() => new SeenWindow({ ttlMs: 0 }), RangeError);
  throws(() => new SeenWindow({ ttlMs: 10, minAgeMs: 11 }), RangeError);
  throws(() => new SeenWindow({ departedMs: -1 }), RangeError);
  throws(() => window().admit(HID, "alice", MAX_U64 + 1n, bytes("x")), RangeError);
});

// ---- attacks on one window ------------------------------------------------

Deno.test("flood: 1,025 forged frames from msgID 2^64-1 under a member do not silence it", () => {
  let now = 0;
  const seen = window({ perMember: 1024, minAgeMs: 3000, now: () => now });
  // Paced over 3.4 s, as in issue 16: the first with msgID 2^64-1, then 1, 2, ...
  const forged = [MAX_U64, ...Array.from({ length: 1024 }, (_, i) => BigInt(i + 1))];
  for (const id of forged) {
    seen.admit(CAROL, "carol", id, bytes("forged"));
    now += 3.4;
  }
  ok(seen.entries <= 1024);
  // Carol's next real message (her counter is seeded from the clock) is heard ...
  const counter = new MsgCounter(clockSeed(1_700_000_000_000));
  equal(seen.admit(CAROL, "carol", counter.next(), bytes("still here")), "new");
  // ... and so is every later one, 60 s later too.
  now += 60_000;
  equal(seen.admit(CAROL, "carol", counter.next(), bytes("a minute later")), "new");
  // After a restart, ids go back (even to ids the attacker used): still heard.
  seen.handshake(CAROL, counter.last);
  equal(seen.handshake(CAROL, 0n), true);
  equal(seen.admit(CAROL, "carol", 1n, bytes("restarted")), "new");
  equal(seen.admit(CAROL, "carol", 2n, bytes("and again")), "new");
});

Deno.test("flood: a burst of forged frames under a member delays it by minAgeMs at most", () => {
  let now = 0;
  const seen = window({ perMember: 1024, minAgeMs: 3000, now: () => now });
  // All at once, so the window fills with entries younger than minAgeMs.
  for (let i = 0; i < 1025; i++) seen.admit(CAROL, "carol", MAX_U64 - BigInt(i), bytes("forged"));
  equal(seen.admit(CAROL, "carol", 5n, bytes("real")), "full", "dropped while the burst is young");
  equal(seen.admit(BOB, "bob", 5n, bytes("real")), "new", "other members unaffected");
  now = 3000;
  equal(seen.admit(CAROL, "carol", 5n, bytes("real")), "new");
});

// ---- properties -----------------------------------------------------------

const MEMBERS = ["m0", "m1", "m2", "m3"];
const anyOrigin = fc.constantFrom(...MEMBERS, "s0", "s1", "forged");
const anyMsgId = fc.oneof(
  fc.bigInt({ min: 0n, max: 8n }),
  fc.constantFrom(MAX_U64, MAX_U64 - 1n),
  fc.bigInt({ min: 0n, max: MAX_U64 }),
);
const anyContent = fc.uint8Array({ maxLength: 6 });

type Command =
  | { kind: "admit"; origin: string; msgId: bigint; content: Uint8Array }
  | { kind: "members"; keys: string[] }
  | { kind: "handshake"; origin: string; msgId: bigint }
  | { kind: "wait"; ms: number };

const anyCommand: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("admit" as const),
      origin: anyOrigin,
      msgId: anyMsgId,
      content: anyContent,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("members" as const), keys: fc.subarray(MEMBERS) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("handshake" as const),
      origin: anyOrigin,
      msgId: anyMsgId,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("wait" as const),
      ms: fc.integer({ min: 0, max: 200 }),
    }),
  },
);

Deno.test("flood: memory stays bounded per member whatever is injected", () => {
  fc.assert(
    fc.property(fc.array(anyCommand, { maxLength: 300 }), (commands) => {
      let now = 0;
      const maxDeparted = 2;
      const seen = new SeenWindow({
        perMember: 5,
        minAgeMs: 50,
        ttlMs: 400,
        departedMs: 300,
        maxDeparted,
        now: () => now,
      });
      let members: string[] = [...MEMBERS];
      seen.setMembers(members);
      for (const c of commands) {
        if (c.kind === "admit") {
          const verdict = seen.admit(c.origin, "n", c.msgId, c.content);
          if (!MEMBERS.includes(c.origin)) equal(verdict, "stranger");
        } else if (c.kind === "members") {
          members = c.keys;
          seen.setMembers(members);
        } else if (c.kind === "handshake") {
          seen.handshake(c.origin, c.msgId);
        } else {
          now += c.ms;
        }
        ok(seen.origins <= members.length + maxDeparted, "windows only for members");
        ok(seen.entries <= seen.origins * 5, "at most perMember entries each");
      }
    }),
  );
});

Deno.test("flood: a member's messages survive any flood under another origin", () => {
  fc.assert(
    fc.property(fc.array(anyCommand, { maxLength: 300 }), (commands) => {
      let now = 0;
      const seen = new SeenWindow({ perMember: 5, minAgeMs: 50, now: () => now });
      seen.setMembers([...MEMBERS, "victim"]);
      equal(seen.admit("victim", "v", 1n, bytes("kept")), "new");
      for (const c of commands) {
        if (c.kind === "admit") seen.admit(c.origin, "n", c.msgId, c.content);
        else if (c.kind === "handshake") seen.handshake(c.origin, c.msgId);
        else if (c.kind === "wait") now += c.ms;
      }
      // Within the TTL, the victim's copy is still recognised and its new
      // messages still admitted.
      equal(seen.admit("victim", "v", 1n, bytes("kept")), "seen");
      equal(seen.admit("victim", "v", 2n, bytes("next")), "new");
    }),
  );
});

Deno.test("flood: after any flood a member is heard again within minAgeMs", () => {
  fc.assert(
    fc.property(fc.array(anyCommand, { maxLength: 300 }), (commands) => {
      let now = 0;
      const seen = new SeenWindow({ perMember: 5, minAgeMs: 50, ttlMs: 10_000, now: () => now });
      seen.setMembers(MEMBERS);
      for (const c of commands) {
        if (c.kind === "admit") seen.admit(c.origin, "n", c.msgId, c.content);
        else if (c.kind === "handshake") seen.handshake(c.origin, c.msgId);
        else if (c.kind === "wait") now += c.ms;
      }
      now += 50;
      // A message it never sent before (contents above are at most 6 bytes),
      // under any msgID at all: heard.
      for (const [i, member] of MEMBERS.entries()) {
        equal(seen.admit(member, "n", BigInt(i) * 7n, bytes("a fresh message")), "new");
      }
    }),
  );
});

// ---- a simulated room -----------------------------------------------------

interface Delivery {
  at: number;
  to: number;
  from: number;
  origin: string;
  msgId: bigint;
  content: Uint8Array;
}

/** A min-heap of deliveries by time. */
class Deliveries extends MinHeap<Delivery> {
  constructor() {
    super((a, b) => a.at < b.at);
  }
}

interface Room {
  /** Peer i's window; peer i's member key is `p${i}`. */
  windows: SeenWindow[];
  /** Links of each peer (indices): the ring both ways plus any chords. */
  links: Set<number>[];
  /** Frames written onward, by all peers. */
  forwards: number;
  /** Messages shown, per peer: origin/msgId/content → times. */
  shown: Map<string, number>[];
  /** Inject a frame as if it came from a link (from = -1: the attacker) at time `at`. */
  inject(to: number, at: number, origin: string, msgId: bigint, content: Uint8Array): void;
  /** Runs until no delivery is left or `maxEvents` were handled; returns the last event's time. */
  run(maxEvents: number): number;
  /** Deliveries still in flight. */
  pending(): number;
}

/**
 * N peers flooding as peer.ts does (forward a new message to every link but
 * the one it came from and its origin), each hop taking `delay()` ms.
 */
function room(
  n: number,
  options: { delay: () => number; chords?: [number, number][]; window?: SeenWindowOptions },
): Room {
  let now = 0;
  const keys = Array.from({ length: n }, (_, i) => `p${i}`);
  const windows = keys.map(() => {
    const w = new SeenWindow({ ...options.window, now: () => now });
    w.setMembers(keys);
    return w;
  });
  const links = keys.map((_, i) => new Set([(i + 1) % n, (i + n - 1) % n]));
  for (const [a, b] of options.chords ?? []) {
    if (a === b) continue;
    links[a]!.add(b);
    links[b]!.add(a);
  }
  const queue = new Deliveries();
  const shown = keys.map(() => new Map<string, number>());
  const result: Room = {
    windows,
    links,
    forwards: 0,
    shown,
    inject(to, at, origin, msgId, content) {
      queue.push({ at, to, from: -1, origin, msgId, content });
    },
    run(maxEvents) {
      for (let handled = 0; queue.size > 0 && handled < maxEvents; handled++) {
        const d = queue.pop();
        now = d.at;
        const verdict: Admission = windows[d.to]!.admit(d.origin, d.origin, d.msgId, d.content);
        if (verdict !== "new") continue;
        const id = `${d.origin}/${d.msgId}/${d.content.join(",")}`;
        shown[d.to]!.set(id, (shown[d.to]!.get(id) ?? 0) + 1);
        for (const next of links[d.to]!) {
          if (next === d.from || keys[next] === d.origin) continue;
          result.forwards++;
          queue.push({ ...d, at: now + options.delay(), to: next, from: d.to });
        }
      }
      return now;
    },
    pending: () => queue.size,
  };
  return result;
}

/** Hop delays of 1..`max` ms, varied and the same every run (a Lehmer sequence from `seed`). */
function jitter(seed: number, max: number): () => number {
  let state = (Math.abs(seed) % 2147483646) + 1;
  return () => {
    state = (state * 48271) % 2147483647;
    return 1 + (state % max);
  };
}

for (const origins of [10_000, 20_000]) {
  Deno.test(`flood: a storm of ${origins} rotating forged origins dies out at once`, () => {
    const r = room(5, { delay: jitter(origins, 5) });
    for (let i = 0; i < origins; i++) {
      // One second of frames, each under a new originHID, at two peers.
      r.inject(i % 2, i / (origins / 1000), String(10n ** 18n + BigInt(i)), 1n, bytes(`x${i}`));
    }
    r.run(1_000_000);
    equal(r.pending(), 0);
    equal(r.forwards, 0, "nobody forwards a stranger's frame");
    for (const w of r.windows) equal(w.entries, 0);
  });
}

Deno.test("flood: a storm of 20,000 forged frames under members' origins dies out", () => {
  const n = 6;
  const r = room(n, { delay: jitter(7, 20), chords: [[0, 3], [1, 4]] });
  const distinct = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    // Under the members' own origins, msgIDs reused with other content (the
    // copies that ping-pong in a window keeping one text per id), at two peers.
    const origin = `p${i % n}`;
    const msgId = i % 3 === 0 ? MAX_U64 : BigInt(i % 50);
    const content = bytes(`forged ${i % 7}`);
    distinct.add(`${origin}/${msgId}/${content.join(",")}`);
    r.inject(i % 2 === 0 ? 0 : 3, i / 20, origin, msgId, content);
  }
  const end = r.run(10_000_000);
  equal(r.pending(), 0, "no copy is left circulating");
  ok(end < 1000 + 20 * n, `the last copy was handled at ${end} ms`);
  // Each peer showed each distinct forged message at most once, so the
  // forwards are bounded by distinct × peers × links.
  for (const shown of r.shown) for (const times of shown.values()) equal(times, 1);
  ok(r.forwards <= distinct.size * n * 4, `${r.forwards} forwards`);
  for (const w of r.windows) ok(w.entries <= w.origins * 2048);
});

Deno.test("flood: a member flooded from msgID 2^64-1 is heard by the whole room after", () => {
  const r = room(5, { delay: () => 2, window: { perMember: 1024, minAgeMs: 3000 } });
  let at = 0;
  // 1,025 forged frames under p2's origin, paced over 3.4 s, injected at p0.
  for (const id of [MAX_U64, ...Array.from({ length: 1024 }, (_, i) => BigInt(i + 1))]) {
    r.inject(0, at, "p2", id, bytes("forged"));
    at += 3.4;
  }
  r.run(1_000_000);
  // p2's real messages now, and after it restarts (msgIDs from 1).
  r.inject(2, at + 10, "p2", 1_700_000_000_000_001n, bytes("still here"));
  r.inject(2, at + 70_000, "p2", 1n, bytes("restarted"));
  r.run(1_000_000);
  for (const [i, shown] of r.shown.entries()) {
    if (i === 2) continue;
    equal(shown.get(`p2/1700000000000001/${bytes("still here").join(",")}`), 1, `peer ${i}`);
    equal(shown.get(`p2/1/${bytes("restarted").join(",")}`), 1, `peer ${i}`);
  }
});

Deno.test("flood: any injection into any small room dies out, and copies are never shown twice", () => {
  const injection = fc.record({
    to: fc.nat(),
    at: fc.integer({ min: 0, max: 500 }),
    origin: fc.nat(),
    msgId: fc.oneof(fc.bigInt({ min: 0n, max: 4n }), fc.constant(MAX_U64)),
    content: fc.constantFrom("a", "b", "c"),
  });
  fc.assert(
    fc.property(
      fc.integer({ min: 3, max: 7 }),
      fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 4 }),
      fc.array(injection, { minLength: 1, maxLength: 60 }),
      fc.integer(),
      (n, chords, injections, seed) => {
        // Every hop under minAgeMs / n: the ring is traversed faster than entries may go.
        const r = room(n, {
          delay: jitter(seed, 10),
          chords: chords.map(([a, b]) => [a % n, b % n]),
          window: { perMember: 3, minAgeMs: 100 },
        });
        const injected = new Map<string, number>();
        for (const j of injections) {
          const origin = `p${j.origin % (n + 1)}`;
          const id = `${origin}/${j.msgId}/${bytes(j.content).join(",")}`;
          injected.set(id, (injected.get(id) ?? 0) + 1);
          r.inject(j.to % n, j.at, origin, j.msgId, bytes(j.content));
        }
        r.run(200_000);
        equal(r.pending(), 0, "the storm died out");
        // Copies never make a peer show a message twice: only the attacker's
        // own replays (after the entry left a window) can, once per replay.
        for (const shown of r.shown) {
          for (const [id, times] of shown) ok(times <= injected.get(id)!, `${id} ${times}`);
        }
      },
    ),
  );
});

Deno.test("flood: an honest room delivers every message exactly once to every peer", () => {
  const n = 8;
  const r = room(n, { delay: jitter(3, 30), chords: [[0, 4], [2, 6]] });
  for (let i = 0; i < 400; i++) {
    const sender = i % n;
    r.inject(sender, i * 2, `p${sender}`, BigInt(1000 + i), bytes(`hello ${i}`));
  }
  r.run(1_000_000);
  for (const [p, shown] of r.shown.entries()) equal(shown.size, 400, `peer ${p} saw all`);
});

// ---- my counter and the recent frames -------------------------------------

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
  recent.push(frame(11));
  equal(recent.size, 0, "a frame over maxBytes is not kept");
  equal(recent.bytes, 0);
  throws(() => new RecentFrames(-1), RangeError);
  throws(() => new RecentFrames(10, { max: 0 }), RangeError);
});

Deno.test("flood: recent frames stay within their bounds whatever is pushed", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 30 }))),
      (pushes) => {
        let now = 0;
        const recent = new RecentFrames(50, { max: 4, maxBytes: 64, now: () => now });
        for (const [size, wait] of pushes) {
          now += wait;
          recent.push(new Uint8Array(size));
          ok(recent.size <= 4 && recent.bytes <= 64);
          equal(recent.frames().reduce((sum, f) => sum + f.length, 0), recent.bytes);
        }
      },
    ),
  );
});

Deno.test("flood: a burst five times the window under one member's origin dies out", () => {
  // Copies queued for up to 1.5 s a hop (a busy peer): the 3-peer ring is
  // still traversed within minAgeMs (5 s).
  const r = room(3, { delay: jitter(11, 1500) });
  for (let i = 0; i < 5 * 2048; i++) {
    r.inject(0, i / 10, "p1", BigInt(i), bytes("storm"));
    r.inject(2, i / 10, "p1", BigInt(i), bytes("storm"));
  }
  r.run(1_000_000);
  equal(r.pending(), 0, "no copy is left circulating");
  for (const shown of r.shown) for (const times of shown.values()) equal(times, 1);
});

Deno.test("flood: check answers as admit would, and stores nothing", () => {
  let now = 0;
  const seen = window({ perMember: 1, minAgeMs: 10, now: () => now });
  equal(seen.check(HID, "alice", 1n, bytes("hi")), "new");
  equal(seen.entries, 0);
  equal(seen.check("666", "x", 1n, bytes("hi")), "stranger");
  equal(seen.admit(HID, "alice", 1n, bytes("hi")), "new");
  equal(seen.check(HID, "alice", 1n, bytes("hi")), "seen");
  equal(seen.check(HID, "alice", 2n, bytes("hi")), "full");
  now = 10;
  equal(seen.check(HID, "alice", 2n, bytes("hi")), "new");
  equal(seen.check(HID, "alice", 1n, bytes("hi")), "seen", "check pushed nothing out");
  equal(seen.entries, 1);
});
