/**
 * The keepalive fast path (registry/registry.ts `#serve`): a read that is
 * exactly the connection's last accepted JOIN is answered with its room's
 * `M` without framing; anything else goes through the frame reader as before.
 */
import { deepEqual, equal, notEqual } from "node:assert/strict";
import { startRegistry } from "../registry/registry.ts";
import { Rooms } from "../registry/rooms.ts";
import { RawClient } from "./support/raw_client.ts";

const JOIN = "J:room1:alice:127.0.0.1:50001::\r\n";
const ALICE_ONLY = "M:6873446321337136987:alice:127.0.0.1:50001::\r\n";
const LIST_WRONG_FORMAT = "F:LIST message - Wrong format!!::\r\n";

/** Lets the registry read what was written so far on its own (loopback delivers it at once). */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 50));
}

Deno.test("registry keepalive: the JOIN's bytes after a held partial frame are framed with it", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  await using client = await RawClient.connect(registry.port);
  equal(await client.request(JOIN), ALICE_ONLY);
  // "L::" waits in the reader for its newline; the JOIN's bytes complete one garbage L frame.
  await client.write("L::");
  await settle();
  equal(await client.request(JOIN), LIST_WRONG_FORMAT);
  // The membership is untouched, and a clean repeat is a keepalive again.
  equal(await client.request(JOIN), ALICE_ONLY);
});

Deno.test("registry keepalive: a repeat split over two reads is still a keepalive", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  await using client = await RawClient.connect(registry.port);
  equal(await client.request(JOIN), ALICE_ONLY);
  await client.write(JOIN.slice(0, 10));
  await settle();
  equal(await client.request(JOIN.slice(10)), ALICE_ONLY);
  // Two repeats in one read: two replies.
  await client.write(JOIN + JOIN);
  deepEqual(await client.frames(2), [ALICE_ONLY, ALICE_ONLY]);
  deepEqual(registry.stats(), { connections: 1, rooms: 1, members: 1 });
});

Deno.test("rooms: renewReply renews the owner's member and answers its room's M", () => {
  const rooms = new Rooms<string>();
  const alice = { name: "alice", ip: "127.0.0.1", port: 50001 };
  const bob = { name: "bob", ip: "127.0.0.1", port: 50002 };
  equal(rooms.renewReply("conn-a", 0), null);
  rooms.join("room1", alice, "conn-a", 0);
  equal(rooms.renewReply("conn-a", 100), rooms.membersReply("room1"));
  equal(rooms.memberOf("conn-a")?.lastSeen, 100);
  // Renewed at 100: a sweep at 150 with a 60 ms expiry keeps it.
  deepEqual(rooms.sweep(150, 60), []);
  const before = rooms.renewReply("conn-a", 150);
  rooms.join("room1", bob, "conn-b", 150);
  const after = rooms.renewReply("conn-a", 200);
  notEqual(after, before);
  equal(after, rooms.membersReply("room1"));
  equal(
    new TextDecoder().decode(after!),
    new TextDecoder().decode(rooms.membersReply("room1")),
  );
  rooms.release("conn-a");
  equal(rooms.renewReply("conn-a", 250), null);
});
