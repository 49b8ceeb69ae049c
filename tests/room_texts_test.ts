/**
 * Long texts in a peer (issue 11, item 6; docs/extensions.md `parts`): cut
 * into parts of at most 500 content bytes for seed clients, which get each
 * part whole in its own `T` and in order; shown as one message by ringchat
 * peers, signed part by part; one frame when every member speaks
 * ringchat/2; paced so that members' text rates never drop parts.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { splitText } from "../peer/long_text.ts";
import type { PeerOptions } from "../peer/peer.ts";
import { startRegistry } from "../registry/registry.ts";
import { RawClient } from "./support/raw_client.ts";
import { meshConnected, type TestPeer, testPeer, untilAll } from "./support/peer_harness.ts";
import { dialSeed, otherFrames, seedTexts } from "./support/seed_link.ts";

const encoder = new TextEncoder();
const strict = new TextDecoder("utf-8", { fatal: true });

/** A text of `bytes` UTF-8 bytes whose characters are 1 to 4 bytes long, so cuts must avoid them. */
function mixedText(bytes: number): string {
  const chars = ["a", "é", "€", "😀", " ", "b", "\n", "ü"];
  let text = "";
  for (let i = 0; encoder.encode(text).length < bytes - 4; i++) text += chars[(i * 7) % 8];
  return text;
}

function messages(p: TestPeer, text: string) {
  return p.rec.of("message").filter((m) => m.text === text);
}

/** A registry, ringchat peers `names` in room1, and a seed client that registered and dialed the first. */
async function mixedRoom(names: string[], options: PeerOptions = {}) {
  const registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const peers: TestPeer[] = [];
  const cleanup: (() => Promise<void> | void)[] = [];
  const dispose = async () => {
    for (const undo of cleanup.reverse()) await undo();
    for (const p of peers) await p.peer.quit();
    await registry.close();
  };
  try {
    for (const name of names) {
      peers.push(await testPeer(registry.port, { name, room: "room1", ...options }));
    }
    await meshConnected(peers);
    // sam: a seed client (no hello) listed at a port where nobody listens, so only its own link counts.
    const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const samPort = dead.addr.port;
    dead.close();
    const registration = await RawClient.connect(registry.port);
    cleanup.push(() => registration.close());
    await registration.write(`J:room1:sam:127.0.0.1:${samPort}::\r\n`);
    await registration.frame();
    await untilAll(
      peers,
      () => peers.every((p) => p.rec.of("members").at(-1)?.members.some((m) => m.name === "sam")),
      "sam listed everywhere",
    );
    const sam = await dialSeed(peers[0]!.peer.port, "room1", "sam", samPort);
    cleanup.push(() => sam.close());
    return { peers, sam, [Symbol.asyncDispose]: dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

Deno.test("long text: a seed client reading 1,024 bytes a read gets every part whole, in order; ringchat peers show one message", async () => {
  await using room = await mixedRoom(["alice", "bob", "carol"]);
  const [alice, bob, carol] = room.peers as [TestPeer, TestPeer, TestPeer];
  const text = mixedText(1_900);
  const sentBefore = alice.peer.stats().sent;
  await alice.peer.send(text);
  const parts = splitText(text);
  ok(parts.length >= 4, `${parts.length} parts`);
  await room.sam.until(() => seedTexts(room.sam).length >= parts.length, "every part at sam");
  const got = seedTexts(room.sam);
  equal(got.length, parts.length, "each part once");
  deepEqual(otherFrames(room.sam), [], "nothing but T frames reach a seed client");
  const first = got[0]!.frame.msgId;
  got.forEach(({ frame, raw, content }, i) => {
    equal(frame.msgId, first + BigInt(i), "consecutive msgIDs, in order");
    equal(frame.originName, "alice");
    ok(content.length <= 500, `part ${i}: ${content.length} content bytes`);
    ok(raw.length <= 1024, `part ${i}: a frame of ${raw.length} bytes fits one read`);
    equal(strict.decode(content), parts[i], `part ${i} cut at a character boundary`);
  });
  equal(got.map((t) => t.frame.text).join(""), text);
  equal(alice.peer.stats().sent - sentBefore, parts.length, "one T per part");
  for (const p of [bob, carol]) {
    await p.rec.until(() => messages(p, text).length === 1, "the whole text");
    const [message] = messages(p, text);
    equal(message!.msgId, first.toString(), "the message is named by its first part");
    equal(message!.verified, true, "every part's signature verified");
    ok(!p.rec.texts().some((t) => parts.includes(t)), "no part shown alone");
  }
  deepEqual(alice.rec.of("message").filter((m) => m.self).map((m) => m.text), [text]);
  // A short text after it still goes as it is, to everybody.
  await alice.peer.send("short");
  await room.sam.until(() => seedTexts(room.sam).some((t) => t.frame.text === "short"), "short");
  await bob.rec.until(() => messages(bob, "short").length === 1, "short at bob");
});

Deno.test("long text: a room where every member speaks ringchat/2 gets one frame", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const alice = await testPeer(registry.port, { name: "alice", room: "room1" });
  const bob = await testPeer(registry.port, { name: "bob", room: "room1" });
  try {
    await meshConnected([alice, bob]);
    await alice.rec.until(
      () => alice.rec.of("members").at(-1)?.members.every((m) => m.ringchat === true) === true,
      "bob listed as ringchat",
    );
    const text = mixedText(20_000);
    const before = alice.peer.stats().sent;
    await alice.peer.send(text);
    await bob.rec.until(() => messages(bob, text).length === 1, "the text at bob");
    equal(alice.peer.stats().sent - before, 1, "one frame");
    equal(bob.peer.stats().delivered, 1);
  } finally {
    await alice.peer.quit();
    await bob.peer.quit();
  }
});

Deno.test("long text: plain peers (seed-style) send parts and show them in order, one line each", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const alice = await testPeer(registry.port, { name: "alice", room: "room1", plain: true });
  const bob = await testPeer(registry.port, { name: "bob", room: "room1", plain: true });
  try {
    await meshConnected([alice, bob]);
    const text = mixedText(1_200);
    const parts = splitText(text);
    await alice.peer.send(text);
    await bob.rec.until(() => bob.rec.texts().length === parts.length, "every part at bob");
    deepEqual(bob.rec.texts(), parts);
  } finally {
    await alice.peer.quit();
    await bob.peer.quit();
  }
});

for (
  const [limit, rates] of [
    ["origin", { maxTextRate: 20, textBurst: 30 }],
    ["link", { maxLinkTextRate: 20, linkTextBurst: 30 }],
  ] as const
) {
  Deno.test(`long text: long texts in a row wait for the sender's rate, so members drop none of their parts (${limit} rate)`, async () => {
    // 20 parts each; members take 20 texts a second with a burst of 30 (per origin, or per link).
    await using room = await mixedRoom(["alice", "bob"], rates);
    const [alice, bob] = room.peers as [TestPeer, TestPeer];
    const texts = ["x", "y"].map((c) => (c.repeat(499) + " ").repeat(20));
    equal(splitText(texts[0]!).length, 20);
    const started = performance.now();
    for (const text of texts) await alice.peer.send(text);
    const waited = performance.now() - started;
    for (const text of texts) {
      await bob.rec.until(() => messages(bob, text).length === 1, "each long text whole");
    }
    equal(bob.peer.stats().refused, 0, "no part refused for the rate");
    ok(waited >= 400, `the second text waited for the rate (${waited.toFixed(0)} ms)`);
    await room.sam.until(() => seedTexts(room.sam).length === 40, "all 40 parts at sam");
  });
}
