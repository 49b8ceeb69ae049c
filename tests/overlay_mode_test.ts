import assert from "node:assert/strict";
import { messageMode, seedLinks } from "../lib/overlay_mode.ts";
import type { Member } from "../lib/frames.ts";

const alice: Member = { name: "alice", ip: "127.0.0.1", port: 50001 };
const bob: Member = { name: "bob", ip: "127.0.0.1", port: 50002 };
const carol: Member = { name: "carol", ip: "127.0.0.1", port: 50003 };
const speaks = (names: string[]) => (m: Member) => names.includes(m.name);

Deno.test("overlay mode: the tree only when every member speaks ringchat/2", () => {
  assert.equal(messageMode([alice, bob, carol], speaks(["alice", "bob", "carol"])), "tree");
  assert.equal(messageMode([alice, bob, carol], speaks(["alice", "bob"])), "ring");
  assert.equal(messageMode([alice, bob, carol], () => false), "ring");
  assert.equal(messageMode([alice], () => true), "ring");
});

Deno.test("overlay mode: a tree message is also written as T to ring links of seed clients", () => {
  assert.deepEqual(seedLinks([bob, carol], speaks(["alice", "bob"])), [carol]);
  assert.deepEqual(seedLinks([bob, carol], () => true), []);
});
