/**
 * A peer under abuse (issue 7): malformed and over-long `T` frames, links that
 * stall mid-frame, handshakes from strangers and silent connections, floods of
 * wrong-room texts, of one origin's texts, of junk datagrams and of pokes.
 * Each time the peer drops what offends (the link, the frame or the
 * datagram), reports it without flooding its user, and keeps chatting with a
 * well-behaved member both ways. The poke flood prints chat latency with and
 * without it: figures, not assertions.
 *
 * The intruder is a listed member of the room whose advertised port has no
 * listener, so the well-behaved peers never route through it.
 */

import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { encodeFrame } from "../lib/frames.ts";
import { runArgs } from "../lib/flags.ts";
import { hashId } from "../lib/sdbm.ts";
import { PEER_DEFAULTS, type PeerOptions, startPeer } from "../peer/peer.ts";
import { type RegistryHandle, startRegistry } from "../registry/registry.ts";
import { meshConnected, type Recorder, type TestPeer, testPeer } from "./support/peer_harness.ts";
import { Intruder, text } from "./support/intruder.ts";
import { FakeRegistry, RawLink } from "./support/raw_peer.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A registry, alice (the target, with `options`), bob (well-behaved) and an intruder. */
interface Room extends AsyncDisposable {
  registry: RegistryHandle;
  alice: TestPeer;
  bob: TestPeer;
  mallory: Intruder;
}

async function room(options: PeerOptions = {}): Promise<Room> {
  const registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const alice = await testPeer(registry.port, { name: "alice", room: "room1", ...options });
  const bob = await testPeer(registry.port, { name: "bob", room: "room1" });
  const mallory = new Intruder();
  const dispose = async () => {
    await mallory[Symbol.asyncDispose]();
    await alice.peer.quit();
    await bob.peer.quit();
    await registry.close();
  };
  try {
    await meshConnected([alice, bob]);
    await mallory.join(registry.port);
  } catch (error) {
    await dispose();
    throw error;
  }
  return { registry, alice, bob, mallory, [Symbol.asyncDispose]: dispose };
}

/** Alice and bob still exchange a message each way. */
async function chatsBothWays({ alice, bob }: Room, tag: string): Promise<void> {
  await alice.peer.send(`${tag}: alice to bob`);
  await bob.rec.until(() => bob.rec.texts().includes(`${tag}: alice to bob`), `${tag} at bob`);
  await bob.peer.send(`${tag}: bob to alice`);
  await alice.rec.until(
    () => alice.rec.texts().includes(`${tag}: bob to alice`),
    `${tag} at alice`,
  );
}

/** The link between alice and bob never went down. */
function bobLinkKept({ alice }: Room): void {
  const downs = alice.rec.of("link").filter((e) => e.state === "down" && e.peer.name === "bob");
  deepEqual(downs, [], "the link with bob stayed up");
}

function messagesMatching(rec: Recorder, type: "info" | "error", pattern: RegExp): string[] {
  return rec.of(type).map((e) => e.message).filter((m) => pattern.test(m));
}

Deno.test("abuse: malformed T frames drop the link and are reported; the peer chats on", async () => {
  // No frame timeout in play: every drop comes from what was read.
  await using r = await room({ frameTimeoutMs: 60_000 });
  const { alice, mallory } = r;
  const binary = new Uint8Array(300).map((_, i) => (i * 37 + 11) % 256);
  const cases: [string, string | Uint8Array, RegExp][] = [
    ["length shorter than the content", "T:room1:1:mallory:1:2:abcdef::\r\n", /does not end with/],
    ["negative length", "T:room1:1:mallory:1:-5:abc::\r\n", /msgLength "-5", not a number/],
    ["hexadecimal length", "T:room1:1:mallory:1:0x10:abc::\r\n", /msgLength "0x10", not a number/],
    ["huge length, no content", "T:room1:1:mallory:1:4294967295:", /exceeds the limit of 66560/],
    ["eleven-digit length", "T:room1:1:mallory:1:99999999999:", /not a number/],
    ["msgID not a number", "T:room1:1:mallory:one:3:abc::\r\n", /msgID "one"/],
    ["empty room", "T::1:mallory:1:3:abc::\r\n", /empty room/],
    ["binary garbage", binary, /./],
  ];
  for (const [what, bytes, why] of cases) {
    const link = await mallory.dial(alice.peer.port);
    const before = alice.rec.of("error").length;
    await link.write(bytes);
    await link.closed();
    await alice.rec.until(() => alice.rec.of("error").length > before, `the report of ${what}`);
    const report = alice.rec.of("error").at(-1)!.message;
    match(report, /^Link with mallory \(127\.0\.0\.1:\d+\) dropped: /, what);
    match(report, why, what);
  }
  equal(alice.rec.of("message").filter((e) => e.from === "mallory").length, 0);
  await chatsBothWays(r, "after malformed frames");
  bobLinkKept(r);
});

Deno.test("abuse: a link stalled mid-frame is dropped after frameTimeoutMs, an idle one is not", async () => {
  await using r = await room({ frameTimeoutMs: 300 });
  const { alice, mallory } = r;
  const whole = encoder.encode(text("room1", "mallory", "mallory", 1, "x".repeat(100)));
  const stalls: [string, (link: RawLink) => Promise<void>][] = [
    ["half a T frame", (link) => link.write(whole.subarray(0, whole.length / 2))],
    ["a msgLength longer than the content", (link) => link.write("T:room1:m:m:1:50:abc::\r\n")],
    ["a frame that trickles in a byte every 40 ms", async (link) => {
      for (let i = 0; i < whole.length && !link.eof; i++) {
        await link.write(whole.subarray(i, i + 1)).catch(() => {});
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
    }],
  ];
  for (const [what, stall] of stalls) {
    const link = await mallory.dial(alice.peer.port);
    const before = alice.rec.of("error").length;
    const started = performance.now();
    await stall(link);
    await link.closed();
    const took = performance.now() - started;
    ok(took >= 280, `${what}: not dropped before the timeout (${took.toFixed(0)} ms)`);
    await alice.rec.until(() => alice.rec.of("error").length > before, `the report of ${what}`);
    match(
      alice.rec.of("error").at(-1)!.message,
      /^Link with mallory .* dropped: .*a frame did not complete within 300 ms/,
      what,
    );
  }
  equal(alice.rec.of("message").filter((e) => e.from === "mallory").length, 0);
  // Alice and bob said nothing for far longer than 300 ms: an idle link stays.
  bobLinkKept(r);
  await chatsBothWays(r, "after stalls");
});

Deno.test("abuse: an over-long text drops the link at its header past the frame bound, else only the message", async () => {
  await using r = await room({ maxTextBytes: 1000, frameTimeoutMs: 60_000 });
  const { alice, bob, mallory } = r;
  // Declared past the frame bound (1000 + 1024): dropped at once, the content never sent.
  let link = await mallory.dial(alice.peer.port);
  await link.write("T:room1:mallory:mallory:1:5000:");
  await link.closed();
  await alice.rec.until(() => alice.rec.of("error").length > 0, "the report");
  match(alice.rec.of("error").at(-1)!.message, /dropped: .*exceeds the limit of 2024/);
  // Within the frame bound but over the text limit: the message goes, the link stays.
  link = await mallory.dial(alice.peer.port);
  await link.write(text("room1", "mallory", "mallory", 2, "x".repeat(1001)));
  await link.write(text("room1", "mallory", "mallory", 3, "y".repeat(1000)));
  await alice.rec.until(() => alice.rec.texts().includes("y".repeat(1000)), "the 1000-byte text");
  deepEqual(messagesMatching(alice.rec, "error", /1001 bytes/), [
    'Dropped a message of 1001 bytes from "mallory", over the limit of 1000 on the link with mallory',
  ]);
  ok(!link.eof, "the link stays");
  await bob.rec.until(() => bob.rec.texts().includes("y".repeat(1000)), "forwarded to bob");
  equal(bob.rec.texts().some((t) => t.length === 1001), false);
  // Alice sends no more than she accepts.
  await rejects(alice.peer.send("z".repeat(1001)), {
    name: "PeerError",
    code: "text-too-long",
    message: /Message is 1001 bytes, the limit is 1000/,
  });
  await chatsBothWays(r, "after long texts");
  bobLinkKept(r);
});

Deno.test("abuse: handshakes from strangers are refused without a reply, at a bounded cost in registry lookups", async () => {
  const fake = new FakeRegistry();
  try {
    const { peer, rec } = await testPeer(fake.port, {
      advertise: "127.0.0.1",
      refreshIntervalMs: 50,
    });
    try {
      peer.user("alice");
      fake.members = `alice:127.0.0.1:${peer.port}`;
      await peer.join("room1");
      const stranger = async (i: number, room = "room1") => {
        const link = await RawLink.connect(peer.port);
        try {
          await link.write(`P:${room}:stranger${i}:127.0.0.1:${40_000 + i}:0::\r\n`);
          await link.closed();
          deepEqual(link.frames, [], "no reply at all");
        } finally {
          await link.close();
        }
      };
      // One after another: each needs a lookup, and they come at most every 50 ms.
      const joins = fake.joins;
      const started = performance.now();
      for (let i = 0; i < 10; i++) await stranger(i);
      const elapsed = performance.now() - started;
      const lookups = fake.joins - joins;
      ok(lookups >= 1, "strangers are looked up");
      ok(
        lookups <= 2 + elapsed / 50,
        `${lookups} lookups in ${elapsed.toFixed(0)} ms: at most one per 50 ms`,
      );
      // Thirty at once (and ten for another room, which need no lookup) share them.
      const before = fake.joins;
      const burstStarted = performance.now();
      await Promise.all([
        ...Array.from({ length: 30 }, (_, i) => stranger(100 + i)),
        ...Array.from({ length: 10 }, (_, i) => stranger(200 + i, "room2")),
      ]);
      const burstMs = performance.now() - burstStarted;
      ok(
        fake.joins - before <= 2 + burstMs / 50,
        `${fake.joins - before} lookups for 30 strangers at once, in ${burstMs.toFixed(0)} ms`,
      );
      // Fifty refusals, reported a few times.
      const reports = messagesMatching(rec, "info", /^Refused a link from stranger/);
      ok(reports.length >= 1 && reports.length <= 4, `${reports.length} reports`);
      // A member that joined meanwhile is still let in.
      fake.members = `carol:127.0.0.1:40999:alice:127.0.0.1:${peer.port}`;
      const carol = await RawLink.connect(peer.port);
      try {
        await carol.write("P:room1:carol:127.0.0.1:40999:0::\r\n");
        await carol.until(() => carol.frames.length > 0, "S");
        match(carol.frames[0]!, /^S:\d+::\r\n$/);
      } finally {
        await carol.close();
      }
    } finally {
      await peer.quit();
    }
  } finally {
    await fake.close();
  }
});

Deno.test("abuse: silent connections are closed after handshakeTimeoutMs, those past maxHandshakes at once", async () => {
  await using r = await room({ handshakeTimeoutMs: 300, maxHandshakes: 4 });
  const { alice, mallory } = r;
  // Garbage instead of a handshake: refused and reported.
  const garbage = await RawLink.connect(alice.peer.port);
  await garbage.write("GET / HTTP/1.1\r\n\r\n");
  await garbage.closed();
  await garbage.close();
  await alice.rec.until(
    () =>
      messagesMatching(alice.rec, "info", /^Refused a connection from 127\.0\.0\.1:\d+: ROOMS/)
        .length > 0,
    "the garbage report",
  );
  // Silent ones wait out the handshake timeout; past four at once, they are closed at once.
  const closedAt = new Map<RawLink, number>();
  const watch = (link: RawLink) =>
    link.closed(5000).then(() => closedAt.set(link, performance.now()));
  const silent = await Promise.all(
    Array.from({ length: 4 }, () => RawLink.connect(alice.peer.port)),
  );
  const extra = await Promise.all(
    Array.from({ length: 3 }, () => RawLink.connect(alice.peer.port)),
  );
  try {
    await Promise.all([...silent, ...extra].map(watch));
    const lastExtra = Math.max(...extra.map((l) => closedAt.get(l)!));
    const firstSilent = Math.min(...silent.map((l) => closedAt.get(l)!));
    ok(lastExtra < firstSilent, "past the limit: closed at once, not after the timeout");
    for (const link of [...silent, ...extra]) deepEqual(link.frames, []);
  } finally {
    await Promise.all([...silent, ...extra].map((l) => l.close()));
  }
  await alice.rec.until(
    () => messagesMatching(alice.rec, "info", /Handshake timed out/).length > 0,
    "the timeout report",
  );
  ok(messagesMatching(alice.rec, "info", /4 handshakes are already pending/).length >= 1);
  ok(
    messagesMatching(alice.rec, "info", /^Refused a connection/).length <= 6,
    "reported a few times",
  );
  // The slots are free again: a member links.
  await mallory.dial(alice.peer.port);
  await alice.rec.waitFor(
    (e) => e.type === "link" && e.state === "up" && e.peer.name === "mallory",
    "mallory's link",
  );
  await chatsBothWays(r, "after silent connections");
  bobLinkKept(r);
});

Deno.test("abuse: a flood of texts for another room is dropped, reported a few times, and the link stays", async () => {
  await using r = await room();
  const { alice, mallory } = r;
  const link = await mallory.dial(alice.peer.port);
  let flood = "";
  for (let i = 1; i <= 1000; i++) flood += text("room2", "mallory", "mallory", i, `wrong ${i}`);
  await link.write(flood + text("room1", "mallory", "mallory", 1001, "right room"));
  await alice.rec.until(() => alice.rec.texts().includes("right room"), "the right-room text");
  const reports = messagesMatching(alice.rec, "error", /for room room2 from mallory/);
  ok(reports.length >= 1 && reports.length <= 3, `${reports.length} reports for 1000 frames`);
  ok(!link.eof, "the link stays");
  await chatsBothWays(r, "after the wrong-room flood");
  bobLinkKept(r);
});

Deno.test("abuse: texts past an origin's rate are dropped, not forwarded, and reported once per burst", async () => {
  await using r = await room({ maxTextRate: 100, textBurst: 20 });
  const { alice, bob, mallory, registry } = r;
  // Another member (a listed origin that is neither alice nor bob) whose texts mallory relays.
  await using carol = new Intruder("carol");
  await carol.join(registry.port);
  const relayed = hashId("carol", "127.0.0.1", carol.port).toString();
  const link = await mallory.dial(alice.peer.port);
  // 300 at once from mallory, with 10 from another origin mixed in.
  let flood = "";
  for (let i = 1; i <= 300; i++) {
    flood += text("room1", "mallory", "mallory", i, `flood ${i}`);
    if (i % 30 === 0) flood += text("room1", relayed, "carol", i, `other origin ${i}`);
  }
  const started = performance.now();
  await link.write(flood + text("room1", relayed, "carol", 1000, "barrier"));
  await alice.rec.until(() => alice.rec.texts().includes("barrier"), "the barrier");
  const elapsed = (performance.now() - started) / 1000;
  const fromMallory = () => alice.rec.texts().filter((t) => t.startsWith("flood "));
  const delivered = fromMallory();
  ok(delivered.length >= 20, `the burst gets through (${delivered.length})`);
  ok(
    delivered.length <= 20 + 100 * elapsed + 2,
    `${delivered.length} delivered in ${(elapsed * 1000).toFixed(0)} ms: within burst and rate`,
  );
  equal(alice.rec.texts().filter((t) => t.startsWith("other origin")).length, 10);
  deepEqual(messagesMatching(alice.rec, "error", /^Dropping messages/), [
    "Dropping messages from mallory (originHID mallory): more than 100 per second (burst 20); " +
    "they are neither shown nor forwarded",
  ]);
  // Bob got exactly what alice accepted: the rest went nowhere.
  await bob.rec.until(() => bob.rec.texts().includes("barrier"), "the barrier at bob");
  deepEqual(bob.rec.texts().filter((t) => t.startsWith("flood ")), delivered);
  ok(!link.eof, "the link stays");
  // Quiet long enough to refill the bucket (20 / 100 per second): the burst is over.
  let id = 2000;
  for (let tries = 0; tries < 40; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const probe = `probe ${id}`;
    await link.write(text("room1", "mallory", "mallory", id++, probe));
    await alice.rec.until(() => alice.rec.texts().includes(probe), probe);
    if (messagesMatching(alice.rec, "info", /^Dropped \d+ messages from mallory/).length > 0) break;
  }
  deepEqual(messagesMatching(alice.rec, "info", /^Dropped \d+ messages/), [
    `Dropped ${
      300 - delivered.length
    } messages from mallory (originHID mallory) over the rate limit; accepting them again`,
  ]);
  await chatsBothWays(r, "after the text flood");
  bobLinkKept(r);
});

/**
 * Pokes `name` until it is acknowledged (at most `attempts` times): a flood can
 * fill the target's socket buffer, and then the kernel drops any datagram.
 */
async function pokeUntilAcked(from: TestPeer, name: string, attempts = 10): Promise<number> {
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const mark = from.rec.events.length;
    // A poke lost in the flood times out (and says so with "poke-timeout").
    await from.peer.poke(name).catch((error) => {
      if (error?.code !== "poke-timeout") throw error;
    });
    if (from.rec.events.slice(mark).some((e) => e.type === "poke-ack" && e.to === name)) {
      return attempt;
    }
  }
  throw new Error(`${name} never acknowledged a poke in ${attempts} attempts`);
}

/** A UDP socket that counts the datagrams it receives until closed. */
class Counter {
  readonly socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  received = 0;
  readonly #loop = (async () => {
    for (;;) {
      try {
        await this.socket.receive();
      } catch {
        return;
      }
      this.received++;
    }
  })();

  async close(): Promise<void> {
    this.socket.close();
    await this.#loop;
  }
}

Deno.test("abuse: thousands of junk datagrams are ignored and reported a few times; pokes and chat go on", async () => {
  await using r = await room();
  const { alice, bob } = r;
  const junk = [
    "",
    "K",
    "K:room1::\r\n",
    "A:x::\r\n",
    "A::\r\n",
    "T:room1:1:x:1:3:abc::\r\n",
    "\xff\xfe\x00",
    "J:room1:x:127.0.0.1:1::\r\n",
  ].map((s) => encoder.encode(s));
  const prober = new Counter();
  try {
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port: alice.peer.port };
    for (let i = 0; i < 3000; i++) await prober.socket.send(junk[i % junk.length]!, to);
    await prober.socket.send(new Uint8Array(4000).fill(0x4b), to);
    // Bob's poke is read after all of that.
    await pokeUntilAcked(bob, "alice");
    ok(alice.rec.of("poke").every((e) => e.from === "bob"), "only bob's pokes are shown");
    equal(prober.received, 0, "junk is never answered");
    const reports = messagesMatching(
      alice.rec,
      "info",
      /^Ignored a datagram from 127\.0\.0\.1:\d+: /,
    );
    ok(reports.length >= 1 && reports.length <= 4, `${reports.length} reports`);
    equal(alice.rec.of("error").length, 0);
  } finally {
    await prober.close();
  }
  await chatsBothWays(r, "after junk datagrams");
});

Deno.test("abuse: a poke flood from many addresses is answered at the limits, and members are still answered", async () => {
  await using r = await room({ maxPokeRate: 20, pokeBurst: 10, maxStrangerPokeRate: 20 });
  const { alice, bob } = r;
  const strangers = Array.from({ length: 8 }, () => new Counter());
  try {
    const poke = encodeFrame({ type: "K", room: "room1", name: "stranger" });
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port: alice.peer.port };
    const started = performance.now();
    for (let i = 0; i < 400; i++) {
      await Promise.all(strangers.map((s) => s.socket.send(poke, to)));
    }
    // The strangers' cap is spent; bob is a member (by address) and skips it.
    await pokeUntilAcked(bob, "alice");
    ok(alice.rec.of("poke").some((e) => e.from === "bob"));
    // Alice's own pokes are unaffected.
    await pokeUntilAcked(alice, "bob");
    const elapsed = (performance.now() - started) / 1000;
    const acks = strangers.reduce((sum, s) => sum + s.received, 0);
    const shown = alice.rec.of("poke").filter((e) => e.from === "stranger").length;
    const bound = 40 + 20 * elapsed + 2;
    console.log(
      `poke flood: 3200 pokes from 8 addresses in ${(elapsed * 1000).toFixed(0)} ms, ` +
        `${acks} answered (bound ${bound.toFixed(0)}), ${shown} shown`,
    );
    ok(acks >= 10, `some answered (${acks})`);
    ok(acks <= bound, `${acks} ACKs: within the strangers' cap of ${bound.toFixed(0)}`);
    ok(shown <= bound, `${shown} shown`);
    ok(messagesMatching(alice.rec, "info", /^Ignoring pokes/).length >= 1, "reported");
    ok(messagesMatching(alice.rec, "info", /pokes/i).length <= 6, "a few times");
  } finally {
    await Promise.all(strangers.map((s) => s.close()));
  }
  await chatsBothWays(r, "after the poke flood");
});

/** Floods UDP `port` with `K` from one address for `ms` (at most `count`), then prints `{ sent, acks }`. */
const FLOODER = `
const [port, count, ms] = Deno.args.map(Number);
const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
let acks = 0;
const receiving = (async () => {
  for (;;) {
    try { await socket.receive(); } catch { return; }
    acks++;
  }
})();
const poke = new TextEncoder().encode("K:room1:flooder::\\r\\n");
const to = { transport: "udp", hostname: "127.0.0.1", port };
const end = performance.now() + ms;
let sent = 0;
while (sent < count && performance.now() < end) {
  await socket.send(poke, to);
  sent++;
}
await new Promise((resolve) => setTimeout(resolve, 100));
socket.close();
await receiving;
console.log(JSON.stringify({ sent, acks }));
`;

function summary(ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `median ${at(0.5).toFixed(2)} ms, p95 ${at(0.95).toFixed(2)} ms, max ${
    sorted.at(-1)!.toFixed(2)
  } ms`;
}

async function latencies(from: TestPeer, to: TestPeer, tag: string, count: number) {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const body = `${tag} #${i}`;
    const mark = to.rec.events.length;
    const started = performance.now();
    await from.peer.send(body);
    await to.rec.waitFor((e) => e.type === "message" && e.text === body, body, { from: mark });
    out.push(performance.now() - started);
  }
  return out;
}

Deno.test("abuse: a poke flood does not delay chat (figures), and its ACKs stay within the limit", async () => {
  // Default limits: what a user gets.
  await using r = await room();
  const { alice, bob } = r;
  const quiet = await latencies(alice, bob, "quiet", 40);
  const floodMs = 3000;
  const flooder = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--unstable-net", FLOODER, String(bob.peer.port), "1000000", String(floodMs)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let flooding = true;
  const output = flooder.output().finally(() => flooding = false);
  try {
    await bob.rec.waitFor(
      (e) => e.type === "poke" && e.from === "flooder",
      "the flood to begin",
      { timeoutMs: 10_000 },
    );
    const started = performance.now();
    const during = await latencies(alice, bob, "flooded", 40);
    const measuredMs = performance.now() - started;
    const measuredWhileFlooding = flooding;
    // Members' pokes still get their ACK from the flooded peer (the kernel may
    // drop a datagram into its full socket buffer: then it takes another).
    const attempts = await pokeUntilAcked(alice, "bob");
    const { stdout, stderr, success } = await output;
    ok(success, decoder.decode(stderr));
    const { sent, acks } = JSON.parse(decoder.decode(stdout)) as { sent: number; acks: number };
    const shown = bob.rec.of("poke").filter((e) => e.from === "flooder").length;
    const bound = PEER_DEFAULTS.pokeBurst + PEER_DEFAULTS.maxPokeRate * (floodMs / 1000) + 5;
    console.log(
      `chat latency alice → bob, 40 messages each:\n` +
        `  without flood: ${summary(quiet)}\n` +
        `  during flood:  ${summary(during)} (${
          measuredWhileFlooding ? "all" : "not all"
        } while the flood ran, in ${measuredMs.toFixed(0)} ms)\n` +
        `poke flood: ${sent} K datagrams from one address in ${floodMs} ms ` +
        `(${
          Math.round(sent / (floodMs / 1000))
        }/s), ${acks} ACKs, ${shown} shown (bound ${bound}); ` +
        `alice's poke to bob acknowledged at attempt ${attempts}`,
    );
    equal(during.length, 40, "every message delivered during the flood");
    ok(sent > 1000, `a flood (${sent} datagrams)`);
    ok(acks <= bound, `${acks} ACKs for ${sent} pokes: within the per-address limit`);
    ok(shown <= bound, `${shown} pokes shown`);
  } finally {
    if (flooding) {
      try {
        flooder.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await output.catch(() => {});
    }
  }
  await chatsBothWays(r, "after the poke flood");
});

Deno.test("abuse: every limit is an option, checked when the peer starts", async () => {
  for (
    const options of [
      { maxTextBytes: 0 },
      { frameTimeoutMs: -1 },
      { maxHandshakes: 1.5 },
      { maxQueuedBytes: 0 },
      { maxRegistryFrameBytes: 0 },
      { refreshIntervalMs: 0 },
      { maxTextRate: 0 },
      { textBurst: 0 },
      { maxLinkTextRate: 0 },
      { linkTextBurst: 0 },
      { maxPokeRate: -1 },
      { pokeBurst: 0 },
      { maxStrangerPokeRate: 0 },
    ] as PeerOptions[]
  ) {
    await rejects(startPeer({ hostname: "127.0.0.1", ...options }), RangeError);
  }
  // Infinity turns a rate limit off.
  const peer = await startPeer({
    hostname: "127.0.0.1",
    maxTextRate: Infinity,
    maxLinkTextRate: Infinity,
    maxPokeRate: Infinity,
    maxStrangerPokeRate: Infinity,
  });
  await peer.quit();
});

Deno.test("abuse: every limit has a flag and a row in docs/peer_limits.md with its default", async () => {
  const doc = await Deno.readTextFile(new URL("../docs/peer_limits.md", import.meta.url));
  const help = await new Deno.Command(Deno.execPath(), {
    args: runArgs("peer", ["--help"]),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const helpText = decoder.decode(help.stdout).replace(/\s+/g, " ");
  for (const [key, value] of Object.entries(PEER_DEFAULTS)) {
    const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    const row = doc.split("\n").find((line) => line.includes(`\`${key}\``));
    ok(row !== undefined, `docs/peer_limits.md has a row for ${key}`);
    ok(row.includes(`\`${flag}\``), `its row names ${flag}`);
    ok(row.includes(String(value)), `its row gives the default ${value}`);
    ok(helpText.includes(`${flag} `), `peer --help lists ${flag}`);
  }
  const bad = await new Deno.Command(Deno.execPath(), {
    args: runArgs("peer", ["--max-text-rate", "-1"]),
    stdout: "piped",
    stderr: "piped",
  }).output();
  equal(bad.code, 2);
});
