import { deepEqual, equal } from "node:assert/strict";
import type { Member, MembersFrame } from "../lib/frames.ts";
import { hashId } from "../lib/sdbm.ts";
import type { PeerEvent } from "../peer/events.ts";
import { MemberUpdates } from "../peer/member_updates.ts";
import { RoomLife } from "../peer/room_life.ts";
import { Membership } from "../peer/membership.ts";
import type { Place } from "../peer/overlay.ts";

const alice: Member = { name: "alice", ip: "127.0.0.1", port: 5001 };
const bob: Member = { name: "bob", ip: "127.0.0.1", port: 5002 };
const place: Place = {
  room: "room1",
  me: { ...alice, hashId: hashId(alice.name, alice.ip, alice.port) },
};

function list(msid: bigint, ...members: Member[]): MembersFrame {
  return { type: "M", msid, members };
}

/** Member updates over a real membership view, recording what they ask of the rest. */
function setUp(joined: Place | null = place) {
  const calls: string[] = [];
  const events: PeerEvent[] = [];
  const clock = { now: 0 };
  const members = new Membership(1000);
  const updates = new MemberUpdates({
    members,
    life: new RoomLife(1000),
    seen: {
      setMembers: (keys) => calls.push(`origins ${[...keys].join(",")}`),
      changeMembers: (added, removed) =>
        calls.push(`origins +${[...added].join(",")} -${[...removed].join(",")}`),
      forget: (key) => calls.push(`forget ${key}`),
    },
    overlay: {
      dropAbsent: (now, room) => calls.push(`drop ${now} ${room}`),
      reauthenticate: () => calls.push("reauthenticate"),
      relink: () => calls.push("relink"),
      membersEvent: () => ({
        type: "members",
        msid: String(members.msid),
        members: members.infos(),
      }),
    },
    place: () => joined,
    emit: (event) => events.push(event),
    now: () => clock.now,
  });
  return { calls, events, clock, members, updates };
}

Deno.test("member updates: a list sets the origins and forgets members gone for the grace", () => {
  const { calls, clock, updates } = setUp();
  equal(updates.set(list(1n, alice, bob)), true);
  equal(updates.set(list(1n, alice, bob)), false, "the same list");
  clock.now = 100;
  equal(updates.set(list(2n, alice)), true);
  clock.now = 1200;
  updates.set(list(2n, alice));
  const bobHid = hashId(bob.name, bob.ip, bob.port).toString();
  deepEqual(calls.filter((call) => call.startsWith("forget")), [
    `forget ${bobHid}`,
    "forget bob",
  ]);
  equal(calls.at(-3), `origins ${hashId(alice.name, alice.ip, alice.port)},alice`);
});

Deno.test("member updates: a changed list while joined is shown and relinks; the same one is not", () => {
  const { calls, events, clock, updates } = setUp();
  clock.now = 7;
  updates.onMembers(list(1n, alice, bob));
  deepEqual(calls.filter((call) => !call.startsWith("origins")), [
    "drop 7 room1",
    "reauthenticate",
    "relink",
  ]);
  deepEqual(events.map((event) => event.type === "members" && event.members.length), [2]);
  calls.length = 0;
  updates.onMembers(list(1n, alice, bob));
  deepEqual(calls.filter((call) => !call.startsWith("origins")), [
    "drop 7 room1",
    "reauthenticate",
  ]);
  equal(events.length, 1, "an unchanged list is not shown again");
});

Deno.test("member updates: a list before I am joined is ignored", () => {
  const { calls, events, members, updates } = setUp(null);
  updates.onMembers(list(1n, alice, bob));
  deepEqual([calls, events, members.members.length], [[], [], 0]);
});

Deno.test("member updates: member info for my list is shown; for another room it is ignored", () => {
  const { calls, events, members, updates } = setUp();
  updates.set(list(1n, alice, bob));
  const info = { msid: 1n, members: [{ ...bob, key: null }] };
  updates.onMemberInfo({ room: "elsewhere", ...info });
  deepEqual([calls.includes("reauthenticate"), events.length], [false, 0]);
  updates.onMemberInfo({ room: "room1", ...info });
  deepEqual([calls.at(-1), events.map((event) => event.type)], ["reauthenticate", ["members"]]);
  equal(members.speaksRingchat(bob), true);
  updates.onMemberInfo({ room: "room1", ...info });
  equal(events.length, 1, "the same info changes nothing shown");
});

Deno.test("member updates: member info for the next list is kept, not shown, and links re-prove", () => {
  const { calls, events, updates } = setUp();
  updates.set(list(1n, alice, bob));
  updates.onMemberInfo({ room: "room1", msid: 2n, members: [{ ...bob, key: null }] });
  deepEqual([calls.at(-1), events.length], ["reauthenticate", 0]);
});
