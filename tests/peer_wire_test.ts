import { deepEqual, equal, match, ok } from "node:assert/strict";
import { hashId } from "../lib/sdbm.ts";
import type { PeerEvent } from "../peer/events.ts";
import { startRegistry } from "../registry/registry.ts";
import { meshConnected, testPeer } from "./support/peer_harness.ts";
import { FakeRegistry, RawLink, RawPeer } from "./support/raw_peer.ts";
import { RawClient } from "./support/raw_client.ts";

const encoder = new TextEncoder();

type MessageEvent = Extract<PeerEvent, { type: "message" }>;

function registry() {
  return startRegistry({ hostname: "127.0.0.1", port: 0 });
}

/** A `T` frame as a seed-style client writes it (msgLength in bytes). */
function text(room: string, hid: string, name: string, id: number, content: string): string {
  return `T:${room}:${hid}:${name}:${id}:${encoder.encode(content).length}:${content}::\r\n`;
}

/**
 * A registry, our peer alice in room1, and a raw peer `name` joined to room1
 * too; disposing it closes the raw peer, quits alice and closes the registry.
 */
async function aliceAndRaw(name: string) {
  const reg = await registry();
  const { peer, rec } = await testPeer(reg.port, { name: "alice", room: "room1" });
  const raw = new RawPeer(name, "room1", "127.0.0.1");
  const dispose = async () => {
    await raw.close();
    await peer.quit();
    await reg.close();
  };
  try {
    await raw.join(reg.port);
  } catch (error) {
    await dispose();
    throw error;
  }
  return { peer, rec, raw, [Symbol.asyncDispose]: dispose };
}

Deno.test("handshake: a non-member is closed without a reply, after a re-JOIN to check", async () => {
  const fake = new FakeRegistry();
  try {
    const { peer, rec } = await testPeer(fake.port, { advertise: "127.0.0.1" });
    try {
      peer.user("alice");
      fake.members = `alice:127.0.0.1:${peer.port}`;
      await peer.join("room1");
      equal(fake.joins, 1);
      const link = await RawLink.connect(peer.port);
      try {
        await link.write("P:room1:mallory:127.0.0.1:1234:0::\r\n");
        await link.closed();
        deepEqual(link.frames, [], "no reply at all");
        equal(fake.joins, 2, "one re-JOIN to refresh the list before refusing");
        const info = rec.of("info").at(-1)!;
        match(info.message, /Refused a link from mallory .*not a member/);
        equal(rec.of("link").length, 0);
      } finally {
        await link.close();
      }
    } finally {
      await peer.quit();
    }
  } finally {
    await fake.close();
  }
});

Deno.test("handshake: a member the peer did not know yet is accepted after the re-JOIN", async () => {
  const fake = new FakeRegistry();
  try {
    const { peer, rec } = await testPeer(fake.port, { advertise: "127.0.0.1" });
    try {
      peer.user("alice");
      fake.members = `alice:127.0.0.1:${peer.port}`;
      await peer.join("room1");
      // Bob joins after alice's JOIN was answered: alice's list lacks him.
      fake.members = `bob:127.0.0.1:40002:alice:127.0.0.1:${peer.port}`;
      const link = await RawLink.connect(peer.port);
      try {
        await link.write("P:room1:bob:127.0.0.1:40002:0::\r\n");
        await link.until(() => link.frames.length > 0, "S");
        match(link.frames[0]!, /^S:\d+::\r\n$/);
        equal(fake.joins, 2);
        const up = rec.of("link").at(-1)!;
        deepEqual(up, {
          type: "link",
          direction: "backward",
          state: "up",
          peer: { name: "bob", ip: "127.0.0.1", port: 40002 },
        });
        deepEqual(rec.of("members").at(-1)!.members.map((m) => m.name), ["bob", "alice"]);
        equal(peer.state, "CONNECTED");
      } finally {
        await link.close();
      }
    } finally {
      await peer.quit();
    }
  } finally {
    await fake.close();
  }
});

Deno.test("handshake: a wrong room is refused and a listed member saying 'localhost' is accepted", async () => {
  await using reg = await registry();
  const { peer, rec } = await testPeer(reg.port, { name: "alice", room: "room1" });
  await using bob = await RawClient.connect(reg.port);
  await bob.write("J:room1:bob:127.0.0.1:40002::\r\n");
  await bob.frame();
  try {
    const wrong = await RawLink.connect(peer.port);
    await wrong.write("P:room2:bob:127.0.0.1:40002:0::\r\n");
    await wrong.closed();
    deepEqual(wrong.frames, []);
    await wrong.close();
    match(rec.of("info").at(-1)!.message, /wrong room room2/);
    // Listed as 127.0.0.1, handshakes as localhost (PROTOCOL.md §8).
    const liberal = await RawLink.connect(peer.port);
    await liberal.write("P:room1:bob:localhost:40002:0::\r\n");
    await liberal.until(() => liberal.frames.length > 0, "S");
    match(liberal.frames[0]!, /^S:\d+::\r\n$/);
    await liberal.close();
  } finally {
    await peer.quit();
  }
});

Deno.test("link: garbage drops the link and reports it; the peer carries on", async () => {
  await using setup = await aliceAndRaw("mallory");
  const { peer, rec, raw: mallory } = setup;
  for (
    const garbage of [
      "hello, is this HTTP?\r\n",
      "T:room1:1:x:1:notanumber:abc::\r\n",
      "T:room1:1:x:1:3:abcXXXX\r\n",
      "Z".repeat(70_000),
    ]
  ) {
    const link = await mallory.dial(peer.port);
    const before = rec.of("error").length;
    await link.write(garbage);
    await link.closed();
    await rec.until(() => rec.of("error").length > before, "the report");
    match(rec.of("error").at(-1)!.message, /^Link with mallory .* dropped: /);
    await link.close();
  }
  // Still serving: a fresh link works and a message gets through.
  const link = await mallory.dial(peer.port);
  await link.write(text("room1", "mallory", "mallory", 1, "still alive"));
  await rec.waitFor((e) => e.type === "message" && e.text === "still alive", "the message");
});

Deno.test("link: a T for another room is dropped and reported, and the link stays", async () => {
  await using setup = await aliceAndRaw("eve");
  const { peer, rec, raw: eve } = setup;
  const link = await eve.dial(peer.port);
  await link.write(text("room2", "eve", "eve", 1, "wrong room"));
  await link.write(text("room1", "eve", "eve", 2, "right room"));
  await rec.waitFor((e) => e.type === "message", "the right-room message");
  deepEqual(rec.texts(), ["right room"]);
  match(rec.of("error")[0]!.message, /Dropped a message for room room2 from eve/);
  ok(!link.eof);
});

Deno.test("link: frames split byte by byte, and several in one write, are all read", async () => {
  await using setup = await aliceAndRaw("dan");
  const { peer, rec, raw: dan } = setup;
  const link = await dan.dial(peer.port);
  const first = encoder.encode(text("room1", "dan", "dan", 1, "split::\r\n:in bytes"));
  for (let i = 0; i < first.length; i++) await link.write(first.subarray(i, i + 1));
  await link.write(
    text("room1", "dan", "dan", 2, "two") + text("room1", "dan", "dan", 3, "in one"),
  );
  await rec.until(() => rec.texts().length === 3, "three messages");
  deepEqual(rec.texts(), ["split::\r\n:in bytes", "two", "in one"]);
});

Deno.test("interop: a seed-style raw client (name as originHID, msgIDs by 2, 'localhost') chats with our peers", async () => {
  await using reg = await registry();
  const peers = [];
  for (const name of ["alice", "bob", "carol"]) {
    peers.push(await testPeer(reg.port, { name, room: "room1" }));
  }
  const seedy = new RawPeer("seedy", "room1", "localhost");
  try {
    await meshConnected(peers);
    const [alice, bob] = peers as [typeof peers[0], typeof peers[0]];
    match(await seedy.join(reg.port), /^M:\d+:seedy:localhost:\d+:/);
    // Alice did not know seedy yet: she re-JOINs, then accepts.
    const toAlice = await seedy.dial(alice.peer.port);
    // Name in the originHID field, msgID counting by 2.
    seedy.lastMsgId = 2;
    await toAlice.write(text("room1", "seedy", "seedy", 2, "hi: from::\r\nseedy"));
    seedy.lastMsgId = 4;
    await toAlice.write(text("room1", "seedy", "seedy", 4, "second"));
    // A copy of the first, as if back over another path.
    await toAlice.write(text("room1", "seedy", "seedy", 2, "hi: from::\r\nseedy"));
    for (const p of peers) {
      await p.rec.until(() => p.rec.texts().includes("second"), "seedy's messages");
    }
    // Our peers' messages reach seedy, byte for byte.
    await bob.peer.send("to seedy: a::\r\nb");
    const hid = hashId("bob", "127.0.0.1", bob.peer.port).toString();
    const expected = new RegExp(`^T:room1:${hid}:bob:\\d+:16:to seedy: a::\\r\\nb::\\r\\n$`);
    await toAlice.until(
      () => toAlice.frames.some((f) => expected.test(f)),
      "bob's message at seedy",
    );
    // A barrier from carol, then: every message exactly once at every peer.
    await peers[2]!.peer.send("barrier");
    for (const p of peers) {
      await p.rec.until(() => p.rec.texts().includes("barrier"), "the barrier");
      const fromSeedy = p.rec.of("message").filter((e) => e.from === "seedy");
      deepEqual(
        fromSeedy.map((e: MessageEvent) => [e.text, e.originHid, e.msgId]),
        [["hi: from::\r\nseedy", "seedy", "2"], ["second", "seedy", "4"]],
      );
      equal(p.rec.texts().filter((t) => t === "to seedy: a::\r\nb").length, 1);
    }
    for (const p of peers) equal(p.rec.of("error").length, 0);
  } finally {
    await seedy.close();
    for (const p of peers) await p.peer.quit();
  }
});

Deno.test("interop: a seed-style client restarted with msgIDs from 1 is delivered again", async () => {
  await using reg = await registry();
  const { peer, rec } = await testPeer(reg.port, { name: "alice", room: "room1" });
  let seedy = new RawPeer("seedy", "room1", "127.0.0.1");
  try {
    await seedy.join(reg.port);
    let link = await seedy.dial(peer.port);
    seedy.lastMsgId = 1;
    await link.write(text("room1", "seedy", "seedy", 1, "hello"));
    await rec.until(() => rec.texts().length === 1, "the first hello");
    // A relink (handshake again, msgID 1) is no restart: a copy is still dropped.
    await link.close();
    link = await seedy.dial(peer.port);
    await link.write(text("room1", "seedy", "seedy", 1, "hello"));
    await seedy.close();
    await rec.waitFor(
      (e) => e.type === "link" && e.state === "down" && e.peer.name === "seedy",
      "seedy gone",
      { from: rec.events.findLastIndex((e) => e.type === "link" && e.state === "up") },
    );
    equal(rec.texts().length, 1);
    // Restarted, msgIDs from 1 again: it handshakes with msgID 0, lower than
    // before, so what it sent before is forgotten and the same text gets through.
    seedy = new RawPeer("seedy", "room1", "127.0.0.1");
    await seedy.join(reg.port);
    link = await seedy.dial(peer.port);
    seedy.lastMsgId = 1;
    await link.write(text("room1", "seedy", "seedy", 1, "hello"));
    await rec.until(() => rec.texts().length === 2, "the second hello");
    deepEqual(rec.texts(), ["hello", "hello"]);
  } finally {
    await seedy.close();
    await peer.quit();
  }
});

Deno.test("link: a linked member that stops renewing is cut off once it has expired", async () => {
  await using reg = await startRegistry({
    hostname: "127.0.0.1",
    port: 0,
    expiryMs: 100,
    sweepMs: 20,
  });
  const { peer, rec } = await testPeer(reg.port, { name: "alice", room: "room1", keepaliveMs: 40 });
  // Hung: it joined once and linked, then never renews, yet its socket stays open.
  const hung = new RawPeer("hung", "room1", "127.0.0.1");
  try {
    await hung.join(reg.port);
    const link = await hung.dial(peer.port);
    await rec.waitFor((e) => e.type === "link" && e.state === "up", "the link");
    await link.closed();
    const info = rec.of("info").find((e) => /Closing the link with hung/.test(e.message));
    ok(info, "reported");
    match(info.message, /no longer a member of room room1/);
    await rec.waitFor(
      (e) => e.type === "link" && e.state === "down" && e.peer.name === "hung",
      "link down",
    );
    equal(peer.state, "JOINED");
  } finally {
    await hung.close();
    await peer.quit();
  }
});

Deno.test("link: a new link is sent what was flooded in the last moments", async () => {
  await using reg = await registry();
  const a = await testPeer(reg.port, { name: "alice", room: "room1" });
  const b = await testPeer(reg.port, { name: "bob", room: "room1" });
  const late = new RawPeer("late", "room1", "127.0.0.1");
  try {
    await meshConnected([a, b]);
    await b.peer.send("just before: a::\r\n");
    await a.rec.until(() => a.rec.texts().includes("just before: a::\r\n"), "alice has it");
    // A member that links to alice right after still gets it, once per link.
    await late.join(reg.port);
    const link = await late.dial(a.peer.port);
    await link.until(
      () =>
        link.frames.some((f) => f.startsWith("T:") && f.endsWith(":just before: a::\r\n::\r\n")),
      "the recent message",
    );
    // Sending it again is harmless: nobody delivers it twice.
    await b.peer.send("barrier");
    await a.rec.until(() => a.rec.texts().includes("barrier"), "barrier");
    equal(a.rec.texts().filter((t) => t === "just before: a::\r\n").length, 1);
    equal(b.rec.texts().filter((t) => t === "just before: a::\r\n").length, 1);
  } finally {
    await late.close();
    await a.peer.quit();
    await b.peer.quit();
  }
});

Deno.test("link: frames followed by garbage in one write are delivered, then the link is dropped", async () => {
  await using setup = await aliceAndRaw("mallory");
  const { peer, rec, raw: mallory } = setup;
  const link = await mallory.dial(peer.port);
  await link.write(text("room1", "mallory", "mallory", 1, "good") + "T:room1:x:y:1:zz:bad::\r\n");
  await link.closed();
  deepEqual(rec.texts(), ["good"]);
  await rec.waitFor((e) => e.type === "error", "the report");
  match(rec.of("error")[0]!.message, /^Link with mallory .* dropped: /);
});
