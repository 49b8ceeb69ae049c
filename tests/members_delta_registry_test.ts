/**
 * The `members-delta` feature on the wire (docs/extensions.md): negotiated
 * by the hello, pushed and answered to keepalives only on connections that
 * asked for it, recovered with `members-full`; seed clients and hello'd
 * connections without the feature get the bytes they always got. Also over
 * several registries sharing one Redis (`--store`), and the peer's registry
 * client recovering from a delta that does not apply.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { type Member, msidOf } from "../lib/frames.ts";
import { applyMembersDelta, type MembersDelta, readMembersDelta } from "../lib/members_delta.ts";
import { startRegistry } from "../registry/registry.ts";
import { RegistryClient } from "../peer/registry_client.ts";
import { decoded, extension, memberList, xFrame } from "./support/hello_client.ts";
import { RawClient } from "./support/raw_client.ts";
import { redisTest, startRedisServer } from "./support/redis_server.ts";

function join(name: string, port: number, room = "room1"): string {
  return `J:${room}:${name}:127.0.0.1:${port}::\r\n`;
}

/** A raw connection that said hello with `features`. */
async function hello(port: number, features?: string[]): Promise<RawClient> {
  const client = await RawClient.connect(port);
  const body = features === undefined
    ? { version: "ringchat/2" }
    : { version: "ringchat/2", features };
  const reply = extension(await client.request(xFrame("hello", body)));
  equal(reply.op, "hello");
  ok((reply.body.features as string[]).includes("members-delta"));
  return client;
}

/** The next frame of `client` that is not a presence push. */
async function next(client: RawClient): Promise<string> {
  for (;;) {
    const text = await client.frame();
    if (!text.startsWith("X:") || extension(text).op !== "presence") return text;
  }
}

function members(text: string): Member[] {
  return memberList(text).map((m) => {
    const [name, ip, port] = m.split(":");
    return { name: name!, ip: ip!, port: Number(port) };
  });
}

function delta(text: string): MembersDelta {
  const read = readMembersDelta(extension(text));
  ok(read !== null, text);
  return read;
}

const make = (m: Member): Member => ({ name: m.name, ip: m.ip, port: m.port });

Deno.test("members delta: pushed to a connection that asked; a seed client and a hello without it get today's bytes", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  await using alice = await hello(registry.port, ["members-delta"]);
  await using carol = await hello(registry.port);
  await using seed = await RawClient.connect(registry.port);

  const aliceM = await alice.request(join("alice", 50001));
  equal(extension(await alice.frame()).op, "member-info");
  let aliceList = members(aliceM);
  const seedReply = await seed.request(join("sam", 50009));
  // The seed's reply: the reference's bytes (newest first, its MSID over the payload).
  const expected = [{ name: "sam", ip: "127.0.0.1", port: 50009 }, ...aliceList];
  equal(
    seedReply,
    `M:${msidOf(expected)}:${expected.map((m) => `${m.name}:${m.ip}:${m.port}:`).join("")}:\r\n`,
  );
  const pushed = delta(await next(alice));
  aliceList = applyMembersDelta(aliceList, pushed, make)!;
  deepEqual(aliceList, expected);
  equal(pushed.msid, msidOf(expected).toString());

  await carol.request(join("carol", 50003));
  equal(extension(await carol.frame()).op, "member-info");
  // alice: carol came (a hello'd member: ringchat), as a delta from the list she had.
  const came = delta(await next(alice));
  equal(came.from, pushed.msid);
  deepEqual(came.added, [{ name: "carol", ip: "127.0.0.1", port: 50003, ringchat: true }]);
  aliceList = applyMembersDelta(aliceList, came, make)!;
  equal(msidOf(aliceList).toString(), came.msid);

  // bob (a seed client) joins: carol, without the feature, is pushed the whole M and member-info.
  await using bob = await RawClient.connect(registry.port);
  const bobReply = await bob.request(join("bob", 50002));
  const carolPush = await next(carol);
  equal(carolPush, bobReply);
  equal(extension(await next(carol)).op, "member-info");
  aliceList = applyMembersDelta(aliceList, delta(await next(alice)), make)!;
  deepEqual(aliceList, members(bobReply));

  // A keepalive of alice's: an empty delta from her list, as the JOIN's answer.
  const kept = extension(await alice.request(join("alice", 50001)));
  equal(kept.op, "members-delta");
  equal(kept.body.reply, true);
  equal(kept.body.from, kept.body.msid);
  equal(kept.body.msid, msidOf(aliceList).toString());
  // A seed keepalive is still the M, byte for byte.
  equal(await seed.request(join("sam", 50009)), bobReply);

  // members-full: the whole list and its member-info, then the op.
  const full = await alice.request(xFrame("members-full", {}));
  equal(full, bobReply);
  equal(extension(await alice.frame()).op, "member-info");
  equal(extension(await alice.frame()).op, "members-full");

  // A leave: its reason comes with the removal.
  await bob.request("D:room1:bob:127.0.0.1:50002::\r\n");
  const gone = delta(await next(alice));
  deepEqual(gone.removed, [{ name: "bob", ip: "127.0.0.1", port: 50002, reason: "left" }]);
  aliceList = applyMembersDelta(aliceList, gone, make)!;
  equal(msidOf(aliceList).toString(), gone.msid);
});

redisTest(
  "members delta: over two registries on one Redis, a change made at the other is pushed as a delta that chains",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using one = await startRegistry({ hostname: "127.0.0.1", port: 0, store: redis.url });
    await using two = await startRegistry({ hostname: "127.0.0.1", port: 0, store: redis.url });
    await using alice = await hello(one.port, ["members-delta"]);
    let list = members(await alice.request(join("alice", 50001)));
    equal(extension(await alice.frame()).op, "member-info");
    await using bob = await hello(two.port);
    const bobReply = await bob.request(join("bob", 50002));
    const pushed = delta(await next(alice));
    list = applyMembersDelta(list, pushed, make)!;
    deepEqual(list, members(bobReply));
    equal(pushed.msid, String((decoded(bobReply) as { msid: bigint }).msid));
    deepEqual(pushed.added, [{ name: "bob", ip: "127.0.0.1", port: 50002, ringchat: true }]);
    await using carol = await RawClient.connect(two.port);
    const carolReply = await carol.request(join("carol", 50003));
    list = applyMembersDelta(list, delta(await next(alice)), make)!;
    deepEqual(list, members(carolReply));
  },
);

Deno.test("members delta: a peer's registry client whose list does not chain asks members-full and gets the whole list", async () => {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const lists: string[][] = [];
  const deltas: MembersDelta[] = [];
  const listed = Promise.withResolvers<void>();
  const client = new RegistryClient({
    hostname: "127.0.0.1",
    port: registry.port,
    keepaliveMs: 60_000,
    reconnectMs: 1000,
    requestTimeoutMs: 2000,
    onMembers: (frame) => {
      lists.push(frame.members.map((m) => m.name));
      if (frame.members.length === 2) listed.resolve();
    },
    onFailure: () => {},
    onStatus: () => {},
    hello: {
      identity: null,
      onMemberInfo: () => {},
      onUnavailable: () => {},
      // The first delta is "missed": it does not apply to my list.
      onMembersDelta: (d) => {
        deltas.push(d);
        return false;
      },
    },
  });
  try {
    const first = await client.join({
      type: "J",
      room: "room1",
      name: "alice",
      ip: "127.0.0.1",
      port: 50001,
    });
    deepEqual(first.members.map((m) => m.name), ["alice"]);
    await using bob = await RawClient.connect(registry.port);
    await bob.request(join("bob", 50002));
    await listed.promise;
    equal(deltas.length, 1);
    deepEqual(deltas[0]!.added.map((m) => m.name), ["bob"]);
    deepEqual(lists.at(-1), ["bob", "alice"]);
  } finally {
    await client.close();
  }
});
