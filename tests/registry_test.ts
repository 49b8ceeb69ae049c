import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import { decodeFrame, type MembersFrame, msidOf } from "../lib/frames.ts";
import { REGISTRY_MAX_FRAME_BYTES } from "../lib/limits.ts";
import { type RegistryOptions, startRegistry } from "../registry/registry.ts";
import { Rooms } from "../registry/rooms.ts";
import { RawClient } from "./support/raw_client.ts";

const ALICE = "alice:127.0.0.1:50001";
const BOB = "bob:127.0.0.1:50002";
const CAROL = "carol:127.0.0.1:50003";

const JOIN_WRONG_FORMAT = "F:JOIN message - Wrong format!!::\r\n";
const JOIN_OTHER_ROOM = "F:JOIN message - Already joined another chatroom!!::\r\n";
const LIST_WRONG_FORMAT = "F:LIST message - Wrong format!!::\r\n";
const UNKNOWN_REQUEST = "F:Unknown message - Unknown request!!::\r\n";
const NAME_IN_USE = "F:JOIN message - Name already in use in this chatroom!!::\r\n";
const MEMBER_HELD = "F:JOIN message - Member held by another connection!!::\r\n";
const DEPART_NOT_OWNER = "F:DEPART message - Not a member joined on this connection!!::\r\n";

function start(options: RegistryOptions = {}) {
  return startRegistry({ hostname: "127.0.0.1", port: 0, ...options });
}

function join(room: string, member: string): string {
  return `J:${room}:${member}::\r\n`;
}

/** Polls `condition` until it holds, failing after `timeoutMs`. */
async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function members(reply: string): string[] {
  const frame = decodeFrame(new TextEncoder().encode(reply)) as MembersFrame;
  equal(frame.type, "M");
  return frame.members.map((m) => `${m.name}:${m.ip}:${m.port}`);
}

Deno.test("registry: answers LIST with G::\\r\\n when there are no rooms", async () => {
  await using registry = await start();
  await using client = await RawClient.connect(registry.port);
  equal(await client.request("L::\r\n"), "G::\r\n");
});

Deno.test("registry: answers a first JOIN with the new room's only member and its MSID", async () => {
  await using registry = await start();
  await using client = await RawClient.connect(registry.port);
  equal(
    await client.request(join("room1", ALICE)),
    "M:6873446321337136987:alice:127.0.0.1:50001::\r\n",
  );
  deepEqual(registry.stats(), { connections: 1, rooms: 1, members: 1 });
});

Deno.test("registry: lists members newest join first with the reference's exact bytes", async () => {
  await using registry = await start();
  await using alice = await RawClient.connect(registry.port);
  await using bob = await RawClient.connect(registry.port);
  await using carol = await RawClient.connect(registry.port);
  await alice.request(join("room1", ALICE));
  equal(
    await bob.request(join("room1", BOB)),
    "M:2909318189333896768:bob:127.0.0.1:50002:alice:127.0.0.1:50001::\r\n",
  );
  const expected =
    "M:9774350085627291144:carol:127.0.0.1:50003:bob:127.0.0.1:50002:alice:127.0.0.1:50001::\r\n";
  equal(await carol.request(join("room1", CAROL)), expected);
  // A keepalive renews without reordering: the same bytes for everyone.
  equal(await alice.request(join("room1", ALICE)), expected);
  equal(await bob.request(join("room1", BOB)), expected);
});

Deno.test("registry: answers LIST with rooms newest first", async () => {
  await using registry = await start();
  const clients = await Promise.all(["a", "b", "c"].map(() => RawClient.connect(registry.port)));
  try {
    for (const [i, room] of ["red", "green", "blue"].entries()) {
      match(await clients[i]!.request(join(room, `user${i}:127.0.0.1:${50000 + i}`)), /^M:/);
    }
    equal(await clients[0]!.request("L::\r\n"), "G:blue:green:red::\r\n");
  } finally {
    for (const c of clients) c.close();
  }
});

Deno.test("registry: accepts the reference's JOIN quirk with one ':' before CRLF", async () => {
  await using registry = await start();
  await using client = await RawClient.connect(registry.port);
  equal(
    await client.request("J:room1:erin:127.0.0.1:50005:\r\n"),
    "M:18373406468947051621:erin:127.0.0.1:50005::\r\n",
  );
});

Deno.test("registry: answers malformed and unknown frames with the reference's F texts", async () => {
  await using registry = await start();
  await using client = await RawClient.connect(registry.port);
  const cases: [string, string][] = [
    ["J:room1:alice::\r\n", JOIN_WRONG_FORMAT],
    ["J:room1:alice:127.0.0.1:notaport::\r\n", JOIN_WRONG_FORMAT],
    ["J::alice:127.0.0.1:50001::\r\n", JOIN_WRONG_FORMAT],
    ["J:room1:alice:127.0.0.1:50001:extra::\r\n", JOIN_WRONG_FORMAT],
    ["L:x::\r\n", LIST_WRONG_FORMAT],
    ["L::\n", LIST_WRONG_FORMAT],
    ["P:room1:alice:127.0.0.1:50001:0::\r\n", UNKNOWN_REQUEST],
    ["T:room1:123:alice:1:2:hi::\r\n", UNKNOWN_REQUEST],
    ["K:room1:alice::\r\n", UNKNOWN_REQUEST],
    ["A::\r\n", UNKNOWN_REQUEST],
    ["S::\r\n", UNKNOWN_REQUEST],
    ["G::\r\n", UNKNOWN_REQUEST],
    ["M:1:alice:127.0.0.1:50001::\r\n", UNKNOWN_REQUEST],
    ["F:oops::\r\n", UNKNOWN_REQUEST],
    ["X::\r\n", UNKNOWN_REQUEST],
    ["hello\n", UNKNOWN_REQUEST],
    ["\r\n", UNKNOWN_REQUEST],
  ];
  for (const [request, reply] of cases) {
    equal(await client.request(request), reply, `reply to ${JSON.stringify(request)}`);
  }
  deepEqual(registry.stats(), { connections: 1, rooms: 0, members: 0 });
  equal(await client.request("L::\r\n"), "G::\r\n");
});

Deno.test("registry: rejects names and rooms longer than 32 bytes", async () => {
  await using registry = await start();
  await using client = await RawClient.connect(registry.port);
  const long = "x".repeat(33);
  equal(
    await client.request(join(long, ALICE)),
    "F:JOIN message - Room name longer than 32 bytes!!::\r\n",
  );
  equal(
    await client.request(join("room1", `${long}:127.0.0.1:1`)),
    "F:JOIN message - User name longer than 32 bytes!!::\r\n",
  );
  const longest = "y".repeat(32);
  match(await client.request(join(longest, `${longest}:127.0.0.1:1`)), /^M:\d+:y{32}:/);
});

Deno.test("registry: keeps a connection in one room", async () => {
  await using registry = await start();
  await using client = await RawClient.connect(registry.port);
  match(await client.request(join("room1", ALICE)), /^M:/);
  equal(await client.request(join("room2", ALICE)), JOIN_OTHER_ROOM);
  equal(
    await client.request(join("room1", BOB)),
    "F:JOIN message - Already joined as another member!!::\r\n",
  );
  equal(await client.request("L::\r\n"), "G:room1::\r\n");
  deepEqual(registry.stats(), { connections: 1, rooms: 1, members: 1 });
});

Deno.test("registry: answers DEPART with S::\\r\\n and removes that member", async () => {
  await using registry = await start();
  await using alice = await RawClient.connect(registry.port);
  await using bob = await RawClient.connect(registry.port);
  await alice.request(join("room1", ALICE));
  await bob.request(join("room1", BOB));
  // Only the connection that joined a member may depart it.
  equal(
    await bob.request(`D:room1:${ALICE}::\r\n`),
    "F:DEPART message - Not a member joined on this connection!!::\r\n",
  );
  deepEqual(members(await bob.request(join("room1", BOB))), [BOB, ALICE]);
  equal(await alice.request(`D:room1:${ALICE}::\r\n`), "S::\r\n");
  deepEqual(members(await bob.request(join("room1", BOB))), [BOB]);
  // Departed, the connection may join another room.
  deepEqual(members(await alice.request(join("room2", ALICE))), [ALICE]);
  // Departing from a room one is not in is still answered S.
  equal(await alice.request(`D:nowhere:${ALICE}::\r\n`), "S::\r\n");
  equal(await bob.request(`D:room1:${BOB}::\r\n`), "S::\r\n");
  equal(await bob.request("L::\r\n"), "G:room2::\r\n");
  equal(await bob.request("D:room1::\r\n"), "F:DEPART message - Wrong format!!::\r\n");
});

Deno.test("registry: removes a member at once when its connection closes", async () => {
  await using registry = await start();
  await using alice = await RawClient.connect(registry.port);
  await using bob = await RawClient.connect(registry.port);
  await alice.request(join("room1", ALICE));
  await bob.request(join("room1", BOB));
  alice.close();
  await waitFor(() => registry.stats().members === 1, "alice's removal");
  deepEqual(members(await bob.request(join("room1", BOB))), [BOB]);
  bob.close();
  await waitFor(() => registry.stats().rooms === 0, "the empty room's destruction");
  await using carol = await RawClient.connect(registry.port);
  equal(await carol.request("L::\r\n"), "G::\r\n");
});

Deno.test("registry: expires members not heard from for longer than expiryMs", async () => {
  const expiryMs = 150;
  await using registry = await start({ expiryMs, sweepMs: 10 });
  await using alice = await RawClient.connect(registry.port);
  await using bob = await RawClient.connect(registry.port);
  const aliceJoined = Date.now();
  await alice.request(join("room1", ALICE));
  deepEqual(members(await bob.request(join("room1", BOB))), [BOB, ALICE]);
  // Bob keeps alive; alice stays silent until she is gone.
  let list: string[] = [];
  await waitFor(async () => {
    list = members(await bob.request(join("room1", BOB)));
    return list.length === 1;
  }, "alice's expiry");
  ok(Date.now() - aliceJoined > expiryMs, "expired no earlier than expiryMs");
  deepEqual(list, [BOB]);
  equal(registry.stats().connections, 2, "expiry does not close the connection");
  // Alice's next JOIN adds her again, as the newest member.
  deepEqual(members(await alice.request(join("room1", ALICE))), [ALICE, BOB]);
});

Deno.test("registry: destroys a room whose last member expired", async () => {
  await using registry = await start({ expiryMs: 20, sweepMs: 10 });
  await using alice = await RawClient.connect(registry.port);
  await alice.request(join("room1", ALICE));
  await waitFor(async () => (await alice.request("L::\r\n")) === "G::\r\n", "the room's end");
  deepEqual(registry.stats(), { connections: 1, rooms: 0, members: 0 });
});

Deno.test("registry: survives a duplicate JOIN then close; the holder keeps the member", async () => {
  await using registry = await start();
  await using first = await RawClient.connect(registry.port);
  await using second = await RawClient.connect(registry.port);
  await using bob = await RawClient.connect(registry.port);
  await first.request(join("room1", ALICE));
  await bob.request(join("room1", BOB));
  // The reference crashes here; ours refuses the twin (issue 16) and keeps serving.
  equal(await second.request(join("room1", ALICE)), MEMBER_HELD);
  second.close();
  await waitFor(() => registry.stats().connections === 2, "the second connection's end");
  equal(registry.stats().members, 2, "closing the twin removed nothing");
  deepEqual(members(await bob.request(join("room1", BOB))), [BOB, ALICE]);
  first.close();
  await waitFor(() => registry.stats().members === 1, "alice's removal with her connection");
  deepEqual(members(await bob.request(join("room1", BOB))), [BOB]);
});

Deno.test("registry: refuses a JOIN of a name another member of the room holds at another ip:port", async () => {
  await using registry = await start();
  await using alice = await RawClient.connect(registry.port);
  await using bob = await RawClient.connect(registry.port);
  await using impostor = await RawClient.connect(registry.port);
  await alice.request(join("room1", ALICE));
  const before = await bob.request(join("room1", BOB));
  equal(await impostor.request(join("room1", "alice:127.0.0.1:50009")), NAME_IN_USE);
  equal(await impostor.request(join("room1", "alice:127.0.0.2:50001")), NAME_IN_USE);
  // The room is unchanged, byte for byte (same members, same MSID).
  deepEqual(registry.stats(), { connections: 3, rooms: 1, members: 2 });
  equal(await bob.request(join("room1", BOB)), before);
  // The refused connection is in no room: it may join as another name, or elsewhere.
  deepEqual(members(await impostor.request(join("room2", "alice:127.0.0.1:50009"))), [
    "alice:127.0.0.1:50009",
  ]);
  // Once the holder is gone, the name is free again.
  alice.close();
  await waitFor(() => registry.stats().members === 2, "alice's removal");
  await using later = await RawClient.connect(registry.port);
  deepEqual(members(await later.request(join("room1", "alice:127.0.0.1:50007"))), [
    "alice:127.0.0.1:50007",
    BOB,
  ]);
});

Deno.test("registry: allowDuplicateNames lists a second member of one name, as the reference does", async () => {
  await using registry = await start({ allowDuplicateNames: true });
  await using alice = await RawClient.connect(registry.port);
  await using other = await RawClient.connect(registry.port);
  await alice.request(join("room1", ALICE));
  deepEqual(members(await other.request(join("room1", "alice:127.0.0.1:50009"))), [
    "alice:127.0.0.1:50009",
    ALICE,
  ]);
  deepEqual(registry.stats(), { connections: 2, rooms: 1, members: 2 });
});

Deno.test("registry: the same name, ip and port from another connection is refused while the holder lives", async () => {
  await using registry = await start();
  await using first = await RawClient.connect(registry.port);
  await using second = await RawClient.connect(registry.port);
  const reply = await first.request(join("room1", ALICE));
  equal(await second.request(join("room1", ALICE)), MEMBER_HELD);
  equal(await second.request(`D:room1:${ALICE}::\r\n`), DEPART_NOT_OWNER);
  equal(await first.request(join("room1", ALICE)), reply, "alice is still held by her connection");
  // Once the holder is gone, the member is free: the other connection may JOIN as it.
  first.close();
  await waitFor(() => registry.stats().members === 0, "alice's removal");
  equal(await second.request(join("room1", ALICE)), reply);
});

Deno.test("registry: answers an EXTENSION frame with the reference's F text and keeps serving", async () => {
  await using registry = await start();
  await using client = await RawClient.connect(registry.port);
  const hello = '{"op":"hello",\n"version":2}';
  // One F per X frame, its JSON's newline and all; split over writes too.
  equal(await client.request(`X:${hello.length}:${hello}::\r\n`), UNKNOWN_REQUEST);
  await client.write(`X:${hello.length}:${hello.slice(0, 9)}`);
  await client.write(`${hello.slice(9)}::\r\nL::\r\n`);
  deepEqual(await client.frames(2), [UNKNOWN_REQUEST, "G::\r\n"]);
  equal(await client.request('X:8:{"op":1}::\r\n'), UNKNOWN_REQUEST);
  deepEqual(registry.stats(), { connections: 1, rooms: 0, members: 0 });
  // An X frame whose length is not followed by '::\r\n' loses the framing, as a TEXT one does.
  await client.write('X:2:{"op":"a"}::\r\n');
  deepEqual(await client.closedByPeer(), [UNKNOWN_REQUEST]);
});

Deno.test("registry: answers a frame split into one-byte writes", async () => {
  await using registry = await start();
  await using client = await RawClient.connect(registry.port);
  for (const byte of new TextEncoder().encode(join("room1", ALICE))) {
    await client.write(new Uint8Array([byte]));
  }
  equal(await client.frame(), "M:6873446321337136987:alice:127.0.0.1:50001::\r\n");
  for (const byte of new TextEncoder().encode("L::\r\n")) {
    await client.write(new Uint8Array([byte]));
  }
  equal(await client.frame(), "G:room1::\r\n");
});

Deno.test("registry: answers each of several frames coalesced in one write, in order", async () => {
  await using registry = await start();
  await using client = await RawClient.connect(registry.port);
  await client.write(
    `L::\r\n${join("room1", ALICE)}L::\r\nP:x::\r\nL:x::\r\n${join("room1", ALICE)}`,
  );
  deepEqual(await client.frames(6), [
    "G::\r\n",
    "M:6873446321337136987:alice:127.0.0.1:50001::\r\n",
    "G:room1::\r\n",
    UNKNOWN_REQUEST,
    LIST_WRONG_FORMAT,
    "M:6873446321337136987:alice:127.0.0.1:50001::\r\n",
  ]);
});

Deno.test("registry: answers garbage with F and keeps the connection", async () => {
  await using registry = await start();
  await using client = await RawClient.connect(registry.port);
  const garbage = new Uint8Array(1000);
  for (let i = 0; i < garbage.length; i++) {
    garbage[i] = (i * 37 + 11) % 256 === 10 ? 0 : (i * 37 + 11) % 256;
  }
  garbage[garbage.length - 1] = 0x0a;
  equal(await client.request(garbage), UNKNOWN_REQUEST);
  equal(
    await client.request(new Uint8Array([0xff, 0xfe, 0x3a, 0x3a, 0x0d, 0x0a])),
    UNKNOWN_REQUEST,
  );
  equal(
    await client.request(join("room1", ALICE)),
    "M:6873446321337136987:alice:127.0.0.1:50001::\r\n",
  );
});

Deno.test("registry: answers F then closes on a frame over the limit without a terminator", async () => {
  await using registry = await start();
  await using client = await RawClient.connect(registry.port);
  await client.write("J".repeat(REGISTRY_MAX_FRAME_BYTES));
  deepEqual(await client.closedByPeer(), ["F:Message too long - Closing connection!!::\r\n"]);
  await waitFor(() => registry.stats().connections === 0, "the connection's end");
});

Deno.test("registry: answers the frames before an oversize one, then F and close", async () => {
  await using registry = await start();
  await using client = await RawClient.connect(registry.port);
  // One read: a LIST, then a TEXT header declaring more than any frame may hold.
  await client.write("L::\r\nT:room:1:bob:1:999999:");
  deepEqual(await client.closedByPeer(), [
    "G::\r\n",
    "F:Unknown message - Unknown request!!::\r\n",
  ]);
});

Deno.test("registry: closes a connection that sends a malformed TEXT header", async () => {
  await using registry = await start();
  await using client = await RawClient.connect(registry.port);
  await client.write("T:room:1:alice:1:notanumber:hello::\r\n");
  deepEqual(await client.closedByPeer(), [UNKNOWN_REQUEST]);
});

Deno.test("registry: closes connections that send no valid frame in time", async () => {
  await using registry = await start({ firstFrameTimeoutMs: 300 });
  await using member = await RawClient.connect(registry.port);
  match(await member.request(join("room1", ALICE)), /^M:/);
  await using silent = await RawClient.connect(registry.port);
  await using noisy = await RawClient.connect(registry.port);
  equal(await noisy.request("P:nonsense::\r\n"), UNKNOWN_REQUEST);
  deepEqual(await silent.closedByPeer(), []);
  deepEqual(await noisy.closedByPeer(), []);
  // The member connected first and is still served.
  equal(await member.request("L::\r\n"), "G:room1::\r\n");
  equal(registry.stats().connections, 1);
});

Deno.test("registry: refuses connections over the limit with F then close", async () => {
  await using registry = await start({ maxConnections: 2 });
  await using a = await RawClient.connect(registry.port);
  await using b = await RawClient.connect(registry.port);
  await waitFor(() => registry.stats().connections === 2, "two connections");
  await using c = await RawClient.connect(registry.port);
  deepEqual(await c.closedByPeer(), ["F:Server busy - too many connections!!::\r\n"]);
  equal(await a.request("L::\r\n"), "G::\r\n");
  b.close();
  await waitFor(() => registry.stats().connections === 1, "b's end");
  await using d = await RawClient.connect(registry.port);
  equal(await d.request("L::\r\n"), "G::\r\n");
});

Deno.test("registry: holds a room of 1,000 members and lists them all with the right MSID", async () => {
  await using registry = await start();
  const clients: RawClient[] = [];
  try {
    let reply = "";
    for (let i = 0; i < 1000; i++) {
      const client = await RawClient.connect(registry.port);
      clients.push(client);
      reply = await client.request(join("big", `user${i}:10.0.${i >> 8}.${i & 255}:${40000 + i}`));
    }
    const frame = decodeFrame(new TextEncoder().encode(reply)) as MembersFrame;
    equal(frame.members.length, 1000);
    equal(frame.members[0]!.name, "user999");
    equal(frame.members[999]!.name, "user0");
    equal(frame.msid, msidOf(frame.members));
    // A keepalive from the first member gets the same bytes.
    equal(await clients[0]!.request(join("big", "user0:10.0.0.0:40000")), reply);
    deepEqual(registry.stats(), { connections: 1000, rooms: 1, members: 1000 });
  } finally {
    for (const c of clients) c.close();
  }
  await waitFor(() => registry.stats().rooms === 0, "the room's end");
});

Deno.test("registry: keeps serving a well-behaved client while another abuses it", async () => {
  await using registry = await start({ maxFrameBytes: 64 });
  await using good = await RawClient.connect(registry.port);
  await using bad = await RawClient.connect(registry.port);
  match(await good.request(join("room1", ALICE)), /^M:/);
  for (let i = 0; i < 20; i++) {
    equal(await bad.request(`${"Q".repeat(i)}::\r\n`), UNKNOWN_REQUEST);
    equal(
      await good.request(join("room1", ALICE)),
      "M:6873446321337136987:alice:127.0.0.1:50001::\r\n",
    );
  }
  await bad.write("x".repeat(100));
  deepEqual(await bad.closedByPeer(), ["F:Message too long - Closing connection!!::\r\n"]);
  equal(await good.request("L::\r\n"), "G:room1::\r\n");
  equal(
    await good.request(join("room1", ALICE)),
    "M:6873446321337136987:alice:127.0.0.1:50001::\r\n",
  );
});

Deno.test("registry: closes every connection when closed", async () => {
  const registry = await start();
  const client = await RawClient.connect(registry.port);
  try {
    match(await client.request(join("room1", ALICE)), /^M:/);
    await registry.close();
    deepEqual(await client.closedByPeer(), []);
    await registry.close();
  } finally {
    client.close();
  }
});

Deno.test("rooms: refuses a second holder of a name unless duplicates are allowed; renewing never", () => {
  const alice = { name: "alice", ip: "127.0.0.1", port: 50001 };
  const twin = { name: "alice", ip: "127.0.0.1", port: 50002 };
  const strict = new Rooms<string>({ maxMembersPerRoom: 1 });
  strict.join("room1", alice, "a", 0);
  equal(strict.refusal("room1", twin), "name-in-use");
  equal(strict.refusal("room1", alice), null, "renewing is never refused");
  equal(strict.refusal("room2", twin), null, "names are per room");
  equal(strict.refusal("room1", { ...twin, name: "bob" }), "room-full");
  throws(() => strict.join("room1", twin, "t", 0), /name-in-use/);
  equal(strict.memberCount, 1);
  strict.release("a");
  equal(strict.refusal("room1", twin), null, "the name is free once its holder left");

  const lenient = new Rooms<string>({ allowDuplicateNames: true });
  lenient.join("room1", alice, "a", 0);
  equal(lenient.refusal("room1", twin), null);
  lenient.join("room1", twin, "t", 0);
  deepEqual(lenient.members("room1").map((m) => m.port), [50002, 50001]);
  // Each holder leaves on its own.
  lenient.release("t");
  deepEqual(lenient.members("room1").map((m) => m.port), [50001]);
});

Deno.test("rooms: renews a member of a 10,000-member room without rebuilding the reply", () => {
  const rooms = new Rooms<number>();
  for (let i = 0; i < 10_000; i++) {
    rooms.join("big", { name: `u${i}`, ip: "127.0.0.1", port: 10000 + i }, i, 0);
  }
  const reply = rooms.membersReply("big");
  const msid = rooms.msid("big");
  const started = performance.now();
  for (let i = 0; i < 10_000; i++) {
    rooms.join("big", { name: `u${i}`, ip: "127.0.0.1", port: 10000 + i }, i, 1);
    ok(rooms.membersReply("big") === reply);
  }
  ok(performance.now() - started < 2000, "10,000 renewals take well under a second");
  equal(rooms.msid("big"), msid);
  equal(rooms.sweep(1, 0).length, 0, "renewed members are not expired");
  equal(rooms.memberCount, 10_000);
  equal(rooms.sweep(2, 0).length, 10_000);
  equal(rooms.roomCount, 0);
});
