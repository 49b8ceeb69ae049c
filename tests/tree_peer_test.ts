/**
 * The broadcast tree between peers on sockets (docs/overlay.md): in a room
 * where every member speaks ringchat/2, messages go down the tree over finger
 * links, each member gets each message once, and the last one is at most
 * `maxDepth(N)` hops from the origin; a tree node killed mid-stream loses
 * nothing, the repair path bringing what its subtree missed.
 */
import { equal, ok } from "node:assert/strict";
import { maxDepth } from "../lib/broadcast_tree.ts";
import { fingerNeighbours } from "../lib/fingers.ts";
import type { Member } from "../lib/frames.ts";
import { ringOrder } from "../lib/ring.ts";
import type { PeerEvent } from "../peer/events.ts";
import { startRegistry } from "../registry/registry.ts";
import { type TestPeer, testPeer, untilAll } from "./support/peer_harness.ts";

type MessageEvent = Extract<PeerEvent, { type: "message" }>;

/** Starts `n` peers in one room and waits until each lists all and has its finger links. */
async function room(registryPort: number, n: number, name = "tree"): Promise<TestPeer[]> {
  const peers: TestPeer[] = [];
  for (let i = 0; i < n; i++) {
    peers.push(await testPeer(registryPort, { name: `${name}${i}`, room: "room1" }));
  }
  await untilAll(
    peers,
    () => peers.every((p) => listed(p) === n),
    `${n} members listed everywhere`,
    15_000,
  );
  // Finger links make no event: their count is polled. Each member links with every
  // member at a power-of-two distance either way; its two ring neighbours by the ring links.
  const members = p0Members(peers[0]!);
  const ring = ringOrder(members, members[0]!);
  const owed = (p: TestPeer) => {
    const x = ring.findIndex((m) => m.port === p.peer.port);
    return fingerNeighbours(n, x).length - 2;
  };
  await poll(
    () => peers.every((p) => (p.peer.stats().fingers ?? 0) >= owed(p)),
    "the finger links",
  );
  // A first message everywhere: the catch-ups that links coming up started are over.
  await peers[0]!.peer.send(`${name}|warm-up`);
  await untilAll(
    peers,
    () => peers.every((p) => messagesOf(p, `${name}|warm-up`).length === 1),
    "the warm-up message everywhere",
  );
  return peers;
}

/** Members in a peer's last list (its `joined` event's, until a `members` event). */
function listed(p: TestPeer): number | undefined {
  return (p.rec.of("members").at(-1) ?? p.rec.of("joined").at(-1))?.members.length;
}

/** The members of a peer's last list. */
function p0Members(p: TestPeer): Member[] {
  const list = (p.rec.of("members").at(-1) ?? p.rec.of("joined").at(-1))!.members;
  return list.map((m) => ({ name: m.name, ip: m.ip, port: m.port }));
}

/** Checks `condition` every 10 ms until it holds (for state that makes no event). */
async function poll(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function messagesOf(p: TestPeer, prefix: string): MessageEvent[] {
  return p.rec.of("message").filter((e) => e.text.startsWith(prefix));
}

Deno.test("tree: 16 ringchat peers get each message once, down the tree, at most maxDepth hops", async () => {
  await using reg = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const peers = await room(reg.port, 16);
  try {
    const before = peers.map((p) => p.peer.stats().duplicates);
    const texts: string[] = [];
    for (const [i, p] of peers.entries()) {
      if (i % 4 !== 0) continue;
      const text = `m|${i}`;
      texts.push(text);
      await p.peer.send(text);
    }
    await untilAll(
      peers,
      () => peers.every((p) => texts.every((t) => messagesOf(p, t).length >= 1)),
      "every message everywhere",
    );
    let deepest = 0, live = 0;
    for (const p of peers) {
      for (const t of texts) {
        const got = messagesOf(p, t);
        equal(got.length, 1, `${p.peer.port} shows ${t} once`);
        const e = got[0]!;
        // A catch-up under way (history_sync.ts) may show it first, as history: no route then.
        if (e.history) continue;
        ok(e.via !== undefined, "a message says whom it came from");
        ok(e.hops !== undefined, "a tree message says its hops");
        if (!e.self) deepest = Math.max(deepest, e.hops!);
        else equal(e.hops, 0);
        live++;
      }
    }
    ok(deepest <= maxDepth(16), `the last peer is ${deepest} hops away (at most ${maxDepth(16)})`);
    ok(live >= peers.length * texts.length / 2, `most came live (${live})`);
    ok(deepest >= 2, "it went through the tree, not from the origin to everyone");
    const copies = peers.reduce((sum, p, i) => sum + p.peer.stats().duplicates - before[i]!, 0);
    equal(copies, 0, "no member received a second tree copy");
    const sent = peers.reduce((sum, p) => sum + (p.peer.stats().treeSent ?? 0), 0);
    ok(sent >= texts.length * 15, "the texts went down the tree");
  } finally {
    await Promise.all(peers.map((p) => p.peer.quit()));
  }
});

Deno.test("tree: a plain P2PChat member turns the room back to the ring, nothing lost or doubled", async () => {
  await using reg = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const peers = await room(reg.port, 6, "mixed");
  const all = [...peers];
  try {
    await peers[1]!.peer.send("mixed|before");
    await untilAll(
      peers,
      () => peers.every((p) => messagesOf(p, "mixed|before").length === 1),
      "the tree message everywhere",
    );
    ok(
      peers.some((p) => (messagesOf(p, "mixed|before")[0]!.hops ?? 0) >= 2),
      "it went by the tree",
    );
    // A seed-like member joins: ringchat peers send as T again, flooded on the ring.
    const plain = await testPeer(reg.port, { name: "plainpeer", room: "room1", plain: true });
    all.push(plain);
    await untilAll(all, () => all.every((p) => listed(p) === 7), "7 members listed everywhere");
    await poll(() => peers.every((p) => (p.peer.stats().fingers ?? 0) === 0), "fingers closed");
    const texts = peers.map((_, i) => `mixed|after ${i}`);
    for (const [i, p] of peers.entries()) await p.peer.send(texts[i]!);
    await untilAll(
      all,
      () => all.every((p) => texts.every((t) => messagesOf(p, t).length >= 1)),
      "every message everywhere, the plain member included",
    );
    for (const p of all) {
      for (const t of texts) {
        const got = messagesOf(p, t);
        equal(got.length, 1, `${p.peer.port} shows ${t} once`);
        if (got[0]!.history) continue;
        ok(got[0]!.via !== undefined, "a ring message says whom it came from too");
        if (!got[0]!.self) equal(got[0]!.hops, undefined, "a ring flood");
      }
    }
  } finally {
    await Promise.all(all.map((p) => p.peer.quit()));
  }
});
