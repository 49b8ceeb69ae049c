/**
 * The tree's ops and their bounds against a hostile member (peer/tree_ops.ts,
 * peer/tree.ts, peer/pull_store.ts): malformed ops are refused, forged
 * `tree` ops cannot pile up, pulls are answered at a bounded rate, and a
 * forged share end does not make a peer forward to the whole ring.
 */
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { decodeFrame, type ExtensionFrame, type TextFrame } from "../lib/frames.ts";
import { ringOrder } from "../lib/ring.ts";
import { ProtocolError } from "../lib/errors.ts";
import { FingerLinks } from "../peer/fingers_links.ts";
import type { Probed } from "../peer/links.ts";
import { type FakeLink, fakeLink as recordingLink, fakeText } from "./support/fake_link.ts";
import type { Membership } from "../peer/membership.ts";
import { PullStore } from "../peer/pull_store.ts";
import {
  MAX_HEADERS_PER_LINK,
  PULL_RATE,
  SETTLE_MAX_MS,
  type TreeOptions,
  TreeRouter,
} from "../peer/tree.ts";
import {
  MAX_PULL_WANTS,
  parsePull,
  parseTreeHeader,
  pullOp,
  treeHeaderBody,
} from "../peer/tree_ops.ts";

const members = Array.from({ length: 8 }, (_, i) => ({
  name: `m${i}`,
  ip: "127.0.0.1",
  port: 40000 + i,
}));
const ring = ringOrder(members, members[0]!);
const me = ring[0]!;

function fakeLink(peer = ring[1]!): FakeLink {
  return recordingLink(peer);
}

/** A tree over `ring` where every member is linked by `links`. */
function router(
  links = new Map(ring.map((m) => [m.name, fakeLink(m)])),
  options: TreeOptions = {},
) {
  const membership = {
    ring,
    members: ring,
    speaksRingchat: () => true,
    speakers: () => ring.length,
  } as unknown as Membership;
  const tree = new TreeRouter({
    place: () => ({ room: "r", me }) as never,
    members: membership,
    ringOnly: false,
    ringLinks: () => [],
    linkTo: (m) => links.get(m.name),
    speaksRingchat: () => true,
    bytesFor: (_link, raw) => raw,
    isMember: () => true,
    report: () => {},
  }, options);
  return { tree, links };
}

function text(msgId: bigint, origin = ring[3]!): { frame: TextFrame; raw: Uint8Array } {
  return fakeText(msgId, origin);
}

function op(op: string, body: Record<string, unknown>): ExtensionFrame {
  return { type: "X", op, body };
}

Deno.test("tree ops: malformed tree and pull ops are refused", () => {
  const good = treeHeaderBody("r", "7", 3n, { hops: 1, limit: null, pulled: true });
  deepEqual(parseTreeHeader(good).route, { hops: 1, limit: null, pulled: true });
  throws(() => parseTreeHeader({ ...good, hops: 0 }), ProtocolError);
  throws(() => parseTreeHeader({ ...good, hops: 5000 }), ProtocolError);
  throws(() => parseTreeHeader({ ...good, limit: { name: "a", ip: "x", port: 1 } }), ProtocolError);
  throws(
    () => parseTreeHeader({ ...good, pulled: undefined, limit: { name: "a" } }),
    ProtocolError,
  );
  throws(() => parseTreeHeader({ ...good, origin: "-1" }), ProtocolError);
  const wants = Array.from({ length: MAX_PULL_WANTS + 1 }, (_, i) => ["7", String(i + 1)]);
  throws(() => parsePull({ room: "r", want: wants }), ProtocolError);
  throws(() => parsePull({ room: "r", want: [["7", "1"], ["7", "1"]] }), ProtocolError);
  throws(() => parsePull({ room: "r", want: [] }), ProtocolError);
  const pull = decodeFrame(pullOp("r", [{ originHid: "7", msgId: 2n }]));
  if (pull.type !== "X") throw new Error("not X");
  deepEqual(parsePull(pull.body).wants, [{ originHid: "7", msgId: 2n }]);
});

Deno.test("tree ops: forged tree ops without their text are kept at most 64 per link", () => {
  const { tree } = router();
  const link = fakeLink();
  const origin = ring[3]!.hashId.toString();
  for (let k = 1; k <= 200; k++) {
    tree.onOp(
      link,
      op(
        "tree",
        treeHeaderBody("r", origin, BigInt(k), {
          hops: 1,
          limit: me,
          pulled: false,
        }),
      ),
    );
  }
  equal(tree.take(link, text(1n).frame), undefined, "the oldest were dropped");
  equal(tree.take(link, text(200n).frame)?.hops, 1);
  equal(tree.take(link, text(200n).frame), undefined, "a tree op is good for one text");
  let kept = 0;
  for (let k = 1; k <= 200; k++) if (tree.take(link, text(BigInt(k)).frame)) kept++;
  equal(kept, MAX_HEADERS_PER_LINK - 1);
  tree.close();
});

Deno.test("tree ops: pulls are answered from what is held, at most PULL_RATE a second per link", () => {
  const { tree } = router();
  for (let k = 1n; k <= 5n; k++) {
    const { frame, raw } = text(k);
    tree.delivered(frame, raw, 2, false);
  }
  const link = fakeLink();
  const origin = ring[3]!.hashId.toString();
  for (let i = 0; i < 100; i++) {
    tree.onOp(
      link,
      op("pull", { room: "r", want: [[origin, "1"], [origin, "2"], [origin, "99"]] }),
    );
  }
  // Two held of three asked, each a tree op and the text: 4 frames per answered pull.
  equal(link.written.length, PULL_RATE * 4);
  const head = decodeFrame(link.written[0]!);
  if (head.type !== "X") throw new Error("not X");
  deepEqual(parseTreeHeader(head.body).route, { hops: 3, limit: null, pulled: true });
  equal(tree.counts.answered, PULL_RATE * 2);
  tree.close();
});

Deno.test("tree ops: a share end at my own place makes me forward nothing, a true one my children", () => {
  const { tree, links } = router();
  const { frame, raw } = text(1n);
  equal(tree.forward(frame, raw, { hops: 1, limit: me, pulled: false }), 0);
  // From the origin ring[4] I (ring[0]) am at offset 4 of 8: my share is ring[0..3], up to
  // the origin; I hand ring[2..3] to ring[2] and ring[1] alone to ring[1].
  const mine = text(2n, ring[4]!);
  equal(tree.forward(mine.frame, mine.raw, { hops: 1, limit: ring[4]!, pulled: false }), 2);
  deepEqual(
    [...links.values()].filter((l) => l.written.length > 0).map((l) => l.peer.name),
    [ring[1]!.name, ring[2]!.name],
  );
  const head = decodeFrame(links.get(ring[2]!.name)!.written[0]!);
  if (head.type !== "X") throw new Error("not X");
  deepEqual(parseTreeHeader(head.body).route.limit, {
    name: ring[4]!.name,
    ip: ring[4]!.ip,
    port: ring[4]!.port,
  });
  equal(parseTreeHeader(head.body).route.hops, 2);
  tree.close();
});

Deno.test("pull store: bounded by count, bytes and age", () => {
  let now = 0;
  const store = new PullStore({ max: 3, maxBytes: 10, maxAgeMs: 100, now: () => now });
  for (let k = 1n; k <= 5n; k++) store.add("7", k, new Uint8Array(2), 1);
  equal(store.size, 3);
  equal(store.get("7", 2n), undefined);
  store.add("7", 6n, new Uint8Array(11), 1);
  equal(store.get("7", 6n), undefined, "a message over the bytes is not kept");
  store.add("7", 7n, new Uint8Array(8), 1);
  equal(store.bytes <= 10, true);
  now = 1000;
  equal(store.get("7", 7n), undefined, "too old");
  equal(store.size, 0);
});

Deno.test("finger links: a finger hello on a connection closed meanwhile is refused quietly", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dialled = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const accepted = await listener.accept();
  accepted.close();
  const fingers = new FingerLinks({
    place: () => null,
    members: { ring: [], find: () => undefined } as unknown as Membership,
    treeMode: () => false,
    ringLinked: () => false,
    handlers: { onText: () => {} },
    changed: () => {},
    linkOptions: {},
    maxFrameBytes: 1024,
    handshakeTimeoutMs: 1000,
    retryMs: 100,
    settleMs: 1000,
    maxWaitMs: 10_000,
    signal: new AbortController().signal,
    track: (promise) => promise,
    authFor: () => undefined,
    handshaken: () => {},
    report: () => {},
  });
  const probe = op("finger", { room: "r", name: "a", ip: "127.0.0.1", port: 1 });
  const probed = { conn: accepted, reader: null, frames: [], probe } as unknown as Probed;
  const taken = fingers.accept(probed);
  ok(taken !== null, "a finger hello is taken (to be refused)");
  await taken;
  dialled.close();
});

/** The msgIDs of the texts among `written` (a `T r <id>` of `text`), in the order written. */
function textIds(written: Uint8Array[]): string[] {
  return written.map((b) => new TextDecoder().decode(b)).filter((t) => t.startsWith("T r "))
    .map((t) => t.slice(4));
}

Deno.test("tree ops: a pull is answered oldest first, whatever order it asks in", () => {
  const { tree } = router();
  for (let k = 1n; k <= 3n; k++) tree.delivered(text(k).frame, text(k).raw, 1, false);
  const link = fakeLink();
  const origin = ring[3]!.hashId.toString();
  tree.onOp(link, op("pull", { room: "r", want: [[origin, "3"], [origin, "2"], [origin, "1"]] }));
  deepEqual(textIds(link.written), ["1", "2", "3"]);
  tree.close();
});

Deno.test("tree ops: the texts a digest shows missing are pulled oldest first", async () => {
  const { promise, resolve } = Promise.withResolvers<Uint8Array>();
  const link = fakeLink();
  link.send = (bytes: Uint8Array) => (resolve(bytes), true);
  const { tree } = router(undefined, { hopMs: 1 });
  const origin = ring[3]!.hashId.toString();
  // The neighbour holds 5, 4 and 3 (the digest names the highest first, then a mask below it).
  tree.onOp(link, op("digest", { room: "r", origins: [[origin, "5", "3"]] }));
  const pull = decodeFrame(await promise);
  if (pull.type !== "X") throw new Error("not X");
  deepEqual(parsePull(pull.body).wants.map((w) => w.msgId), [3n, 4n, 5n]);
  tree.close();
});

Deno.test("tree ops: after a text of mine flooded the ring, my next ones flood too for a moment", () => {
  const clock = { now: 0 };
  const links = new Map<string, FakeLink>();
  const { tree } = router(links, { hopMs: 50, now: () => clock.now });
  // No finger link yet: my text floods.
  equal(tree.originate(text(1n, me).frame, text(1n, me).raw), false);
  for (const m of ring) links.set(m.name, fakeLink(m));
  // Links came up: a tree copy now could overtake the flood; half the ring at 50 ms a hop.
  clock.now = 4 * 50 - 1;
  equal(tree.originate(text(2n, me).frame, text(2n, me).raw), false);
  clock.now = 4 * 50;
  ok((tree.originate(text(3n, me).frame, text(3n, me).raw) as number) > 0);
  ok(SETTLE_MAX_MS >= 4 * 50);
  tree.close();
});
