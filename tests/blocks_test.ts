import { deepEqual, equal, rejects } from "node:assert/strict";
import { tempDbPath } from "./support/temp_db.ts";
import {
  type Action,
  Blocks,
  broadcastAudience,
  HIDING_ACTIONS,
  permits,
  refusalOf,
  REFUSED_ACTIONS,
  showsRoomMessage,
} from "../registry/blocks.ts";
import { SqlitePeopleStore } from "../registry/people_db.ts";
import { Presence } from "../registry/presence.ts";

const EVERYONE = { isRegistered: () => true };
const ACTIONS: Action[] = [...HIDING_ACTIONS, ...REFUSED_ACTIONS];

async function bobBlocksMallory() {
  const store = SqlitePeopleStore.open(":memory:");
  const blocks = await Blocks.open(store);
  deepEqual(await blocks.block("bob", "mallory", EVERYONE, 1), {
    ok: true,
    name: "mallory",
    changed: true,
  });
  return { store, blocks, [Symbol.dispose]: () => store.close() };
}

Deno.test("blocks: the issue's rules, each refused to the blocked user and only to her", async () => {
  using t = await bobBlocksMallory();
  deepEqual(ACTIONS.sort(), [
    "broadcast",
    "dm",
    "find",
    "get-address",
    "invite",
    "mail",
    "poke",
    "see-presence",
  ]);
  for (const action of ACTIONS) {
    equal(permits(t.blocks, action, "mallory", "bob"), false, `mallory may not ${action} bob`);
    equal(permits(t.blocks, action, "alice", "bob"), true, `alice may ${action} bob`);
    // One way, as in seed 003.
    equal(permits(t.blocks, action, "bob", "mallory"), true, `bob may ${action} mallory`);
  }
  equal(permits(t.blocks, "dm", "bob", "bob"), true);
});

Deno.test("blocks: seeing is hidden, reaching is refused with `blocked`", () => {
  for (const action of ["see-presence", "find", "broadcast"] as const) {
    equal(refusalOf(action), "hide");
  }
  for (const action of ["get-address", "dm", "mail", "poke", "invite"] as const) {
    equal(refusalOf(action), "refuse");
  }
});

Deno.test("blocks: bob's peer hides mallory's room messages; nobody else's peer does", async () => {
  using t = await bobBlocksMallory();
  equal(showsRoomMessage(t.blocks, "bob", "mallory"), false);
  equal(showsRoomMessage(t.blocks, "alice", "mallory"), true);
  equal(showsRoomMessage(t.blocks, "mallory", "bob"), true);
});

Deno.test("blocks: a broadcast reaches every online user once except the sender and who blocks her", async () => {
  using t = await bobBlocksMallory();
  deepEqual(
    broadcastAudience(t.blocks, "mallory", ["alice", "bob", "mallory", "carol", "alice"]).sort(),
    ["alice", "carol"],
  );
  deepEqual(broadcastAudience(t.blocks, "bob", ["alice", "mallory", "bob"]).sort(), [
    "alice",
    "mallory",
  ]);
});

Deno.test("blocks: mallory does not see bob online, cannot find him, is not told of his changes", async () => {
  using t = await bobBlocksMallory();
  const registered = {
    isRegistered: (name: string) => ["bob", "mallory", "dave"].includes(name),
    registeredNames: () => ["bob", "dave", "mallory"],
  };
  const presence = new Presence();
  presence.enterRoom("bob", "room1");
  presence.enterRoom("alice", "room1");
  presence.login("mallory");
  deepEqual(presence.online("mallory", registered, t.blocks).users.map((u) => u.name), [
    "alice",
    "dave",
  ]);
  deepEqual(presence.online("alice", registered, t.blocks).users.map((u) => u.name), [
    "bob",
    "dave",
    "mallory",
  ]);
  deepEqual(presence.search("mallory", "bob", registered, t.blocks), {
    name: "bob",
    result: "not-found",
  });
  deepEqual(presence.search("alice", "bob", registered, t.blocks), {
    name: "bob",
    result: "found",
    state: "online",
    room: "room1",
  });
  const change = presence.setAway("bob", true)!;
  deepEqual(presence.audience(change, ["alice", "mallory", "bob"], t.blocks), ["alice"]);
  // Bob still sees mallory: blocking is one way.
  equal(presence.search("bob", "mallory", registered, t.blocks).result, "found");
});

Deno.test("blocks: unblock restores every rule", async () => {
  using t = await bobBlocksMallory();
  deepEqual(await t.blocks.unblock("bob", "mallory"), { ok: true, name: "mallory", changed: true });
  deepEqual(await t.blocks.unblock("bob", "mallory"), {
    ok: true,
    name: "mallory",
    changed: false,
  });
  for (const action of ACTIONS) equal(permits(t.blocks, action, "mallory", "bob"), true);
  deepEqual(await t.store.blocks(), []);
});

Deno.test("blocks: only another registered name can be blocked, up to maxPerUser", async () => {
  const store = SqlitePeopleStore.open(":memory:");
  try {
    const blocks = await Blocks.open(store, { maxPerUser: 2 });
    const accounts = { isRegistered: (name: string) => name !== "ghost" };
    deepEqual(await blocks.block("bob", "ghost", accounts, 0), { ok: false, code: "unknown-user" });
    deepEqual(await blocks.block("bob", "bob", accounts, 0), { ok: false, code: "self" });
    equal((await blocks.block("bob", "m1", accounts, 0)).ok, true);
    deepEqual(await blocks.block("bob", "m1", accounts, 0), {
      ok: true,
      name: "m1",
      changed: false,
    });
    equal((await blocks.block("bob", "m2", accounts, 0)).ok, true);
    deepEqual(await blocks.block("bob", "m3", accounts, 0), { ok: false, code: "too-many-blocks" });
    deepEqual(blocks.listOf("bob"), ["m1", "m2"]);
    await rejects(() => Blocks.open(store, { maxPerUser: 0 }), RangeError);
  } finally {
    store.close();
  }
});

Deno.test("blocks: survive a restart (reopening the file)", async () => {
  await using db = await tempDbPath();
  const path = db.path;
  {
    using store = SqlitePeopleStore.open(path);
    const blocks = await Blocks.open(store);
    await blocks.block("bob", "mallory", EVERYONE, 1);
    await blocks.block("bob", "trudy", EVERYONE, 2);
    await blocks.unblock("bob", "trudy");
  }
  using store = SqlitePeopleStore.open(path);
  const blocks = await Blocks.open(store);
  equal(blocks.has("bob", "mallory"), true);
  equal(blocks.has("bob", "trudy"), false);
  equal(permits(blocks, "poke", "mallory", "bob"), false);
});

Deno.test("blocks: a store that fails leaves memory as it was", async () => {
  using t = await bobBlocksMallory();
  t.store.close();
  await rejects(() => t.blocks.block("bob", "trudy", EVERYONE, 2));
  equal(t.blocks.has("bob", "trudy"), false);
  await rejects(() => t.blocks.unblock("bob", "mallory"));
  equal(t.blocks.has("bob", "mallory"), true);
});
