import { deepEqual, equal } from "node:assert/strict";
import { Presence } from "../registry/presence.ts";

const NO_BLOCKS = { has: () => false };

function registeredOf(...names: string[]) {
  return {
    isRegistered: (name: string) => names.includes(name),
    registeredNames: () => [...names].sort(),
  };
}

Deno.test("presence: online when logged in or in a room, away when said, offline when registered", () => {
  const presence = new Presence();
  const registered = registeredOf("bob", "dave");
  equal(presence.entry("alice", registered), undefined);
  deepEqual(presence.entry("dave", registered), { name: "dave", state: "offline" });
  deepEqual(presence.login("bob"), { name: "bob", state: "online" });
  deepEqual(presence.enterRoom("bob", "room1"), { name: "bob", state: "online", room: "room1" });
  deepEqual(presence.setAway("bob", true), { name: "bob", state: "away", room: "room1" });
  deepEqual(presence.leaveRoom("bob", "room1"), { name: "bob", state: "away" });
  deepEqual(presence.logout("bob"), { name: "bob", state: "offline" });
  // Going offline forgets away.
  presence.login("bob");
  deepEqual(presence.entry("bob"), { name: "bob", state: "online" });
  // A seed client in a room, never logged in, is online too.
  deepEqual(presence.enterRoom("alice", "room2"), {
    name: "alice",
    state: "online",
    room: "room2",
  });
});

Deno.test("presence: a change that changes nothing visible is not pushed", () => {
  const presence = new Presence();
  presence.enterRoom("bob", "room1");
  equal(presence.login("bob"), null);
  equal(presence.setAway("bob", false), null);
  equal(presence.setAway("nobody", true), null);
  equal(presence.leaveRoom("nobody", "room1"), null);
  equal(presence.logout("nobody"), null);
  equal(presence.liveCount, 1);
});

Deno.test("presence: a name in two rooms stays in a room until it has left both", () => {
  const presence = new Presence();
  presence.enterRoom("eve", "room1");
  deepEqual(presence.enterRoom("eve", "room2"), { name: "eve", state: "online", room: "room2" });
  presence.enterRoom("eve", "room2"); // a second member under the same name
  deepEqual(presence.leaveRoom("eve", "room2"), null);
  deepEqual(presence.leaveRoom("eve", "room2"), { name: "eve", state: "online", room: "room1" });
  deepEqual(presence.leaveRoom("eve", "room1"), { name: "eve", state: "offline" });
  equal(presence.liveCount, 0);
});

Deno.test("presence: the online list has live and registered-offline users, not the viewer, sorted", () => {
  const presence = new Presence();
  presence.enterRoom("carol", "room1");
  presence.login("bob");
  presence.setAway("bob", true);
  presence.login("viewer");
  deepEqual(presence.online("viewer", registeredOf("bob", "dave", "viewer"), NO_BLOCKS), {
    users: [
      { name: "bob", state: "away" },
      { name: "carol", state: "online", room: "room1" },
      { name: "dave", state: "offline" },
    ],
    truncated: false,
  });
  deepEqual(presence.online("viewer", registeredOf("bob", "dave"), NO_BLOCKS, 2), {
    users: [
      { name: "bob", state: "away" },
      { name: "carol", state: "online", room: "room1" },
    ],
    truncated: true,
  });
});

Deno.test("presence: search finds with state and room, says not-found, and knows yourself", () => {
  const presence = new Presence();
  const registered = registeredOf("bob", "dave");
  presence.enterRoom("bob", "room1");
  presence.login("me");
  deepEqual(presence.search("me", "bob", registered, NO_BLOCKS), {
    name: "bob",
    result: "found",
    state: "online",
    room: "room1",
  });
  deepEqual(presence.search("me", "dave", registered, NO_BLOCKS), {
    name: "dave",
    result: "found",
    state: "offline",
  });
  deepEqual(presence.search("me", "zed", registered, NO_BLOCKS), {
    name: "zed",
    result: "not-found",
  });
  deepEqual(presence.search("me", "me", registered, NO_BLOCKS), {
    name: "me",
    result: "self",
    state: "online",
  });
});

Deno.test("presence: a change is told to every viewer once, never to its subject", () => {
  const presence = new Presence();
  const change = presence.login("bob")!;
  deepEqual(presence.audience(change, ["alice", "bob", "carol", "alice"], NO_BLOCKS), [
    "alice",
    "carol",
  ]);
});

Deno.test("presence: the online list of many accounts is the first page, merged with the live names", () => {
  const presence = new Presence();
  const names = Array.from({ length: 2000 }, (_, i) => `u${String(i).padStart(4, "0")}`);
  presence.enterRoom("u0001", "room1");
  presence.enterRoom("a-seed-client", "room1");
  const list = presence.online("u0000", registeredOf(...names), NO_BLOCKS, 1000);
  equal(list.truncated, true);
  equal(list.users.length, 1000);
  deepEqual(list.users.slice(0, 3), [
    { name: "a-seed-client", state: "online", room: "room1" },
    { name: "u0001", state: "online", room: "room1" },
    { name: "u0002", state: "offline" },
  ]);
  equal(list.users.at(-1)?.name, "u0999");
  equal(presence.online("u0000", registeredOf(...names), NO_BLOCKS, 5000).users.length, 2000);
});

Deno.test("presence: the online list stays sorted through joins, leaves and logins in any order", () => {
  const presence = new Presence();
  const none = { isRegistered: () => false, registeredNames: () => [] };
  for (const name of ["m", "c", "x", "a", "q"]) presence.enterRoom(name, "r");
  presence.leaveRoom("x", "r");
  presence.login("b");
  presence.enterRoom("x", "r");
  presence.leaveRoom("a", "r");
  deepEqual(presence.online("", none, NO_BLOCKS).users.map((u) => u.name), [
    "b",
    "c",
    "m",
    "q",
    "x",
  ]);
});

Deno.test("presence: names live through other registries count as live; this registry's own state wins; a registry's names go with it", () => {
  const presence = new Presence();
  const registered = registeredOf("bob");
  deepEqual(presence.remote("B", { name: "bob", state: "online", room: "r1" }), {
    name: "bob",
    state: "online",
    room: "r1",
  });
  equal(presence.holder("bob"), "B");
  // The same state told again, or by a second registry, changes nothing visible.
  equal(presence.remote("B", { name: "bob", state: "online", room: "r1" }), null);
  equal(presence.remote("C", { name: "bob", state: "away" }), null);
  deepEqual(presence.online("viewer", registered, NO_BLOCKS).users, [
    { name: "bob", state: "online", room: "r1" },
  ]);
  // Live here: this registry's state is the one shown, and no other registry holds him for it.
  deepEqual(presence.login("bob"), { name: "bob", state: "online" });
  equal(presence.holder("bob"), undefined);
  deepEqual(presence.localEntry("bob"), { name: "bob", state: "online" });
  deepEqual(presence.logout("bob"), { name: "bob", state: "online", room: "r1" });
  deepEqual(presence.localEntry("bob"), { name: "bob", state: "offline" });
  // B goes: C still has him (away); C goes: offline (registered).
  deepEqual(presence.dropRegistry("B"), [{ name: "bob", state: "away" }]);
  deepEqual(presence.remoteRegistries(), ["C"]);
  deepEqual(presence.remote("C", { name: "bob", state: "offline" }), {
    name: "bob",
    state: "offline",
  });
  deepEqual(presence.remoteRegistries(), []);
  deepEqual(presence.online("viewer", registered, NO_BLOCKS).users, [
    { name: "bob", state: "offline" },
  ]);
  equal(presence.search("viewer", "bob", registered, NO_BLOCKS).result, "found");
});

Deno.test("presence: a name held elsewhere only by seed connections is live but has no reachable holder", () => {
  const presence = new Presence();
  deepEqual(presence.remote("B", { name: "zed", state: "online", room: "r1" }, false), {
    name: "zed",
    state: "online",
    room: "r1",
  });
  equal(presence.holder("zed"), "B");
  equal(presence.reachableHolder("zed"), undefined);
  equal(presence.remote("C", { name: "zed", state: "online", room: "r2" }), null);
  equal(presence.reachableHolder("zed"), "C");
  // B says hello'd now; C's goes: B is reachable.
  presence.remote("B", { name: "zed", state: "online", room: "r1" });
  presence.remote("C", { name: "zed", state: "offline" });
  equal(presence.reachableHolder("zed"), "B");
  // Seed-only again, then gone and back: a name that went offline forgets it was seed-only.
  presence.remote("B", { name: "zed", state: "online", room: "r1" }, false);
  equal(presence.reachableHolder("zed"), undefined);
  presence.remote("B", { name: "zed", state: "offline" });
  presence.remote("B", { name: "zed", state: "online", room: "r1" });
  equal(presence.reachableHolder("zed"), "B");
});
