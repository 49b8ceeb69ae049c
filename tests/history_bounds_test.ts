/**
 * The room history against hostile members (issue 11, item 5: "peer memory
 * and database size stay bounded whatever others send"): a requester that
 * asks again and again, a responder that answers what was not asked, with
 * texts too long, more messages than asked, or a member's HashID under
 * another name; and live texts held for a join's answer, each origin's in
 * msgID order, for a bounded time. The sync runs with fake links that record
 * what is written.
 */

import { textSigningInput } from "../peer/identity.ts";
import assert from "node:assert/strict";
import { decodeFrame, encodeFrame, type ExtensionFrame } from "../lib/frames.ts";
import { hashId } from "../lib/sdbm.ts";
import { type HistoryEntry, historyResponseBodies } from "../peer/catch_up.ts";
import type { PeerEvent } from "../peer/events.ts";
import { SeenWindow } from "../peer/flood.ts";
import { openHistory } from "../peer/history.ts";
import { ANSWER_BURST, HistorySync, MAX_ANSWERS } from "../peer/history_sync.ts";
import type { Link } from "../peer/links.ts";
import type { Membership } from "../peer/membership.ts";

const ME = { name: "bob", ip: "127.0.0.1", port: 2, hashId: hashId("bob", "127.0.0.1", 2) };
const ALICE = { name: "alice", ip: "127.0.0.1", port: 1, hashId: hashId("alice", "127.0.0.1", 1) };

/** A link that records the frames written to it and drains at once. */
class FakeLink {
  open = true;
  /** False: a seed client's link (it does not speak ringchat/2). */
  ringchat = true;
  queuedBytes = 0;
  auth = undefined;
  readonly sent: ExtensionFrame[] = [];
  constructor(readonly peer: { name: string; ip: string; port: number; hashId: bigint }) {}
  send(bytes: Uint8Array): boolean {
    this.sent.push(decodeFrame(bytes) as ExtensionFrame);
    return true;
  }
  /** A frame arrives from the other side. */
  frame(op: string, body: Record<string, unknown>): ExtensionFrame {
    // Through the codec, as the wire has it.
    return decodeFrame(encodeFrame({ type: "X", op, body })) as ExtensionFrame;
  }
}

function setUp(
  links: FakeLink[],
  maxMessages = 1000,
  maxTextBytes = 65_536,
  keys = new Map<string, string>(),
  more: { textLinks?: FakeLink[]; newLinkWaitMs?: number } = {},
) {
  const events: PeerEvent[] = [];
  const seen = new SeenWindow();
  seen.setMembers([ALICE.hashId.toString(), ME.hashId.toString()]);
  const store = openHistory({ path: ":memory:", maxMessages });
  const abort = new AbortController();
  const sync = new HistorySync(
    {
      place: () => ({ room: "room1", me: ME }),
      members: {
        members: [ALICE, ME],
        keyOfOrigin: (hid: string) => keys.get(hid),
      } as unknown as Membership,
      seen,
      links: () => links as unknown as Link[],
      ...(more.textLinks === undefined
        ? {}
        : { textLinks: () => [...links, ...more.textLinks!] as unknown as Link[] }),
      speaksRingchat: (link) => (link as unknown as FakeLink).ringchat,
      emit: (event) => events.push(event),
      report: () => {},
      track: (promise) => promise,
      signal: abort.signal,
    },
    store,
    { maxTextBytes, newLinkWaitMs: more.newLinkWaitMs },
  );
  return {
    sync,
    store,
    events,
    [Symbol.dispose]() {
      sync.close();
      abort.abort();
    },
  };
}

function entry(originHid: string, originName: string, msgId: bigint, text: string): HistoryEntry {
  return { originHid, originName, msgId, at: Date.now(), text };
}

Deno.test("history bounds: a flood of requests on one link gets a few answers and small refusals", async () => {
  const link = new FakeLink(ALICE);
  using room = setUp([link]);
  for (let i = 0; i < 20; i++) {
    room.store.add({
      room: "room1",
      originHid: ALICE.hashId.toString(),
      originName: "alice",
      msgId: BigInt(i + 1),
      content: `t${i}`,
    });
  }
  const started = performance.now();
  const requests = 100_000;
  for (let i = 0; i < requests; i++) {
    room.sync.onOp(
      link as unknown as Link,
      link.frame("history-request", { room: "room1", ref: String(i % 1000), newest: 50 }),
    );
    // Each answer is written before the next request comes, the fastest a requester could read.
    await Promise.resolve();
  }
  const ms = performance.now() - started;
  console.log(`${requests} requests on one link handled in ${ms.toFixed(0)} ms`);
  const answers = link.sent.filter((f) => Array.isArray(f.body.messages) && f.body.messages.length);
  assert.ok(answers.length <= ANSWER_BURST, `${answers.length} answers`);
  assert.equal(room.sync.counts.answered, answers.length);
  const refusals = link.sent.filter((f) => f.body.error === "busy");
  assert.equal(refusals.length + answers.length, requests);
  assert.ok(
    link.sent.every((f) => JSON.stringify(f.body).length < 2000 || f.body.error === undefined),
  );
});

Deno.test("history bounds: at most a few answers are written at once over all links", () => {
  const links = Array.from({ length: 10 }, (_, i) => new FakeLink({ ...ALICE, port: 100 + i }));
  // Links that do not drain: every answer stays under way.
  for (const link of links) link.queuedBytes = 1 << 30;
  using room = setUp(links);
  room.store.add({ room: "room1", originHid: "1", originName: "x", msgId: 1n, content: "a" });
  for (const link of links) {
    room.sync.onOp(
      link as unknown as Link,
      link.frame("history-request", { room: "room1", ref: "1", newest: 5 }),
    );
  }
  const busy = links.filter((l) => l.sent.some((f) => f.body.error === "busy")).length;
  assert.equal(busy, links.length - MAX_ANSWERS);
  for (const link of links) link.open = false;
});

Deno.test("history bounds: a forged answer is taken only as asked, within the limit and the store's bounds", () => {
  const link = new FakeLink(ALICE);
  using room = setUp([link], 300, 4096);
  room.sync.joined("room1");
  const [request] = link.sent;
  assert.equal(request!.op, "history-request");
  assert.equal(request!.body.newest, 50);
  const ref = request!.body.ref as string;
  const take = (body: Record<string, unknown>) =>
    room.sync.onOp(link as unknown as Link, link.frame("history", body));
  // Not asked for: another ref, and an answer on a link that was not asked.
  take(historyResponseBodies("room1", "other", [entry("9", "eve", 1n, "unasked")])[0]!);
  const stranger = new FakeLink({ ...ALICE, port: 9 });
  room.sync.onOp(
    stranger as unknown as Link,
    stranger.frame(
      "history",
      historyResponseBodies("room1", ref, [entry("9", "eve", 2n, "x")])[0]!,
    ),
  );
  const forged: HistoryEntry[] = [
    // A current member's HashID under another name.
    entry(ALICE.hashId.toString(), "mallory", 5n, "I am alice"),
    // Over the text limit; and chunks that join to more than 64 KiB (not even whole).
    entry("7", "eve", 1n, "x".repeat(5000)),
    entry("7", "eve", 2n, "x".repeat(70_000)),
    // An empty name.
    entry("8", "", 1n, "nameless"),
    // Then 5,000 messages of made-up origins: more than the request's limit (1,000).
    ...Array.from(
      { length: 5000 },
      (_, i) => entry(String(1000 + (i % 2000)), `o${i % 2000}`, BigInt(i + 1), `forged ${i}`),
    ),
  ];
  for (const body of historyResponseBodies("room1", ref, forged)) take(body);
  const shown = room.events.filter((e) => e.type === "message");
  assert.equal(shown.filter((m) => m.text === "unasked" || m.text === "x").length, 0);
  assert.equal(shown.filter((m) => m.from === "mallory" || m.text === "nameless").length, 0);
  assert.ok(shown.every((m) => m.type === "message" && m.history === true && !m.verified));
  // The first 1,000 whole entries of the answer, 3 of them dropped; the store keeps 300.
  assert.equal(room.sync.counts.dropped, 3);
  assert.equal(shown.length, 997);
  assert.equal(room.store.size("room1").count, 300);
  assert.equal(room.sync.asking, false, "the answer is over once past its limit");
  // Frames after it are ignored.
  const before = room.events.length;
  take(historyResponseBodies("room1", ref, [entry("5", "late", 1n, "after the end")])[0]!);
  assert.equal(room.events.length, before);
});

Deno.test("history bounds: the store stays within its bytes whatever answers bring", () => {
  const link = new FakeLink(ALICE);
  using room = setUp([link]);
  // Each round a new catch-up (a link lost and back) with an answer of 1,000 texts of 8 KB.
  for (let round = 0; round < 2; round++) {
    room.sync.linkDown(new FakeLink(ALICE) as unknown as Link);
    room.sync.linkUp(link as unknown as Link);
    const request = link.sent.filter((f) => f.op === "history-request").at(-1)!;
    const ref = request.body.ref as string;
    const big = Array.from(
      { length: 1000 },
      (_, i) => entry(String(5000 + round), `r${round}`, BigInt(i + 1), `${i} ${"y".repeat(8000)}`),
    );
    for (const body of historyResponseBodies("room1", ref, big)) {
      room.sync.onOp(link as unknown as Link, link.frame("history", body));
    }
    assert.equal(room.sync.asking, false);
  }
  const { count, bytes } = room.store.size("room1");
  assert.ok(bytes <= 4 * 1024 * 1024, `${bytes} bytes`);
  assert.ok(count <= 525, `${count} messages`);
});

Deno.test("history bounds: the database file stays near its 4 MiB of text however much comes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ringchat-history-" });
  try {
    const path = `${dir}/history.sqlite`;
    using store = openHistory({ path });
    // 18 MB of texts of 60 KB from a member at its rate: the store keeps its last 4 MiB.
    const text = "z".repeat(60_000);
    for (let i = 0; i < 300; i++) {
      store.add({
        room: "room1",
        originHid: "1",
        originName: "x",
        msgId: BigInt(i),
        content: `${text}${i}`,
      });
    }
    const size = (file: string) => Deno.statSync(file).size;
    const onDisk = size(path) + size(`${path}-wal`);
    assert.ok(store.size("room1").bytes <= 4 * 1024 * 1024);
    assert.ok(onDisk < 10 * 1024 * 1024, `${onDisk} bytes on disk`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("history bounds: a text shown from an answer out of the window's reach is not shown again live", () => {
  const link = new FakeLink(ALICE);
  using room = setUp([link]);
  room.sync.joined("room1");
  const ref = link.sent[0]!.body.ref as string;
  // An origin that is not a member now (it may have left): shown, but the window keeps nothing.
  const [body] = historyResponseBodies("room1", ref, [entry("77", "carol", 3n, "from carol")]);
  room.sync.onOp(link as unknown as Link, link.frame("history", body!));
  assert.equal(room.events.filter((e) => e.type === "message").length, 1);
  const frame = {
    type: "T" as const,
    room: "room1",
    originHid: "77",
    originName: "carol",
    msgId: 3n,
    text: "from carol",
  };
  const content = new TextEncoder().encode(frame.text);
  assert.equal(room.sync.record(frame, content), false, "its live copy");
  assert.equal(room.sync.record({ ...frame, msgId: 4n }, content), true, "a new text");
});

Deno.test("history bounds: a member with a key is believed only with its signature; then verified", async () => {
  const pair = await crypto.subtle.generateKey("Ed25519", true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const alice = ALICE.hashId.toString();
  const keys = new Map([[alice, raw.toBase64({ alphabet: "base64url", omitPadding: true })]]);
  const sign = async (msgId: bigint, text: string) =>
    new Uint8Array(
      await crypto.subtle.sign(
        "Ed25519",
        pair.privateKey,
        new Uint8Array(textSigningInput("room1", alice, msgId, new TextEncoder().encode(text))),
      ),
    );
  const link = new FakeLink(ALICE);
  using room = setUp([link], 1000, 65_536, keys);
  room.sync.joined("room1");
  const ref = link.sent[0]!.body.ref as string;
  const signed = (msgId: bigint, text: string, sig: Uint8Array) => ({
    ...entry(alice, "alice", msgId, text),
    sig,
  });
  const answer: HistoryEntry[] = [
    signed(1n, "really alice", await sign(1n, "really alice")),
    // No signature, and another text's signature: forged.
    entry(alice, "alice", 2n, "unsigned"),
    signed(3n, "changed", await sign(1n, "really alice")),
    // An origin without a key is kept, unverified.
    entry("9", "eve", 1n, "from eve"),
  ];
  for (const body of historyResponseBodies("room1", ref, answer)) {
    room.sync.onOp(link as unknown as Link, link.frame("history", body));
  }
  const shown = room.events.flatMap((e) => e.type === "message" ? [[e.text, e.verified]] : []);
  assert.deepEqual(shown, [["really alice", true], ["from eve", false]]);
  assert.equal(room.sync.counts.dropped, 2);
  // Kept with its signature: an answer of mine passes it on.
  assert.ok(room.store.recent("room1", 10).find((m) => m.msgId === 1n)?.sig?.length === 64);
});

/** A live text of alice's, `msgId`, as the relay emits it. */
function live(msgId: bigint): PeerEvent {
  return {
    type: "message",
    room: "room1",
    from: "alice",
    originHid: ALICE.hashId.toString(),
    msgId: msgId.toString(),
    text: `alice #${msgId}`,
    self: false,
    verified: false,
    at: new Date().toISOString(),
  };
}

function shownTexts(events: PeerEvent[]): string[] {
  return events.flatMap((e) =>
    e.type === "message" ? [e.text + (e.history ? " (history)" : "")] : []
  );
}

Deno.test("history bounds: a live text that comes after a join, before its request is asked, waits for the answer's older ones", () => {
  // The broadcast tree's finger link is up first; the ring link to ask comes a moment later.
  const finger = new FakeLink(ALICE);
  const ring: FakeLink[] = [];
  using room = setUp(ring, 1000, 65_536, new Map(), { textLinks: [finger] });
  room.sync.joined("room1");
  assert.equal(finger.sent.length, 0, "a finger link is not asked");
  room.sync.emitLive(live(3n));
  assert.deepEqual(shownTexts(room.events), [], "held for the request to come");
  const link = new FakeLink(ALICE);
  ring.push(link);
  room.sync.linkUp(link as unknown as Link);
  const ref = link.sent[0]!.body.ref as string;
  room.sync.emitLive(live(4n));
  const answer = [1n, 2n].map((n) => entry(ALICE.hashId.toString(), "alice", n, `alice #${n}`));
  for (const body of historyResponseBodies("room1", ref, answer)) {
    room.sync.onOp(link as unknown as Link, link.frame("history", body));
  }
  assert.deepEqual(shownTexts(room.events), [
    "alice #1 (history)",
    "alice #2 (history)",
    "alice #3",
    "alice #4",
  ]);
  // Caught up: live texts are shown at once.
  room.sync.emitLive(live(5n));
  assert.equal(shownTexts(room.events).at(-1), "alice #5");
});

Deno.test("history bounds: after a join nothing waits when no link can answer, and at most newLinkWaitMs, once, when no request comes", async () => {
  const seed = new FakeLink(ALICE);
  seed.ringchat = false;
  {
    // Only a seed client's link: nobody will answer, the text is shown at once.
    using room = setUp([seed], 1000, 65_536, new Map(), { newLinkWaitMs: 50 });
    room.sync.joined("room1");
    room.sync.emitLive(live(1n));
    assert.deepEqual(shownTexts(room.events), ["alice #1"]);
  }
  // A finger link that could answer, but no ring link to ask comes: held for the wait, then shown.
  const finger = new FakeLink(ALICE);
  using room = setUp([seed], 1000, 65_536, new Map(), { textLinks: [finger], newLinkWaitMs: 50 });
  room.sync.joined("room1");
  room.sync.emitLive(live(2n));
  room.sync.emitLive(live(1n));
  room.sync.membersChanged(); // asks again: still nobody to ask, the wait goes on
  assert.deepEqual(shownTexts(room.events), []);
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.deepEqual(shownTexts(room.events), ["alice #1", "alice #2"], "in alice's order");
  // Once per join: the texts after it are not held again.
  room.sync.emitLive(live(3n));
  assert.deepEqual(shownTexts(room.events).at(-1), "alice #3");
});
