import { deepEqual, equal } from "node:assert/strict";
import { clock, commandLine, eventTime, isChat } from "../peer/web/assets/lines.js";
import { hashOrder } from "../peer/web/assets/ring.js";

Deno.test("web lines: an event the page does not know is one Commands line of its fields", () => {
  deepEqual(commandLine({ type: "presence", name: "bob", online: true, since: [1, 2] }), {
    kind: "system",
    text: "presence, name bob, online true, since [1,2]",
  });
});

Deno.test("web lines: any event with a from and a text is a chat line (direct messages too)", () => {
  equal(isChat({ type: "message", from: "alice", text: "hi" }), true);
  equal(isChat({ type: "direct", from: "alice", to: "bob", text: "psst" }), true);
  equal(isChat({ type: "poke", from: "alice" }), false);
});

Deno.test("web lines: known events read as the terminal's lines", () => {
  deepEqual(commandLine({ type: "poke-ack", to: "bob" }), {
    kind: "system",
    text: "bob got your poke",
  });
  deepEqual(commandLine({ type: "error", message: "No member named x", code: "unknown-member" }), {
    kind: "error",
    text: "No member named x",
  });
  deepEqual(commandLine({ type: "rooms", rooms: ["a", "b"] }), {
    kind: "system",
    text: "Rooms: a, b",
  });
});

Deno.test("web lines: an event's own time is shown when it has one", () => {
  const at = new Date(2026, 0, 2, 3, 4, 5).getTime();
  equal(clock(eventTime({ type: "message", time: at })), "03:04:05");
  equal(clock(eventTime({ type: "message", at: new Date(at).toISOString() })), "03:04:05");
  const now = Date.now();
  const shown = eventTime({ type: "message" }).getTime();
  equal(shown >= now && shown < now + 1000, true);
});

Deno.test("web ring: members are drawn in ascending 64-bit HashID order", () => {
  const names = hashOrder([
    { name: "carol", hashId: "18077499783421377068" },
    { name: "carl", hashId: "18077499783421377067" },
    { name: "alice", hashId: "1419600254385803609" },
    { name: "bob", hashId: "7096407668745481807" },
  ]).map((node) => node.name);
  deepEqual(names, ["alice", "bob", "carl", "carol"]);
});

Deno.test("web lines: /history is one Commands line of the messages with their times", () => {
  const at = "2026-12-01T23:15:02.123Z";
  const line = commandLine({
    type: "history",
    room: "lobby",
    messages: [{ from: "bob", originHid: "2", msgId: "5", text: "hi", at, self: false }],
  });
  equal(line.text, `History of lobby: 1 messages · ${clock(new Date(at))} <bob> hi`);
  equal(line.kind, "system");
});
