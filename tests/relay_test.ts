/** The relay on its own: fake links that record what is written to them. */
import { deepEqual, equal, match } from "node:assert/strict";
import { decodeFrame, encodeFrame, type Member, type TextFrame } from "../lib/frames.ts";
import { withHashIds } from "../lib/ring.ts";
import type { PeerEvent } from "../peer/events.ts";
import { RecentFrames, SeenWindow } from "../peer/flood.ts";
import type { Link } from "../peer/links.ts";
import { Membership } from "../peer/membership.ts";
import type { Refreshed } from "../peer/registry_client.ts";
import { Relay, textError } from "../peer/relay.ts";
import { TaskSet } from "../peer/tasks.ts";

const [me, bob, carol, dave] = withHashIds([
  { name: "me", ip: "127.0.0.1", port: 1 },
  { name: "bob", ip: "127.0.0.1", port: 2 },
  { name: "carol", ip: "127.0.0.1", port: 3 },
  { name: "dave", ip: "127.0.0.1", port: 4 },
]);

type FakeLink = Link & { written: Uint8Array[]; closed: string | null };

function fakeLink(peer: Member & { hashId: bigint }): FakeLink {
  const link = {
    peer,
    written: [] as Uint8Array[],
    closed: null as string | null,
    get open() {
      return link.closed === null;
    },
    send(bytes: Uint8Array) {
      link.written.push(bytes);
      return true;
    },
    close(reason: string) {
      link.closed = reason;
    },
  };
  return link as unknown as FakeLink;
}

function fixture(
  { maxTextRate = Infinity, maxLinkTextRate = Infinity, lookUp = "members" as Refreshed } = {},
) {
  const events: PeerEvent[] = [];
  const members = new Membership(1000);
  const list = [me!, bob!, carol!, dave!];
  members.set({ type: "M", msid: 1n, members: list }, 0);
  const seen = new SeenWindow();
  seen.setMembers(list.flatMap((m) => [m.hashId.toString(), m.name]));
  const links = [fakeLink(bob!), fakeLink(carol!)];
  const tasks = new TaskSet();
  let lookUps = 0;
  const recent = new RecentFrames(1000);
  const relay = new Relay({
    place: () => ({ room: "room1", me: me! }),
    members,
    seen,
    recent,
    links: () => links,
    lookUp: () => {
      lookUps++;
      return Promise.resolve(lookUp);
    },
    emit: (e) => void events.push(e),
    report: (_key, type, message) => void events.push({ type, message }),
    track: (p) => tasks.track(p),
  }, { maxTextRate, textBurst: 2, maxLinkTextRate, linkTextBurst: 3 });
  return { relay, links, events, recent, seen, tasks, lookUps: () => lookUps };
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
  deepEqual(relay.counts, { sent: 0, delivered: 2, forwarded: 0, duplicates: 1, refused: 0 });
  equal(recent.frames().length, 2);
});

Deno.test("relay: a message from a third origin is forwarded to both links but the one it came on", () => {
  const { relay, links } = fixture();
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
  deepEqual(relay.counts, { sent: 1, delivered: 1, forwarded: 0, duplicates: 0, refused: 0 });
});

Deno.test("relay: another room's message is reported, not shown; an unknown origin is looked up once", async () => {
  const { relay, links, events, lookUps, tasks } = fixture();
  const other = { ...text(bob!, 1n, "x"), room: "room2" };
  relay.receive(links[0]!, other, encodeFrame(other));
  match((events[0] as { message: string }).message, /for room room2 from bob: I am in room room1/);
  const stranger = { ...text(bob!, 2n, "y"), originHid: "42", originName: "who" };
  relay.receive(links[0]!, stranger, encodeFrame(stranger));
  relay.receive(links[0]!, { ...stranger, msgId: 3n }, encodeFrame({ ...stranger, msgId: 3n }));
  equal(lookUps(), 1);
  await tasks.drain();
  // Still unknown after the look-up: dropped, not shown, not forwarded, reported.
  equal(events.filter((e) => e.type === "message").length, 0);
  equal(links[1]!.written.length, 0);
  equal(relay.counts.refused, 2);
  match(
    (events.at(-1) as { message: string }).message,
    /^Dropped a message from who \(originHID 42\): not a member/,
  );
  // A later one waits for another look-up (they are throttled): it may have joined meanwhile.
  relay.receive(links[0]!, { ...stranger, msgId: 4n }, encodeFrame({ ...stranger, msgId: 4n }));
  equal(lookUps(), 2);
  await tasks.drain();
  equal(relay.counts.refused, 3);
});

Deno.test("relay: a message from a member that joined after my last list is shown once the look-up lists it", async () => {
  const { relay, links, events, seen, tasks } = fixture();
  const [erin] = withHashIds([{ name: "erin", ip: "127.0.0.1", port: 5 }]);
  const frame = text(erin!, 1n, "late joiner");
  relay.receive(links[0]!, frame, encodeFrame(frame));
  // The look-up's member list arrives before the waiting message is checked again.
  seen.setMembers([erin!.hashId.toString(), "erin", bob!.hashId.toString()]);
  await tasks.drain();
  deepEqual(events.filter((e) => e.type === "message").map((e) => e.text), ["late joiner"]);
  equal(links[1]!.written.length, 1);
});

Deno.test("relay: a text of an origin whose earlier texts wait for a look-up waits behind them", async () => {
  const { relay, links, events, seen, tasks } = fixture();
  const [erin] = withHashIds([{ name: "erin", ip: "127.0.0.1", port: 5 }]);
  const first = text(erin!, 1n, "first");
  relay.receive(links[0]!, first, encodeFrame(first));
  // Another member list (a keepalive) lists erin before the look-up answered.
  seen.setMembers([erin!.hashId.toString(), "erin", bob!.hashId.toString()]);
  const second = text(erin!, 2n, "second");
  relay.receive(links[0]!, second, encodeFrame(second));
  await tasks.drain();
  deepEqual(events.filter((e) => e.type === "message").map((e) => e.text), ["first", "second"]);
});

Deno.test("relay: with the registry unreachable, unknown origins are admitted provisionally, a bounded number", async () => {
  const { relay, links, events, seen, tasks } = fixture({ lookUp: "unreachable" });
  for (let i = 0; i < 100; i++) {
    const frame = { ...text(bob!, 1n, `from ${i}`), originHid: `${1000 + i}`, originName: `p${i}` };
    relay.receive(links[0]!, frame, encodeFrame(frame));
  }
  await tasks.drain();
  const shown = events.filter((e) => e.type === "message").length;
  equal(
    shown,
    64,
    "the provisional set (64 origins) fills, then refuses until its oldest is 5 s old",
  );
  equal(seen.provisionals, 64);
  equal(relay.counts.refused, 36);
  // The next member list makes them members, or departed members (for departedMs) if unlisted.
  seen.setMembers([bob!.hashId.toString(), "bob", "1000"]);
  equal(seen.provisionals, 0);
  equal(seen.isMember("1000"), true);
  equal(seen.isMember("1063"), true, "departed, kept as long as a member that left the list");
});

Deno.test("relay: a link over its rate is refused before anything is stored, and closed past a bound", () => {
  const { relay, links, seen } = fixture({ maxLinkTextRate: 0.001 });
  for (let i = 1n; i <= 6n; i++) {
    const frame = text(carol!, i, `m${i}`);
    relay.receive(links[0]!, frame, encodeFrame(frame));
  }
  equal(relay.counts.delivered, 3, "the link's burst");
  equal(seen.entries, 3, "nothing stored past it");
  equal(links[0]!.closed, null, "3 refused: not yet past the bound");
  const frame = text(carol!, 7n, "m7");
  relay.receive(links[0]!, frame, encodeFrame(frame));
  match(links[0]!.closed ?? "", /more than 0.001 per second \(burst 3\), 4 over/);
  // Copies cost no tokens.
  const copy = text(carol!, 1n, "m1");
  relay.receive(links[1]!, copy, encodeFrame(copy));
  equal(relay.counts.duplicates, 1);
});

Deno.test("relay: an origin over its rate is dropped (not shown, not forwarded) and reported once", () => {
  const { relay, links, events } = fixture({ maxTextRate: 0.001 });
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
