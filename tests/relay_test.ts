/** The relay on its own: fake links that record what is written to them. */
import { deepEqual, equal, match } from "node:assert/strict";
import { decodeFrame, encodeFrame, type Member, type TextFrame } from "../lib/frames.ts";
import { withHashIds } from "../lib/ring.ts";
import type { PeerEvent } from "../peer/events.ts";
import { RecentFrames, SeenWindow } from "../peer/flood.ts";
import type { Link } from "../peer/links.ts";
import { Membership } from "../peer/membership.ts";
import { Relay, textError } from "../peer/relay.ts";
import { TaskSet } from "../peer/tasks.ts";

const [me, bob, carol] = withHashIds([
  { name: "me", ip: "127.0.0.1", port: 1 },
  { name: "bob", ip: "127.0.0.1", port: 2 },
  { name: "carol", ip: "127.0.0.1", port: 3 },
]);

function fakeLink(peer: Member & { hashId: bigint }): Link & { written: Uint8Array[] } {
  const written: Uint8Array[] = [];
  const send = (bytes: Uint8Array) => {
    written.push(bytes);
    return true;
  };
  return { peer, written, send } as unknown as Link & { written: Uint8Array[] };
}

function fixture(maxTextRate = Infinity) {
  const events: PeerEvent[] = [];
  const members = new Membership(1000);
  members.set({ type: "M", msid: 1n, members: [me!, bob!, carol!] }, 0);
  const links = [fakeLink(bob!), fakeLink(carol!)];
  const tasks = new TaskSet();
  let lookUps = 0;
  const recent = new RecentFrames(1000);
  const relay = new Relay({
    place: () => ({ room: "room1", me: me! }),
    members,
    seen: new SeenWindow(),
    recent,
    links: () => links,
    lookUp: () => Promise.resolve(void lookUps++),
    emit: (e) => void events.push(e),
    report: (_key, type, message) => void events.push({ type, message }),
    track: (p) => tasks.track(p),
  }, { maxTextRate, textBurst: 2 });
  return { relay, links, events, recent, lookUps: () => lookUps };
}

function text(origin: Member & { hashId: bigint }, msgId: bigint, body: string): TextFrame {
  return {
    type: "T",
    room: "room1",
    originHid: origin.hashId.toString(),
    originName: origin.name,
    msgId,
    text: body,
  };
}

Deno.test("relay: a new message is written to every other link, then shown once; a copy is dropped", () => {
  const { relay, links, events, recent } = fixture();
  const frame = text(carol!, 1n, "hi");
  const raw = encodeFrame(frame);
  // From bob's link, originated by carol: not back to bob, not to carol (the origin).
  relay.receive(links[0]!, frame, raw);
  equal(links[0]!.written.length, 0);
  equal(links[1]!.written.length, 0);
  relay.receive(links[1]!, text(bob!, 1n, "from bob"), encodeFrame(text(bob!, 1n, "from bob")));
  equal(links[0]!.written.length, 0, "not to bob, the origin");
  deepEqual(events.filter((e) => e.type === "message").map((e) => (e as { text: string }).text), [
    "hi",
    "from bob",
  ]);
  relay.receive(links[1]!, frame, raw);
  equal(events.filter((e) => e.type === "message").length, 2);
  deepEqual(relay.counts, { sent: 0, delivered: 2, forwarded: 0, duplicates: 1 });
  equal(recent.frames().length, 2);
});

Deno.test("relay: a message from a third origin is forwarded to both links but the one it came on", () => {
  const { relay, links } = fixture();
  const [dave] = withHashIds([{ name: "dave", ip: "127.0.0.1", port: 4 }]);
  const frame = text(dave!, 5n, "from dave");
  relay.receive(links[0]!, frame, encodeFrame(frame));
  equal(links[0]!.written.length, 0);
  equal(links[1]!.written.length, 1);
  equal(relay.counts.forwarded, 1);
});

Deno.test("relay: my message gets the next msgID, is shown as mine and written to every link", () => {
  const { relay, links, events } = fixture();
  const before = relay.lastMsgId;
  relay.originate({ room: "room1", me: me! }, "a::\r\nb");
  equal(relay.lastMsgId, before + 1n);
  for (const link of links) {
    const frame = decodeFrame(link.written[0]!) as TextFrame;
    equal(frame.text, "a::\r\nb");
    equal(frame.msgId, relay.lastMsgId);
    equal(frame.originName, "me");
  }
  deepEqual(events.map((e) => e.type === "message" && e.self), [true]);
  deepEqual(relay.counts, { sent: 1, delivered: 1, forwarded: 0, duplicates: 0 });
});

Deno.test("relay: another room's message is reported, not shown; an unknown origin is looked up once", () => {
  const { relay, links, events, lookUps } = fixture();
  const other = { ...text(bob!, 1n, "x"), room: "room2" };
  relay.receive(links[0]!, other, encodeFrame(other));
  match((events[0] as { message: string }).message, /for room room2 from bob: I am in room room1/);
  const stranger = { ...text(bob!, 2n, "y"), originHid: "42", originName: "who" };
  relay.receive(links[0]!, stranger, encodeFrame(stranger));
  relay.receive(links[0]!, { ...stranger, msgId: 3n }, encodeFrame({ ...stranger, msgId: 3n }));
  equal(lookUps(), 1);
});

Deno.test("relay: an origin over its rate is dropped (not shown, not forwarded) and reported once", () => {
  const { relay, links, events } = fixture(0.001);
  for (let i = 1n; i <= 5n; i++) {
    const frame = text(bob!, i, `m${i}`);
    relay.receive(links[0]!, frame, encodeFrame(frame));
  }
  equal(events.filter((e) => e.type === "message").length, 2, "the burst");
  equal(links[1]!.written.length, 2);
  equal(events.filter((e) => e.type === "error" && /^Dropping messages/.test(e.message)).length, 1);
});

Deno.test("relay: my text must have something besides blanks and fit maxTextBytes", () => {
  equal(textError("", 10)?.code, "empty-text");
  equal(textError(" \t ", 10)?.code, "empty-text");
  equal(textError(" a ", 10), null);
  equal(textError("é".repeat(5), 10), null);
  equal(textError("é".repeat(6), 10)?.message, "Message is 12 bytes, the limit is 10");
});
