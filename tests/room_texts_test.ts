/**
 * Long texts in a peer (issue 11, item 6; docs/extensions.md `parts`): cut
 * into parts of at most 500 content bytes for seed clients, which get each
 * part whole in its own `T` and in order; shown as one message by ringchat
 * peers, signed part by part; one frame when every member speaks
 * ringchat/2; paced so that members' text rates never drop parts.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import type { ExtensionFrame } from "../lib/frames.ts";
import type { RingMember } from "../lib/ring.ts";
import type { Link } from "../peer/links.ts";
import { partsGroup, partsOpBody, splitText } from "../peer/long_text.ts";
import { Membership } from "../peer/membership.ts";
import { PrivateSession } from "../peer/private_session.ts";
import { PARTS_OP, RoomTexts } from "../peer/room_texts.ts";
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

Deno.test("long text: a parts op is passed on once, to ringchat links only, and only of my room and members", () => {
  const members = new Membership(60_000);
  const list = [
    { name: "alice", ip: "127.0.0.1", port: 50001 },
    { name: "bob", ip: "127.0.0.1", port: 50002 },
    { name: "carol", ip: "127.0.0.1", port: 50003 },
    { name: "sam", ip: "127.0.0.1", port: 50004 },
  ];
  members.set({ type: "M", msid: 7n, members: list }, 0);
  const [me, bob, carol, sam] = members.members as RingMember[];
  const sent = new Map<string, Uint8Array[]>();
  const link = (peer: RingMember) => {
    sent.set(peer.name, []);
    const fake = { peer, send: (bytes: Uint8Array) => void sent.get(peer.name)!.push(bytes) };
    return fake as unknown as Link;
  };
  const links = [link(bob!), link(carol!), link(sam!)];
  const abort = new AbortController();
  const texts = new RoomTexts({
    place: () => ({ room: "room1", me: me! }),
    members,
    privacy: new PrivateSession(),
    plain: false,
    links: () => links,
    speaksRingchat: (l) => l.peer.name !== "sam",
    relay: { takeMsgIds: () => 1n, sendOwn: () => Promise.resolve() },
    emit: () => {},
    report: () => {},
    track: (p) => p,
    signal: abort.signal,
  }, {
    partBytes: 500,
    maxTextBytes: 65_536,
    maxTextRate: 200,
    textBurst: 400,
    maxLinkTextRate: 1000,
    linkTextBurst: 2000,
  });
  const op = (room: string, origin: RingMember | string, first: bigint): ExtensionFrame => ({
    type: "X",
    op: PARTS_OP,
    body: partsOpBody({
      room,
      originHid: typeof origin === "string" ? origin : origin.hashId.toString(),
      group: partsGroup(["x".repeat(500), "y"], first),
    }),
  });
  try {
    texts.onPartsOp(links[0]!, op("room1", bob!, 10n));
    // From bob: to carol (ringchat), not back to bob, not to sam (a seed client).
    deepEqual([...sent].map(([name, frames]) => [name, frames.length]), [
      ["bob", 0],
      ["carol", 1],
      ["sam", 0],
    ]);
    equal(texts.pending, 1);
    deepEqual(texts.groupOf(bob!.hashId.toString(), 11n)?.count, 2);
    equal(texts.groupOf(bob!.hashId.toString(), 12n), null);
    // The same op again (another path), another room's, a stranger's: not passed on.
    texts.onPartsOp(links[1]!, op("room1", bob!, 10n));
    texts.onPartsOp(links[1]!, op("room2", bob!, 20n));
    texts.onPartsOp(links[1]!, op("room1", "12345", 30n));
    equal(sent.get("bob")!.length + sent.get("carol")!.length, 1);
    equal(texts.pending, 1);
  } finally {
    abort.abort();
  }
});
