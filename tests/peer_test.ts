import { deepEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { encodeFrame } from "../lib/frames.ts";
import type { PeerEvent } from "../peer/events.ts";
import { PeerError, type PeerErrorCode } from "../peer/errors.ts";
import { startPeer } from "../peer/peer.ts";
import { startRegistry } from "../registry/registry.ts";
import { testPeer } from "./support/peer_harness.ts";
import { RawClient } from "./support/raw_client.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function registry(options: { expiryMs?: number; sweepMs?: number } = {}) {
  return startRegistry({ hostname: "127.0.0.1", port: 0, ...options });
}

/** Asserts that a command fails with a PeerError of `code` whose message matches. */
async function fails(
  command: () => unknown,
  code: PeerErrorCode,
  message: RegExp,
): Promise<PeerError> {
  let error: unknown;
  try {
    await command();
  } catch (e) {
    error = e;
  }
  ok(error instanceof PeerError, `a PeerError, got ${error}`);
  equal(error.code, code, error.message);
  match(error.message, message);
  match(error.message, /^[A-Z].*[^.]$/);
  return error;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every few ms until it holds (for state with no event, like the registry's). */
async function poll(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await delay(5);
  }
}

Deno.test("peer: ready is the first event and carries the one port bound for TCP and UDP", async () => {
  await using reg = await registry();
  const { peer, rec } = await testPeer(reg.port);
  try {
    deepEqual(rec.events[0], { type: "ready", port: peer.port });
    ok(peer.port > 0);
    equal(peer.state, "START");
    // Both protocols are taken on that port.
    throws(() => Deno.listen({ hostname: "127.0.0.1", port: peer.port }).close());
    throws(() =>
      Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: peer.port }).close()
    );
  } finally {
    await peer.quit();
  }
});

Deno.test("peer: a port already in use makes startPeer throw", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await rejects(startPeer({ hostname: "127.0.0.1", port: listener.addr.port }));
});

Deno.test("peer: user names must be 1-32 printable ASCII characters without ':'", async () => {
  await using reg = await registry();
  const { peer, rec } = await testPeer(reg.port);
  try {
    await fails(() => peer.user(""), "bad-name", /must not be empty/);
    await fails(() => peer.user("a:b"), "bad-name", /':'/);
    await fails(() => peer.user("x".repeat(33)), "bad-name", /at most 32/);
    await fails(() => peer.user("tab\there"), "bad-name", /printable/);
    equal(rec.of("named").length, 0);
    equal(peer.state, "START");
    peer.user("x".repeat(32));
    equal(rec.of("named").length, 1);
    equal(peer.state, "NAMED");
  } finally {
    await peer.quit();
  }
});

Deno.test("peer: renames before joining and refuses a rename after", async () => {
  await using reg = await registry();
  const { peer, rec } = await testPeer(reg.port);
  try {
    peer.user("alice");
    peer.user("alicia");
    deepEqual(rec.of("named").map((e) => e.name), ["alice", "alicia"]);
    await peer.join("room1");
    equal(peer.state, "JOINED");
    await fails(() => peer.user("carol"), "already-joined", /after joining/);
    equal(rec.of("named").length, 2);
    deepEqual(rec.of("joined")[0]!.members.map((m) => m.name), ["alicia"]);
  } finally {
    await peer.quit();
  }
});

Deno.test("peer: join needs a name, a valid room, and only one room", async () => {
  await using reg = await registry();
  const { peer, rec } = await testPeer(reg.port);
  try {
    await fails(() => peer.join("room1"), "no-name", /user name/);
    equal(peer.state, "START");
    peer.user("alice");
    await fails(() => peer.join("bad:room"), "bad-name", /Room name/);
    await peer.join("room1");
    equal(rec.of("joined").length, 1);
    await fails(() => peer.join("room2"), "already-joined", /Already joined room room1/);
    equal(rec.of("joined").length, 1);
    equal(reg.stats().rooms, 1);
  } finally {
    await peer.quit();
  }
});

Deno.test("peer: lists rooms at any time, newest first", async () => {
  await using reg = await registry();
  const a = await testPeer(reg.port);
  const b = await testPeer(reg.port, { name: "bob", room: "older" });
  try {
    await a.peer.list();
    deepEqual(a.rec.of("rooms").at(-1)!.rooms, ["older"]);
    a.peer.user("alice");
    await a.peer.join("newer");
    await a.peer.list();
    deepEqual(a.rec.of("rooms").at(-1)!.rooms, ["newer", "older"]);
  } finally {
    await a.peer.quit();
    await b.peer.quit();
  }
});

Deno.test("peer: list reports an unreachable registry as an error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const { peer, rec } = await testPeer(port);
  try {
    await fails(() => peer.list(), "registry-unreachable", /Cannot reach the registry/);
    equal(rec.of("error").length, 0);
  } finally {
    await peer.quit();
  }
});

Deno.test("peer: joining shows the members, newest first, with their HashIDs", async () => {
  await using reg = await registry();
  const a = await testPeer(reg.port, { name: "alice", room: "room1" });
  const b = await testPeer(reg.port, { name: "bob", room: "room1" });
  try {
    const joined = b.rec.of("joined")[0]!;
    equal(joined.room, "room1");
    deepEqual(joined.members.map((m) => [m.name, m.ip, m.port]), [
      ["bob", "127.0.0.1", b.peer.port],
      ["alice", "127.0.0.1", a.peer.port],
    ]);
    match(joined.members[0]!.hashId, /^\d+$/);
    // Alice learns of bob (his handshake makes her re-JOIN).
    const members = await a.rec.waitFor<Extract<PeerEvent, { type: "members" }>>(
      (e) => e.type === "members" && e.members.length === 2,
      "alice's members with bob",
    );
    deepEqual(members.members.map((m) => m.name), ["bob", "alice"]);
  } finally {
    await a.peer.quit();
    await b.peer.quit();
  }
});

Deno.test("peer: keepalive JOINs keep the membership while a silent member expires", async () => {
  await using reg = await registry({ expiryMs: 150, sweepMs: 20 });
  const observer = await testPeer(reg.port, { name: "observer", room: "r", keepaliveMs: 30 });
  const alive = await testPeer(reg.port, { name: "alive", room: "r", keepaliveMs: 30 });
  const silent = await testPeer(reg.port, { name: "silent", room: "r", keepaliveMs: 60_000 });
  try {
    const names = () => observer.rec.of("members").at(-1)?.members.map((m) => m.name) ?? [];
    await observer.rec.until(() => names().includes("silent"), "silent in the list");
    await observer.rec.until(
      () => !names().includes("silent"),
      "silent expired",
    );
    ok(names().includes("alive"));
    // Several expiry periods later, the member that renews is still listed.
    await delay(4 * 150);
    ok(names().includes("alive"), `alive still listed, got ${names()}`);
    equal(alive.peer.state, "CONNECTED");
  } finally {
    await observer.peer.quit();
    await alive.peer.quit();
    await silent.peer.quit();
  }
});

Deno.test("peer: send needs a room, non-empty text, at most 64 KiB", async () => {
  await using reg = await registry();
  const { peer, rec } = await testPeer(reg.port);
  try {
    await fails(() => peer.send("hello"), "not-joined", /Join a room/);
    peer.user("alice");
    await fails(() => peer.send("hello"), "not-joined", /Join a room/);
    await peer.join("room1");
    await fails(() => peer.send(""), "empty-text", /must not be empty/);
    await fails(() => peer.send("x".repeat(64 * 1024 + 1)), "text-too-long", /limit is 65536/);
    equal(rec.of("message").length, 0);
    // Alone in the room (JOINED, no other member): sending works.
    await peer.send("alone: but heard");
    deepEqual(rec.of("message").map((e) => [e.text, e.self, e.from]), [
      ["alone: but heard", true, "alice"],
    ]);
  } finally {
    await peer.quit();
  }
});

Deno.test("peer: send with other members but no link yet is refused", async () => {
  await using reg = await registry();
  // A member that is listed but never accepts a link.
  await using ghost = await RawClient.connect(reg.port);
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const ghostPort = closed.addr.port;
  closed.close();
  await ghost.write(`J:room1:ghost:127.0.0.1:${ghostPort}::\r\n`);
  await ghost.frame();
  const { peer, rec } = await testPeer(reg.port, {
    name: "alice",
    room: "room1",
    handshakeTimeoutMs: 300,
  });
  try {
    equal(peer.state, "JOINED");
    // It waits a handshake timeout for the repair in progress, then refuses.
    await fails(() => peer.send("anyone?"), "not-connected", /Not connected/);
    equal(rec.of("message").length, 0);
    await rec.waitFor((e) => e.type === "info" && /No forward link/.test(e.message), "retry note");
  } finally {
    await peer.quit();
  }
});

Deno.test("poke: needs a room; no name shows the members; myself or a stranger is an error", async () => {
  await using reg = await registry();
  const { peer, rec } = await testPeer(reg.port, { name: "alice" });
  try {
    await fails(() => peer.poke("bob"), "not-joined", /Join a room/);
    await peer.join("room1");
    await peer.poke();
    const members = rec.of("members").at(-1)!;
    deepEqual(members.members.map((m) => m.name), ["alice"]);
    await fails(() => peer.poke("alice"), "self-poke", /yourself/);
    await fails(() => peer.poke("stranger"), "unknown-member", /No member named stranger/);
    equal(rec.of("poke-ack").length + rec.of("poke-timeout").length, 0);
  } finally {
    await peer.quit();
  }
});

Deno.test("poke: the poked peer shows it and answers, the poker gets the ACK", async () => {
  await using reg = await registry();
  const a = await testPeer(reg.port, { name: "alice", room: "room1" });
  const b = await testPeer(reg.port, { name: "bob", room: "room1" });
  try {
    await a.rec.until(() => a.peer.state === "CONNECTED", "alice linked");
    await a.peer.poke("bob");
    deepEqual(a.rec.of("poke-ack"), [{ type: "poke-ack", to: "bob" }]);
    deepEqual(b.rec.of("poke"), [{ type: "poke", from: "alice" }]);
    await b.peer.poke("alice");
    deepEqual(b.rec.of("poke-ack"), [{ type: "poke-ack", to: "alice" }]);
  } finally {
    await a.peer.quit();
    await b.peer.quit();
  }
});

Deno.test("poke: a member that never answers is reported as a timeout", async () => {
  await using reg = await registry();
  const silent = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const port = (silent.addr as Deno.NetAddr).port;
    await using ghost = await RawClient.connect(reg.port);
    await ghost.write(`J:room1:ghost:127.0.0.1:${port}::\r\n`);
    await ghost.frame();
    const { peer, rec } = await testPeer(reg.port, { name: "alice", room: "room1" });
    try {
      const received = silent.receive();
      const started = performance.now();
      await fails(() => peer.poke("ghost"), "poke-timeout", /poke to ghost got no answer/);
      const waited = performance.now() - started;
      deepEqual(rec.of("poke-timeout"), [{ type: "poke-timeout", to: "ghost" }]);
      equal(rec.of("poke-ack").length, 0);
      ok(waited >= 250, `waited the poke timeout (300 ms), took ${waited.toFixed(0)} ms`);
      const [bytes] = await received;
      equal(decoder.decode(bytes), "K:room1:alice::\r\n");
    } finally {
      await peer.quit();
    }
  } finally {
    silent.close();
  }
});

Deno.test("poke: junk datagrams are ignored and every valid K is answered with A", async () => {
  await using reg = await registry();
  const { peer, rec } = await testPeer(reg.port, { name: "bob", room: "room1" });
  const probe = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port: peer.port };
    for (
      const junk of ["", "K", "K:room1::\r\n", "A:x::\r\n", "\xff\xfe", "T:1:2:3:4:99:x::\r\n"]
    ) {
      await probe.send(encoder.encode(junk), to);
    }
    await probe.send(new Uint8Array(1500).fill(0x4b), to);
    // A K for my room from anyone gets its A (a stranger's is shown as from its address).
    await probe.send(encodeFrame({ type: "K", room: "room1", name: "carol" }), to);
    const [reply] = await probe.receive();
    equal(decoder.decode(reply), "A::\r\n");
    await rec.waitFor((e) => e.type === "poke", "the poke");
    const from = `127.0.0.1:${(probe.addr as Deno.NetAddr).port}`;
    deepEqual(rec.of("poke"), [{ type: "poke", from, claimed: "carol" }]);
    equal(rec.of("error").length, 0);
  } finally {
    probe.close();
    await peer.quit();
  }
});

Deno.test("peer: states go START, NAMED, JOINED, CONNECTED", async () => {
  await using reg = await registry();
  const a = await testPeer(reg.port);
  try {
    equal(a.peer.state, "START");
    a.peer.user("alice");
    equal(a.peer.state, "NAMED");
    await a.peer.join("room1");
    equal(a.peer.state, "JOINED");
    const b = await testPeer(reg.port, { name: "bob", room: "room1" });
    try {
      await a.rec.until(() => a.peer.state === "CONNECTED", "alice connected");
      await b.rec.until(() => b.peer.state === "CONNECTED", "bob connected");
    } finally {
      await b.peer.quit();
    }
    await a.rec.until(() => a.peer.state === "JOINED", "alice back to JOINED");
  } finally {
    await a.peer.quit();
  }
});

Deno.test("peer: quit is idempotent, emits quit last and releases every socket", async () => {
  await using reg = await registry();
  const a = await testPeer(reg.port, { name: "alice", room: "room1" });
  const b = await testPeer(reg.port, { name: "bob", room: "room1" });
  const events = b.peer.events();
  await b.rec.until(() => b.peer.state === "CONNECTED", "bob linked");
  const port = b.peer.port;
  await Promise.all([b.peer.quit(), b.peer.quit()]);
  await b.peer.quit();
  await b.peer.closed;
  equal(b.rec.events.at(-1)!.type, "quit");
  equal(b.rec.of("quit").length, 1);
  // The async iterator saw everything up to quit, then ended.
  const seen: string[] = [];
  for await (const e of events) seen.push(e.type);
  equal(seen.at(-1), "quit");
  // The port is free again for TCP and UDP, and the registry dropped bob.
  Deno.listen({ hostname: "127.0.0.1", port }).close();
  Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port }).close();
  await a.rec.waitFor(
    (e) => e.type === "link" && e.state === "down" && e.peer.name === "bob",
    "alice sees bob's link go",
  );
  await poll(() => reg.stats().members === 1, "the registry to drop bob");
  await a.peer.quit();
  // Commands after quit are harmless: they fail with "quit" and emit nothing.
  await fails(() => b.peer.send("late"), "quit", /has quit/);
  await fails(() => b.peer.join("room2"), "quit", /has quit/);
  await fails(() => b.peer.user("bob2"), "quit", /has quit/);
  await fails(() => b.peer.list(), "quit", /has quit/);
  await fails(() => b.peer.poke("alice"), "quit", /has quit/);
  await fails(() => b.peer.who(), "quit", /has quit/);
  equal(b.peer.state, "QUIT");
  equal(b.rec.events.at(-1)!.type, "quit");
});

Deno.test("peer: start options name and join, and onEvent sees every event from ready", async () => {
  await using reg = await registry();
  const seen: PeerEvent[] = [];
  const peer = await startPeer({
    registry: { hostname: "127.0.0.1", port: reg.port },
    hostname: "127.0.0.1",
    name: "alice",
    room: "room1",
    onEvent: (e) => seen.push(e),
  });
  try {
    deepEqual(seen.map((e) => e.type), ["ready", "named", "joined"]);
    equal(peer.state, "JOINED");
  } finally {
    await peer.quit();
  }
  equal(seen.at(-1)!.type, "quit");
});

Deno.test("peer: who marks my forward and backward links; links lists them", async () => {
  await using reg = await registry();
  const a = await testPeer(reg.port, { name: "alice", room: "room1" });
  const b = await testPeer(reg.port, { name: "bob", room: "room1" });
  try {
    await a.rec.until(() => a.peer.state === "CONNECTED", "alice linked");
    await b.rec.until(() => b.peer.state === "CONNECTED", "bob linked");
    b.peer.who();
    const who = b.rec.of("members").at(-1)!;
    b.peer.links();
    const links = b.rec.of("links").at(-1)!;
    // Two members: exactly one links to the other.
    if (links.forward !== null) {
      equal(who.forward, "alice");
      deepEqual(links.forward, { name: "alice", ip: "127.0.0.1", port: a.peer.port });
      deepEqual(links.backward, []);
    } else {
      equal(who.forward, null);
      deepEqual(who.backward, ["alice"]);
      deepEqual(links.backward, [{ name: "alice", ip: "127.0.0.1", port: a.peer.port }]);
    }
  } finally {
    await a.peer.quit();
    await b.peer.quit();
  }
});
