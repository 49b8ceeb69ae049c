import { deepEqual, equal, ok } from "node:assert/strict";
import type { Member, MembersFrame } from "../lib/frames.ts";
import { hashId } from "../lib/sdbm.ts";
import { Membership, sameMember } from "../peer/membership.ts";
import { ringOrder } from "../lib/ring.ts";

const alice: Member = { name: "alice", ip: "127.0.0.1", port: 5001 };
const bob: Member = { name: "bob", ip: "127.0.0.1", port: 5002 };
const carol: Member = { name: "carol", ip: "127.0.0.1", port: 5003 };

function list(msid: bigint, ...members: Member[]): MembersFrame {
  return { type: "M", msid, members };
}

function hid(m: Member): string {
  return hashId(m.name, m.ip, m.port).toString();
}

Deno.test("membership: takes a list, with HashIDs, and tells a changed list from the same", () => {
  const view = new Membership(1000);
  equal(view.msid, 0n);
  equal(view.set(list(1n, bob, alice), 0).changed, true);
  deepEqual(view.members.map((m) => [m.name, m.hashId]), [
    ["bob", hashId("bob", "127.0.0.1", 5002)],
    ["alice", hashId("alice", "127.0.0.1", 5001)],
  ]);
  equal(view.msid, 1n);
  equal(view.set(list(1n, bob, alice), 10).changed, false);
  equal(view.set(list(2n, bob, alice), 20).changed, true, "a new MSID");
  equal(view.set(list(2n, alice), 30).changed, true, "other members");
  deepEqual(view.infos(), [{ name: "alice", ip: "127.0.0.1", port: 5001, hashId: hid(alice) }]);
});

Deno.test("membership: finds a member exactly, or by name and port whatever the ip", () => {
  const view = new Membership(1000);
  view.set(list(1n, alice, bob), 0);
  equal(view.find(bob)?.name, "bob");
  equal(view.find({ ...bob, ip: "localhost" })?.name, "bob");
  equal(view.find({ ...bob, port: 1 }), undefined);
  equal(view.named("alice")?.port, 5001);
  equal(view.named("nobody"), undefined);
  ok(view.hasAddress("127.0.0.1", 5001, "x"));
  ok(view.hasAddress("10.0.0.9", 5002, "bob"));
  ok(!view.hasAddress("10.0.0.9", 5002, "mallory"));
  ok(view.hasOthers(alice));
  view.set(list(2n, alice), 0);
  ok(!view.hasOthers(alice));
  ok(sameMember(alice, { ...alice }));
  ok(!sameMember(alice, { ...alice, ip: "localhost" }));
});

Deno.test("membership: knows its members' origins, by HashID and by name", () => {
  const view = new Membership(1000);
  view.set(list(1n, alice), 0);
  ok(view.knownOrigin(hid(alice)));
  ok(view.knownOrigin("alice"), "by name, for clients that put it in originHID");
  ok(!view.knownOrigin("999"));
  view.set(list(2n, alice, bob), 20);
  deepEqual([...view.originKeys].sort(), [hid(alice), hid(bob), "alice", "bob"].sort());
});

Deno.test("membership: forgets a departed member's origins only after the grace time", () => {
  const view = new Membership(1000);
  view.set(list(1n, bob, alice), 0);
  deepEqual(view.set(list(2n, alice), 100).forget, []);
  deepEqual(view.set(list(2n, alice), 600).forget, []);
  deepEqual(view.set(list(2n, alice), 1100), { changed: false, forget: [hid(bob), "bob"] });
  deepEqual(view.set(list(2n, alice), 5000).forget, [], "forgotten once");
});

Deno.test("membership: a member back in time is not forgotten, nor a name still listed", () => {
  const view = new Membership(1000);
  view.set(list(1n, bob, alice), 0);
  view.set(list(2n, alice), 100);
  view.set(list(3n, bob, alice), 500);
  deepEqual(view.set(list(3n, bob, alice), 2000).forget, []);
  // bob restarted on another port: his old HashID goes, his name stays.
  const bob2 = { ...bob, port: 6000 };
  view.set(list(4n, bob2, alice), 3000);
  deepEqual(view.set(list(4n, bob2, alice), 4000).forget, [hid(bob)]);
});

Deno.test("membership: links to a member missing for the grace time are to close, not before", () => {
  const view = new Membership(1000);
  view.set(list(1n, alice), 0);
  const linked = [{ ...bob }, { ...carol }];
  deepEqual(view.absentLinks(linked, 0), []);
  deepEqual(view.absentLinks(linked, 999), []);
  // carol comes back meanwhile: her clock restarts.
  view.set(list(2n, carol, alice), 500);
  deepEqual(view.absentLinks(linked, 1000), [linked[0]]);
  // bob's link closed; carol goes missing again.
  const left = [linked[1]!];
  view.set(list(3n, alice), 1100);
  deepEqual(view.absentLinks(left, 1200), []);
  deepEqual(view.absentLinks(left, 2199), []);
  deepEqual(view.absentLinks(left, 2200), left);
});

Deno.test("membership: tells who a list after my first brought, and since when", () => {
  const view = new Membership(1000);
  view.set(list(1n, alice, bob), 0);
  equal(view.listedSince(alice), null, "on my first list: there before me");
  view.set(list(2n, carol, alice, bob), 10);
  equal(view.listedSince(carol), 10, "joined after me");
  view.set(list(3n, carol, alice), 20);
  equal(view.listedSince(carol), 10, "kept while listed");
  equal(view.listedSince(bob), null, "not listed");
  view.set(list(4n, bob, carol, alice), 30);
  equal(view.listedSince(bob), 30, "listed again: new again");
  equal(view.listedSince(alice), null);
});

Deno.test("membership: a member listed again keeps its entry; the ring is the list sorted, once per list", () => {
  const view = new Membership(1000);
  view.set(list(1n, carol, alice), 0);
  const [carolBefore] = view.members;
  const ring = view.ring;
  deepEqual(ring.map((m) => m.name), ringOrder([carol, alice], alice).map((m) => m.name));
  equal(view.ring, ring, "asked again for one list: the same ring");
  view.set(list(2n, bob, carol, alice), 10);
  equal(view.members[1], carolBefore, "carol was listed before: not hashed again");
  deepEqual(view.members.map((m) => m.hashId), [bob, carol, alice].map((m) => BigInt(hid(m))));
  deepEqual(view.ring.map((m) => m.name), ringOrder([bob, carol, alice], bob).map((m) => m.name));
  // A departure found by key still starts the grace time, and a return ends it.
  view.set(list(3n, bob, alice), 20);
  deepEqual(view.set(list(4n, bob, alice), 1020).forget, [hid(carol), "carol"]);
});
