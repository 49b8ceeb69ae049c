import assert from "node:assert/strict";
import type { PeerEvent } from "../peer/events.ts";
import { JsonUi } from "../peer/ui/json.ts";
import { describeEvent, PlainUi, printable } from "../peer/ui/plain.ts";

const ALICE = { name: "alice", ip: "127.0.0.1", port: 4001, hashId: "11" };
const BOB = { name: "bob", ip: "127.0.0.1", port: 4002, hashId: "22" };
const CAROL = { name: "carol", ip: "127.0.0.1", port: 4003, hashId: "33" };

/** One of every kind of event. */
const EVERY_EVENT: PeerEvent[] = [
  { type: "ready", port: 4001 },
  { type: "named", name: "alice" },
  { type: "rooms", rooms: ["lobby", "games"] },
  { type: "joined", room: "lobby", members: [ALICE, BOB] },
  { type: "members", msid: "7", members: [ALICE, BOB, CAROL], forward: "bob", backward: ["carol"] },
  { type: "link", direction: "forward", state: "up", peer: BOB },
  { type: "link", direction: "backward", state: "down", peer: CAROL },
  {
    type: "message",
    room: "lobby",
    from: "bob",
    originHid: "22",
    msgId: "1",
    text: "hi: there",
    self: false,
  },
  { type: "poke", from: "bob" },
  { type: "poke-ack", to: "bob" },
  { type: "poke-timeout", to: "carol" },
  { type: "links", forward: BOB, backward: [CAROL] },
  { type: "info", message: "Retrying the forward link" },
  { type: "error", message: "Join needs a name" },
  { type: "quit" },
];

function capture(): { lines: string[]; write: (line: string) => void } {
  const lines: string[] = [];
  return { lines, write: (line) => void lines.push(line) };
}

Deno.test("json ui: one JSON object per event, the event as it is", () => {
  const out = capture();
  const ui = new JsonUi({ write: out.write });
  for (const event of EVERY_EVENT) ui.render(event);
  assert.deepEqual(out.lines.length, EVERY_EVENT.length);
  for (const [i, line] of out.lines.entries()) {
    assert(!line.includes("\n"));
    assert.deepEqual(JSON.parse(line), EVERY_EVENT[i]);
  }
});

Deno.test("json ui: a message with line breaks stays on one line", () => {
  const out = capture();
  const event: PeerEvent = {
    type: "message",
    room: "r",
    from: "a",
    originHid: "1",
    msgId: "2",
    text: "x::\r\ny",
    self: true,
  };
  new JsonUi({ write: out.write }).render(event);
  assert.deepEqual(out.lines.length, 1);
  assert.deepEqual(JSON.parse(out.lines[0]!), event);
});

Deno.test("json ui: /help is an info event listing the commands", () => {
  const out = capture();
  new JsonUi({ write: out.write }).help();
  assert.deepEqual(out.lines.length, 1);
  const event = JSON.parse(out.lines[0]!);
  assert.deepEqual(event.type, "info");
  for (const command of ["/user", "/join", "/send", "/poke", "/who", "/links", "/quit"]) {
    assert(event.message.includes(command), command);
  }
});

Deno.test("plain ui: one line per event, every kind rendered", () => {
  const out = capture();
  const ui = new PlainUi({ write: out.write });
  for (const event of EVERY_EVENT) ui.render(event);
  assert.deepEqual(out.lines.length, EVERY_EVENT.length);
  for (const line of out.lines) {
    assert(line.length > 3 && !line.includes("\n"), line);
    assert.match(line, /^(-- |!! |<)/);
  }
});

Deno.test("plain ui: chat lines and system lines look different", () => {
  const chat = describeEvent(EVERY_EVENT[7]!);
  assert.deepEqual(chat.kind, "chat");
  assert.deepEqual(chat.text, "<bob> hi: there");
  assert.deepEqual(describeEvent({ type: "named", name: "alice" }).text, "-- You are alice");
  assert.deepEqual(describeEvent({ type: "error", message: "Nope" }), {
    kind: "error",
    text: "!! Nope",
  });
});

Deno.test("plain ui: /who marks me and my forward and backward links", () => {
  const line = describeEvent(EVERY_EVENT[4]!, { name: "alice", room: "lobby" }).text;
  assert.match(line, /^-- lobby: 3 members: /);
  assert.match(line, /alice 127\.0\.0\.1:4001 \[you\]/);
  assert.match(line, /bob 127\.0\.0\.1:4002 \[forward\]/);
  assert.match(line, /carol 127\.0\.0\.1:4003 \[backward\]/);
});

Deno.test("plain ui: the name from a named event marks me in later lists", () => {
  const out = capture();
  const ui = new PlainUi({ write: out.write });
  ui.render({ type: "named", name: "bob" });
  ui.render({ type: "joined", room: "lobby", members: [ALICE, BOB] });
  assert.match(out.lines[1]!, /^-- Joined lobby; 2 members: .*bob 127\.0\.0\.1:4002 \[you\]/);
});

Deno.test("plain ui: links, pokes and quit read as sentences", () => {
  const text = (event: PeerEvent) => describeEvent(event).text;
  assert.deepEqual(
    text({ type: "links", forward: null, backward: [] }),
    "-- Links: forward none; backward none",
  );
  assert.deepEqual(
    text(EVERY_EVENT[11]!),
    "-- Links: forward bob (127.0.0.1:4002); backward carol (127.0.0.1:4003)",
  );
  assert.deepEqual(text(EVERY_EVENT[5]!), "-- Forward link to bob (127.0.0.1:4002) up");
  assert.deepEqual(text({ type: "poke", from: "bob" }), "-- bob poked you");
  assert.deepEqual(describeEvent({ type: "poke", from: "bob" }).kind, "alert");
  assert.deepEqual(text({ type: "poke-ack", to: "bob" }), "-- bob got your poke");
  assert.deepEqual(describeEvent({ type: "poke-timeout", to: "carol" }).kind, "error");
  assert.deepEqual(text({ type: "rooms", rooms: [] }), "-- No rooms yet");
  assert.match(text({ type: "quit" }), /^-- Quit/);
});

Deno.test("plain ui: control characters from the network are escaped", () => {
  assert.deepEqual(printable("a::\r\nb\x1b[2J\\"), "a::\\r\\nb\\x1b[2J\\\\");
  assert.deepEqual(printable("tab\tok: é"), "tab\tok: é");
  const line = describeEvent({
    type: "message",
    room: "r",
    from: "ev\x1bil",
    originHid: "1",
    msgId: "1",
    text: "x::\r\n",
    self: false,
  });
  assert.deepEqual(line.text, "<ev\\x1bil> x::\\r\\n");
});

Deno.test("plain ui: /help lists the commands on system lines", () => {
  const out = capture();
  new PlainUi({ write: out.write }).help();
  assert(out.lines.length >= 9);
  for (const line of out.lines) assert(line.startsWith("-- "), line);
  assert(out.lines.some((line) => line.includes("/poke [NAME]")));
});
