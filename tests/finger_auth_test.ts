/**
 * Finger links prove keys as ring links do (docs/extensions.md `finger` and
 * `link-auth`, docs/security.md), between peers on sockets: a finger hello
 * claiming a keyed member from a socket that cannot prove its key gets a
 * challenge, never the `ok`, and nothing it sends before the proof is read
 * (no `pull` answered, no `digest` acted on); it is closed when no proof
 * comes in time, or at once on a wrong proof or a text; the room's real
 * finger links and its tree go on delivering each message once. And one
 * overlay with raw members at the other end: a dialled finger is taken only
 * after its member's proof (and dialled again when the registry gives it
 * another key), unproved hellos hold the acceptor's handshake slots, and a
 * member the registry gives no key links without a proof, both ways.
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { dialsFinger } from "../lib/fingers.ts";
import { encodeFrame, type Frame, type Member } from "../lib/frames.ts";
import { type RingMember, ringOrder, withHashIds } from "../lib/ring.ts";
import { hashId } from "../lib/sdbm.ts";
import { type Identity, loadIdentity } from "../peer/identity.ts";
import { LinkAuth } from "../peer/link_auth.ts";
import { authenticate, greet, type Probed } from "../peer/links.ts";
import { Membership } from "../peer/membership.ts";
import type { Overlay, OverlayOptions } from "../peer/overlay.ts";
import { TaskSet } from "../peer/tasks.ts";
import { fingerHello, fingerOk, pullOp, treeHeader } from "../peer/tree_ops.ts";
import { startRegistry } from "../registry/registry.ts";
import { type TestPeer, testPeer, untilAll } from "./support/peer_harness.ts";
import { RawLink } from "./support/raw_peer.ts";
import { treeOverlay } from "./support/tree_overlay.ts";

const B64URL = { alphabet: "base64url", omitPadding: true } as const;

/** Checks `condition` every 10 ms until it holds (for state that makes no event). */
async function poll(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function shown(p: TestPeer, text: string) {
  return p.rec.of("message").filter((m) => m.text === text);
}

/** Each peer says `tag`; resolves once every peer showed every one, and checks each exactly once. */
async function eachSays(peers: TestPeer[], tag: string): Promise<void> {
  const texts = peers.map((_, i) => `${tag} ${i}`);
  for (const [i, p] of peers.entries()) await p.peer.send(texts[i]!);
  await untilAll(
    peers,
    () => peers.every((p) => texts.every((t) => shown(p, t).length > 0)),
    `every "${tag}" text everywhere`,
  );
  for (const [i, p] of peers.entries()) {
    for (const t of texts) equal(shown(p, t).length, 1, `peer ${i} shows "${t}" once`);
  }
}

/** Four keyed peers in tree mode on a registry of their own; alice (f0) and bob (f1) among them. */
interface TreeRoom extends AsyncDisposable {
  peers: TestPeer[];
  alice: TestPeer;
  bob: TestPeer;
  /** bob as listed. */
  bobMember: Member;
}

/** A {@linkcode TreeRoom}, once each member has its finger link (distance 2) up. */
async function treeRoom(): Promise<TreeRoom> {
  const registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const peers: TestPeer[] = [];
  const dispose = async () => {
    for (const p of peers) await p.peer.quit();
    await registry.close();
  };
  try {
    for (let i = 0; i < 4; i++) {
      const options = { name: `f${i}`, room: "room1", handshakeTimeoutMs: 500 };
      peers.push(await testPeer(registry.port, options));
    }
    await poll(() => peers.every((p) => (p.peer.stats().fingers ?? 0) >= 1), "the finger links");
    await eachSays(peers, "warm-up");
  } catch (error) {
    await dispose();
    throw error;
  }
  const [alice, bob] = peers as [TestPeer, TestPeer];
  const bobMember = { name: "f1", ip: "127.0.0.1", port: bob.peer.port };
  return { peers, alice, bob, bobMember, [Symbol.asyncDispose]: dispose };
}

Deno.test("finger auth: a finger hello claiming another member is challenged, gets no ok, and its pull and digest are not read", async () => {
  await using room = await treeRoom();
  const { peers, alice, bob, bobMember } = room;
  const aliceHid = hashId("f0", "127.0.0.1", alice.peer.port).toString();
  const bobHid = hashId("f1", "127.0.0.1", bob.peer.port).toString();
  const warmUp = shown(alice, "warm-up 0")[0]!;
  const downsBefore = alice.rec.of("link").filter((e) => e.state === "down").length;
  const fingersBefore = alice.peer.stats().fingers;

  // From the address bob is listed at (all of them are 127.0.0.1), not holding bob's key.
  const impostor = await RawLink.connect(alice.peer.port);
  await using _close = { [Symbol.asyncDispose]: () => impostor.close() };
  await impostor.write(fingerHello("room1", bobMember));
  // What a finger link's other side would act on: a pull of a message alice keeps, and a
  // digest claiming bob's messages alice lacks (she would pull them on this link).
  await impostor.write(pullOp("room1", [{ originHid: aliceHid, msgId: BigInt(warmUp.msgId) }]));
  const digest = { room: "room1", origins: [[bobHid, "18000000000000000000", "ff"]] };
  await impostor.write(encodeFrame({ type: "X", op: "digest", body: digest }));
  await impostor.closed(3000);

  equal(impostor.frames.length, 1, `only a challenge: ${impostor.frames}`);
  match(impostor.frames[0]!, /^X:\d+:\{"op":"link-auth","challenge":"[\w-]{43}"\}::\r\n$/);
  const refusals = alice.rec.of("info").map((e) => e.message).filter((m) => /finger/.test(m));
  ok(
    refusals.some((m) => /Refused a finger link from f1 .*did not prove its key in time/.test(m)),
    refusals.join("; "),
  );
  equal(alice.peer.stats().fingers, fingersBefore, "alice's own finger link stayed");
  equal(alice.rec.of("link").filter((e) => e.state === "down").length, downsBefore);
  await eachSays(peers, "after");
});

Deno.test("finger auth: a wrong proof, or a text before the proof, closes the finger hello at once", async () => {
  await using room = await treeRoom();
  const { peers, alice, bob, bobMember } = room;
  const forger = await RawLink.connect(alice.peer.port);
  await using _forger = { [Symbol.asyncDispose]: () => forger.close() };
  await forger.write(fingerHello("room1", bobMember));
  await forger.until(() => forger.frames.length > 0, "the challenge");
  const sig = crypto.getRandomValues(new Uint8Array(64)).toBase64(B64URL);
  await forger.write(encodeFrame({ type: "X", op: "link-proof", body: { sig } }));
  await forger.closed(3000);
  equal(forger.frames.length, 1, `only the challenge: ${forger.frames}`);

  const talker = await RawLink.connect(alice.peer.port);
  await using _talker = { [Symbol.asyncDispose]: () => talker.close() };
  await talker.write(fingerHello("room1", bobMember));
  const text = encodeFrame({
    type: "T",
    room: "room1",
    originHid: hashId("f1", "127.0.0.1", bob.peer.port).toString(),
    originName: "f1",
    msgId: 1n,
    text: "said before any proof",
  });
  await talker.write(text);
  await talker.closed(3000);
  equal(talker.frames.length, 1, `only the challenge: ${talker.frames}`);

  const refusals = alice.rec.of("info").map((e) => e.message).filter((m) => /finger/.test(m));
  ok(refusals.some((m) => /Refused its key/.test(m)), refusals.join("; "));
  ok(
    refusals.some((m) => /Sent a T frame instead of its key proof/.test(m)),
    refusals.join("; "),
  );
  for (const p of peers) deepEqual(shown(p, "said before any proof"), []);
  await eachSays(peers, "after");
});

/** One side's overlay in tree mode, with my key, and a member list of me and `other`. */
class FingerSide implements AsyncDisposable {
  readonly listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly tasks = new TaskSet();
  readonly members = new Membership(60_000);
  readonly reports: string[] = [];
  readonly texts: string[] = [];
  readonly ops: string[] = [];
  readonly me: RingMember;
  readonly overlay: Overlay;
  #msid = 1n;

  constructor(readonly identity: Identity, options: Partial<OverlayOptions> = {}) {
    this.me = withHashIds([{ name: "me", ip: "127.0.0.1", port: this.listener.addr.port }])[0]!;
    const place = { room: "room1", me: this.me };
    this.overlay = treeOverlay(place, this.members, this.tasks, {
      identity,
      onText: (_link, frame) => this.texts.push(frame.text),
      onExtension: (_link, frame) => this.ops.push(frame.op),
      report: (_key, _type, message) => this.reports.push(message),
    }, options);
    this.overlay.serve(this.listener);
  }

  /** Lists me and `other` (with `key`, null for none), as list and member-info. */
  list(other: Member, key: string | null): void {
    const msid = this.#msid++;
    this.members.set({ type: "M", msid, members: [this.me, other] }, 0);
    const info = [{ ...this.me, key: this.identity.publicKey }, { ...other, key }];
    this.members.setInfo({ room: "room1", msid, members: info });
  }

  /** True when I am the side that dials `other`'s finger. */
  dials(other: Member): boolean {
    const ring = ringOrder([this.me, other], this.me);
    return dialsFinger(2, 0, ring.findIndex((m) => m.port === other.port));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.overlay.close();
    this.listener.close();
    await this.tasks.drain();
  }
}

/** The next frame on a probed connection (read with its first, or read now), left to be read. */
async function nextFrame(probed: Probed): Promise<Frame> {
  const buf = new Uint8Array(1024);
  while (probed.frames.length === 0) {
    const n = await probed.conn.read(buf);
    if (n === null) throw new Error("closed");
    probed.frames.push(...probed.reader.feed(buf.subarray(0, n)));
  }
  return probed.frames[0]!.decode();
}

/** A member, at a listener of its own, with a name that makes `side` dial its finger. */
function dialledMember(side: FingerSide, listener: Deno.TcpListener): Member {
  for (let i = 0;; i++) {
    const member = { name: `other${i}`, ip: "127.0.0.1", port: listener.addr.port };
    if (side.dials(member)) return member;
  }
}

Deno.test("finger auth: a dialled finger is taken only once its member proved the key the registry gave", async () => {
  await using side = new FingerSide(await loadIdentity(null));
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const other = dialledMember(side, listener);
  const first = await loadIdentity(null);
  const second = await loadIdentity(null);
  side.list(other, first.publicKey);
  /** What the member's address does with each finger hello in turn. */
  const answers = [
    "ok without a proof",
    "a wrong proof",
    "a proof of its key",
    "a proof of its new key",
  ] as const;
  /** The first frame after each hello: my challenge. */
  const afterHello: string[] = [];
  const serving = (async () => {
    for (const answer of answers) {
      const probed = await greet(await listener.accept(), 2000, undefined, 1 << 16, true);
      if (!("probe" in probed)) throw new Error("not a finger hello");
      afterHello.push(JSON.stringify(await nextFrame(probed)));
      const okFrame = fingerOk("room1");
      if (answer === "ok without a proof") await probed.conn.write(okFrame);
      else if (answer === "a wrong proof") {
        const sig = crypto.getRandomValues(new Uint8Array(64)).toBase64(B64URL);
        await probed.conn.write(encodeFrame({ type: "X", op: "link-proof", body: { sig } }));
        await probed.conn.write(okFrame);
      } else {
        const auth = new LinkAuth({
          identity: answer === "a proof of its key" ? first : second,
          room: "room1",
          me: other,
          peer: { name: "me", ip: "127.0.0.1", port: side.me.port },
          peerKey: side.identity.publicKey,
          role: "accept",
        });
        await authenticate(probed, auth, 2000);
        await probed.conn.write(okFrame);
      }
      // Kept open (the dialler closes what it refused) until it goes.
      side.tasks.track(
        probed.conn.read(new Uint8Array(1024)).catch(() => null).finally(() => {
          try {
            probed.conn.close();
          } catch {
            // Closed.
          }
        }),
      );
    }
  })();
  side.overlay.refingers();
  await poll(() => side.overlay.fingers.length === 1, "the proved finger link");
  const link = side.overlay.fingers[0]!;
  equal(link.auth?.verified, true);
  equal(link.auth?.peerKey, first.publicKey);
  ok(
    side.reports.some((m) => /Refused the finger link to other\d+ .*did not prove the key/.test(m)),
    side.reports.join("; "),
  );
  equal(afterHello.length, 3);
  for (const frame of afterHello) {
    match(frame, /"op":"link-auth","body":\{"challenge":"[\w-]{43}"\}/);
  }
  // The registry gives it a new key: the link goes, and the new one proves the new key.
  side.list(other, second.publicKey);
  side.overlay.reauthenticate();
  await poll(
    () => side.overlay.fingers.length === 1 && side.overlay.fingers[0] !== link,
    "the finger link with the new key",
  );
  equal(link.open, false);
  equal(side.overlay.fingers[0]!.auth?.peerKey, second.publicKey);
  equal(side.overlay.fingers[0]!.auth?.verified, true);
  await serving;
});

Deno.test("finger auth: unproved finger hellos hold the acceptor's handshake slots, more are closed at once", async () => {
  await using side = new FingerSide(await loadIdentity(null), {
    maxHandshakes: 3,
    handshakeTimeoutMs: 500,
  });
  const other = { name: "other", ip: "127.0.0.1", port: 1 };
  side.list(other, (await loadIdentity(null)).publicKey);
  const hellos: RawLink[] = [];
  await using _close = {
    [Symbol.asyncDispose]: async () => {
      for (const l of hellos) await l.close();
    },
  };
  for (let i = 0; i < 3; i++) {
    const l = await RawLink.connect(side.me.port);
    hellos.push(l);
    await l.write(fingerHello("room1", other));
    await l.until(() => l.frames.length === 1, "a challenge");
  }
  const extra = await RawLink.connect(side.me.port);
  hellos.push(extra);
  await extra.write(fingerHello("room1", other));
  await extra.closed(300);
  deepEqual(extra.frames, [], "the fourth was closed unanswered");
  ok(side.reports.some((m) => /3 handshakes are already pending/.test(m)), side.reports.join("; "));
  for (const l of hellos.slice(0, 3)) await l.closed(2000);
  equal(side.overlay.fingers.length, 0);
  // The slots are free again: a new hello is challenged.
  const next = await RawLink.connect(side.me.port);
  hellos.push(next);
  await next.write(fingerHello("room1", other));
  await next.until(() => next.frames.length === 1, "a challenge");
  match(next.frames[0]!, /"op":"link-auth"/);
});

Deno.test("finger auth: with a member the registry gives no key, finger links work both ways without a proof", async () => {
  await using side = new FingerSide(await loadIdentity(null));
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const other = dialledMember(side, listener);
  side.list(other, null);
  // It dials me: the ok comes first, and what it sends after is read.
  const dialler = await RawLink.connect(side.me.port);
  await using _close = { [Symbol.asyncDispose]: () => dialler.close() };
  await dialler.write(fingerHello("room1", other));
  await dialler.until(() => dialler.frames.length === 1, "the ok");
  equal(dialler.frames[0], new TextDecoder().decode(fingerOk("room1")));
  const otherHid = hashId(other.name, other.ip, other.port).toString();
  const route = { hops: 1, limit: null, pulled: false };
  await dialler.write(treeHeader("room1", otherHid, 5n, route));
  const text = { room: "room1", originHid: otherHid, originName: other.name, msgId: 5n };
  await dialler.write(encodeFrame({ type: "T", ...text, text: "keyless" }));
  await poll(() => side.texts.includes("keyless"), "its text read");
  deepEqual(side.ops, ["tree"]);
  equal(side.overlay.fingers.length, 1);
  equal(side.overlay.fingers[0]!.auth?.required, false);
  await dialler.close();
  await poll(() => side.overlay.fingers.length === 0, "its link gone");
  // I dial it: my hello alone (no challenge), and its ok is taken.
  side.overlay.refingers();
  const conn = await listener.accept();
  const probed = await greet(conn, 2000, undefined, 1 << 16, true);
  ok("probe" in probed);
  const more = await Promise.race([
    conn.read(new Uint8Array(1024)),
    new Promise((resolve) => setTimeout(() => resolve("nothing"), 200)),
  ]);
  equal(more, "nothing", "no challenge after the hello");
  deepEqual(probed.frames, []);
  await conn.write(fingerOk("room1"));
  await poll(() => side.overlay.fingers.length === 1, "my finger link to it");
  conn.close();
});
