import { equal, ok, throws } from "node:assert/strict";
import { hashId } from "../lib/sdbm.ts";
import { PeerError } from "../peer/errors.ts";
import {
  type CommandName,
  need,
  NEEDS,
  type PeerStatus,
  publicState,
  stillRunning,
} from "../peer/state.ts";

const me = { name: "alice", ip: "127.0.0.1", port: 1, hashId: hashId("alice", "127.0.0.1", 1) };
const done = Promise.resolve();
const STATES: PeerStatus[] = [
  { code: "START" },
  { code: "NAMED", name: "alice" },
  { code: "JOINING", name: "alice", room: "r1", done },
  { code: "JOINED", name: "alice", room: "r1", me },
  { code: "QUITTING", done },
  { code: "QUIT" },
];

function code(status: PeerStatus, command: CommandName): string {
  try {
    need(status, command);
    return "ok";
  } catch (error) {
    ok(error instanceof PeerError);
    match(error.message);
    return error.code;
  }
}

function match(message: string): void {
  ok(/^[A-Z].*[^.]$/.test(message), message);
}

Deno.test("state: each command runs in its states and fails with why in the others", () => {
  const table = Object.fromEntries(
    (Object.keys(NEEDS) as CommandName[]).map((c) => [c, STATES.map((s) => code(s, c)).join(" ")]),
  );
  // START NAMED JOINING JOINED QUITTING QUIT
  equal(table.user, "ok ok already-joined already-joined quit quit");
  equal(table.join, "no-name ok already-joined already-joined quit quit");
  equal(table.list, "ok ok ok ok quit quit");
  equal(table.send, "not-joined not-joined not-joined ok quit quit");
  equal(table.poke, "not-joined not-joined not-joined ok quit quit");
  equal(table.who, "not-joined not-joined not-joined ok quit quit");
  equal(table.links, "ok ok ok ok quit quit");
  equal(table.stats, "ok ok ok ok ok ok");
});

Deno.test("state: the guard hands the command its state's data", () => {
  const joined = need(STATES[3]!, "send");
  equal(joined.room, "r1");
  equal(joined.me.name, "alice");
  equal(need(STATES[1]!, "join").name, "alice");
  throws(() => need(STATES[3]!, "join"), {
    code: "already-joined",
    message: "Already joined room r1",
  });
  throws(() => need(STATES[0]!, "send"), { message: "Join a room before sending" });
});

Deno.test("state: the public names are START, NAMED, JOINING, JOINED or CONNECTED, QUIT", () => {
  equal(STATES.map((s) => publicState(s, false)).join(" "), "START NAMED JOINING JOINED QUIT QUIT");
  equal(publicState(STATES[3]!, true), "CONNECTED");
  equal(publicState(STATES[1]!, true), "NAMED");
});

Deno.test("state: stillRunning passes a running peer and fails a quitting one with quit", () => {
  for (const s of STATES.slice(0, 4)) stillRunning(s);
  for (const s of STATES.slice(4)) throws(() => stillRunning(s), { code: "quit" });
});
