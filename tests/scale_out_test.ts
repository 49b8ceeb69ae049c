/**
 * Several registries on one Redis (`registry --store`, issue 15): whichever
 * registry a member goes through, every registry answers alike.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { type RegistryHandle, type RegistryOptions, startRegistry } from "../registry/registry.ts";
import { RedisConnection } from "../registry/redis_connection.ts";
import { STORE_DOWN } from "../registry/store_shared.ts";
import { extension, helloClient, memberList } from "./support/hello_client.ts";
import { declineInvitation, PeopleClient } from "./support/people_client.ts";
import { RawClient } from "./support/raw_client.ts";
import { type RedisServer, redisTest, startRedisServer } from "./support/redis_server.ts";

const DOWN = new TextDecoder().decode(STORE_DOWN);
const HELD = "F:JOIN message - Member held by another connection!!::\r\n";

function join(room: string, name: string, port: number): string {
  return `J:${room}:${name}:127.0.0.1:${port}::\r\n`;
}

/** `n` registries sharing `redis`, disposed together. */
async function registries(
  redis: RedisServer,
  n: number,
  options: RegistryOptions = {},
): Promise<RegistryHandle[] & AsyncDisposable> {
  const started: RegistryHandle[] = [];
  try {
    for (let i = 0; i < n; i++) {
      started.push(
        await startRegistry({ hostname: "127.0.0.1", port: 0, store: redis.url, ...options }),
      );
    }
  } catch (error) {
    await Promise.all(started.map((r) => r.close()));
    throw error;
  }
  return Object.assign(started, {
    [Symbol.asyncDispose]: async () => void await Promise.all(started.map((r) => r.close())),
  });
}

/** One seed connection to each registry. */
async function clients(regs: readonly RegistryHandle[]): Promise<RawClient[] & AsyncDisposable> {
  const out = await Promise.all(regs.map((r) => RawClient.connect(r.port)));
  return Object.assign(out, {
    [Symbol.asyncDispose]: () => {
      for (const c of out) c.close();
      return Promise.resolve();
    },
  });
}

/** The same request through every client: the replies. */
function everywhere(cs: readonly RawClient[], request: string): Promise<string[]> {
  return Promise.all(cs.map((c) => c.request(request)));
}

/** Asks `request` through `c` until `done` holds of the reply (changes arrive by pub/sub). */
function until(c: RawClient, request: string, done: (reply: string) => boolean): Promise<string> {
  return retry(() => c.request(request), done);
}

redisTest(
  "scale-out: three registries answer G and M byte for byte alike, whoever joined where",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using regs = await registries(redis, 3);
    await using seeds = await clients(regs);
    // Members join through different registries; the M each JOIN gets lists all, newest first.
    const m1 = await seeds[0]!.request(join("lobby", "alice", 50001));
    deepEqual(memberList(m1), ["alice:127.0.0.1:50001"]);
    const m2 = await seeds[1]!.request(join("lobby", "bob", 50002));
    deepEqual(memberList(m2), ["bob:127.0.0.1:50002", "alice:127.0.0.1:50001"]);
    const m3 = await seeds[2]!.request(join("chess", "carol", 50003));
    deepEqual(memberList(m3), ["carol:127.0.0.1:50003"]);
    // A keepalive on A sees B's join at once (its cached reply was made stale by the change).
    equal(await seeds[0]!.request(join("lobby", "alice", 50001)), m2);
    deepEqual(await everywhere(seeds, "L::\r\n"), Array(3).fill("G:chess:lobby::\r\n"));
    // Every registry counts what all hold (its stats, the metrics' gauges).
    await retry(() => Promise.resolve(regs[2]!.stats()), (s) => s.members === 3);
    deepEqual(regs[2]!.stats(), { connections: 1, rooms: 2, members: 3 });
    // The same JOIN bytes through a fourth connection on C (a name in use) is refused as one registry would.
    await using other = await RawClient.connect(regs[2]!.port);
    equal(
      await other.request(join("lobby", "bob", 50009)),
      "F:JOIN message - Name already in use in this chatroom!!::\r\n",
    );
    equal(
      await seeds[1]!.request(join("chess", "bob", 50002)),
      "F:JOIN message - Already joined another chatroom!!::\r\n",
    );
    // A DEPART through B, and a connection closed on C, remove their members everywhere.
    equal(await seeds[1]!.request("D:lobby:bob:127.0.0.1:50002::\r\n"), "S::\r\n");
    equal(await seeds[0]!.request(join("lobby", "alice", 50001)), m1);
    seeds[2]!.close();
    const g = await until(seeds[0]!, "L::\r\n", (r) => r === "G:lobby::\r\n");
    equal(g, "G:lobby::\r\n");
    equal(await seeds[1]!.request("L::\r\n"), g);
    equal(regs[0]!.stats().connections, 1);
  },
);

redisTest(
  "scale-out: a member expires, whichever registries sweep, and leaves every registry's M",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using regs = await registries(redis, 3, { expiryMs: 150, sweepMs: 40 });
    await using seeds = await clients(regs);
    await seeds[0]!.request(join("room", "alice", 50001));
    const both = await seeds[1]!.request(join("room", "bob", 50002));
    deepEqual(memberList(both), ["bob:127.0.0.1:50002", "alice:127.0.0.1:50001"]);
    // Bob keeps alive through B; alice says nothing and expires.
    let reply = both;
    const deadline = Date.now() + 5000;
    while (memberList(reply).length === 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 30));
      reply = await seeds[1]!.request(join("room", "bob", 50002));
    }
    deepEqual(memberList(reply), ["bob:127.0.0.1:50002"]);
    deepEqual(await everywhere(seeds, "L::\r\n"), Array(3).fill("G:room::\r\n"));
    // Alice's keepalive is now answered as a full JOIN: she is back, newest first.
    deepEqual(memberList(await seeds[0]!.request(join("room", "alice", 50001))), [
      "alice:127.0.0.1:50001",
      "bob:127.0.0.1:50002",
    ]);
  },
);

redisTest(
  "scale-out: two JOINs racing into a new room through two registries create it once (100 rounds)",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using regs = await registries(redis, 2);
    await using seeds = await clients(regs);
    for (let round = 0; round < 100; round++) {
      const room = `race${round}`;
      const [a, b] = await Promise.all([
        seeds[0]!.request(join(room, "alice", 50001)),
        seeds[1]!.request(join(room, "bob", 50002)),
      ]);
      // Each saw itself, and whichever came second saw both; the later M lists both.
      const longer = memberList(a!).length > memberList(b!).length ? a! : b!;
      equal(memberList(longer).length, 2, `round ${round}`);
      ok(
        memberList(a!).includes("alice:127.0.0.1:50001") &&
          memberList(b!).includes("bob:127.0.0.1:50002"),
      );
      const [ma, mb] = await Promise.all([
        seeds[0]!.request(join(room, "alice", 50001)),
        seeds[1]!.request(join(room, "bob", 50002)),
      ]);
      equal(ma, longer, `round ${round}: one M from both`);
      equal(mb, longer);
      equal(await seeds[0]!.request(`D:${room}:alice:127.0.0.1:50001::\r\n`), "S::\r\n");
      equal(await seeds[1]!.request(`D:${room}:bob:127.0.0.1:50002::\r\n`), "S::\r\n");
    }
    deepEqual(await everywhere(seeds, "L::\r\n"), ["G::\r\n", "G::\r\n"]);
  },
);

redisTest(
  "scale-out: a hello'd member on A is pushed a JOIN through B within 100 ms, with B's member-info",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using regs = await registries(redis, 2);
    await using alice = await helloClient(regs[0]!.port);
    const m = await alice.client.request(join("room", "alice", 50001));
    deepEqual(memberList(m), ["alice:127.0.0.1:50001"]);
    deepEqual(extension(await alice.client.frame()).body.members, [
      { name: "alice", ip: "127.0.0.1", port: 50001, ringchat: true },
    ]);
    await using bob = await helloClient(regs[1]!.port);
    equal(await bob.prove(), 'X:15:{"op":"proved"}::\r\n');
    const joined = performance.now();
    const mb = await bob.client.request(join("room", "bob", 50002));
    const pushed = await alice.client.frame();
    const ms = performance.now() - joined;
    equal(pushed, mb);
    ok(ms < 100, `pushed after ${ms.toFixed(1)} ms`);
    deepEqual(extension(await alice.client.frame()).body.members, [
      { name: "bob", ip: "127.0.0.1", port: 50002, ringchat: true, key: bob.identity.publicKey },
      { name: "alice", ip: "127.0.0.1", port: 50001, ringchat: true },
    ]);
    // Bob's JOIN reply was followed by the same member-info.
    equal((extension(await bob.client.frame()).body.members as unknown[]).length, 2);
    // A seed member leaving through B is pushed to alice on A, its reason named.
    await using seed = await RawClient.connect(regs[1]!.port);
    await seed.request(join("room", "carol", 50003));
    equal(memberList(await alice.client.frame()).length, 3);
    await alice.client.frame();
    equal(await seed.request("D:room:carol:127.0.0.1:50003::\r\n"), "S::\r\n");
    equal(await alice.client.frame(), mb);
    // The reason B knows travels to A: member-info's `left` names carol's DEPART.
    deepEqual(extension(await alice.client.frame()).body.left, [
      { name: "carol", ip: "127.0.0.1", port: 50003, reason: "left" },
    ]);
  },
);

redisTest(
  "scale-out: a hello'd JOIN into a new room gets its M and member-info listing itself, whenever its own change is heard (300 rooms)",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using regs = await registries(redis, 1);
    await using alice = await helloClient(regs[0]!.port);
    const self = { name: "alice", ip: "127.0.0.1", port: 50001, ringchat: true };
    for (let round = 0; round < 300; round++) {
      const room = `new${round}`;
      // The JOIN's own change is heard on the store's channel before, between or
      // after the reply's two reads (JOIN, then member-info): the member-info
      // still lists alice, and is this room's (a late repeat would shift the frames).
      const m = await alice.client.request(join(room, "alice", 50001));
      deepEqual(memberList(m), ["alice:127.0.0.1:50001"], `round ${round}`);
      const info = extension(await alice.client.frame()).body;
      deepEqual([info.room, info.members], [room, [self]], `round ${round}`);
      equal(await alice.client.request(`D:${room}:alice:127.0.0.1:50001::\r\n`), "S::\r\n");
    }
  },
);

redisTest(
  "scale-out: a member held on A is refused to another connection on B, and taken over by the same proved key",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using regs = await registries(redis, 2);
    await using old = await helloClient(regs[0]!.port);
    equal(await old.prove(), 'X:15:{"op":"proved"}::\r\n');
    const m = await old.client.request(join("room", "alice", 50001));
    await old.client.frame(); // member-info
    // A seed connection (no key), or another key, may not take it while A holds it.
    await using seed = await RawClient.connect(regs[1]!.port);
    equal(await seed.request(join("room", "alice", 50001)), HELD);
    await using stranger = await helloClient(regs[1]!.port);
    equal(await stranger.prove(), 'X:15:{"op":"proved"}::\r\n');
    equal(await stranger.client.request(join("room", "alice", 50001)), HELD);
    // The same key on a new connection through B is the same member come back: it takes over.
    await using back = await helloClient(regs[1]!.port, old.identity);
    equal(await back.prove(), 'X:15:{"op":"proved"}::\r\n');
    equal(await back.client.request(join("room", "alice", 50001)), m);
    const rest = await old.client.closedByPeer();
    ok(rest.some((f) => f.includes('"code":"taken-over"')), rest.join(""));
    // Still listed once, now B's connection's; its keepalive renews it.
    await back.client.frame(); // member-info
    equal(await back.client.request(join("room", "alice", 50001)), m);
    await using probe = await RawClient.connect(regs[0]!.port);
    equal(await probe.request("L::\r\n"), "G:room::\r\n");
  },
);

redisTest(
  "scale-out: Redis down: registries answer F with a clear text, keep their connections, and recover by themselves",
  async () => {
    await using redis = await startRedisServer({ appendOnly: true });
    await using regs = await registries(redis, 2, { metrics: { hostname: "127.0.0.1", port: 0 } });
    await using seeds = await clients(regs);
    const m = await seeds[0]!.request(join("room", "alice", 50001));
    const metrics = regs[0]!.metricsAddress!;
    deepEqual(await scrape(metrics), { health: 200, storeErrors: 0 });
    await redis.kill();
    match(DOWN, /^F:Registry store unavailable - .*!!::\r\n$/);
    equal(await seeds[0]!.request(join("room", "alice", 50001)), DOWN);
    equal(await seeds[1]!.request("L::\r\n"), DOWN);
    equal(await seeds[1]!.request(join("room", "bob", 50002)), DOWN);
    // /healthz says the store does not answer; the failed requests are counted.
    const down = await scrape(metrics);
    equal(down.health, 503);
    ok(down.storeErrors >= 1, `${down.storeErrors} store errors`); // the JOIN (and any heartbeat)
    await redis.restart();
    // Back with its AOF: the room is there; the connections were kept.
    equal(await until(seeds[0]!, join("room", "alice", 50001), (r) => r !== DOWN), m);
    deepEqual(
      memberList(await until(seeds[1]!, join("room", "bob", 50002), (r) => r !== DOWN)),
      ["bob:127.0.0.1:50002", "alice:127.0.0.1:50001"],
    );
    equal(await seeds[0]!.request("L::\r\n"), "G:room::\r\n");
    equal((await scrape(metrics)).health, 200);
  },
);

/** `/healthz`'s status and the store errors counted in `/metrics` of the registry at `address`. */
async function scrape(address: { hostname: string; port: number }) {
  const base = `http://${address.hostname}:${address.port}`;
  const health = await fetch(`${base}/healthz`);
  await health.body?.cancel();
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("ringchat_registry_store_errors_total "));
  return { health: health.status, storeErrors: Number(line?.split(" ")[1]) };
}

redisTest(
  "scale-out: --store must name a Redis; one that does not answer fails the start",
  async () => {
    let refused: unknown = null;
    await startRegistry({ port: 0, store: "http://localhost" }).catch((e) => refused = e);
    ok(refused instanceof RangeError, String(refused));
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    listener.close();
    refused = null;
    await startRegistry({ port: 0, store: `redis://127.0.0.1:${port}` }).catch((e) => refused = e);
    ok(refused instanceof Error, String(refused));
  },
);

redisTest(
  "scale-out: per-source JOIN limits are counted across registries; joining a room that exists elsewhere is not a new room",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using regs = await registries(redis, 3, SOURCE_LIMITS);
    const opened: RawClient[] = [];
    using _ = { [Symbol.dispose]: () => opened.forEach((c) => c.close()) };
    const joinThrough = async (r: number, frame: string) => {
      const client = await RawClient.connect(regs[r]!.port);
      opened.push(client);
      return { client, reply: await client.request(frame) };
    };
    // One room of the source's two, made through C.
    match((await joinThrough(2, join("elsewhere", "x1", 9))).reply, /^M:/);
    const first = await joinThrough(0, join("room1", "m1", 1));
    match(first.reply, /^M:/);
    match((await joinThrough(1, join("room1", "m2", 2))).reply, /^M:/);
    // room1 holds two of the source's members (through A and B): a third is refused everywhere.
    for (const r of [0, 1, 2]) {
      equal((await joinThrough(r, join("room1", "m3", 3))).reply, TOO_MANY_MEMBERS);
    }
    match(await first.client.request(join("room1", "m1", 1)), /^M:/);
    // Members in two rooms (elsewhere, room1): a third room is refused everywhere.
    for (const r of [0, 1, 2]) {
      equal((await joinThrough(r, join("room2", "m4", 4))).reply, TOO_MANY_ROOMS);
    }
    // At its rooms limit, the source may still join a room that exists (made through C).
    match((await joinThrough(0, join("elsewhere", "m6", 6))).reply, /^M:/);
    // A member whose connection closes frees its place, on every registry.
    first.client.close();
    deepEqual(
      await retry(
        async () => (await joinThrough(1, join("room1", "m8", 8))).reply.slice(0, 2),
        (r) => r === "M:",
      ),
      "M:",
    );
    equal((await joinThrough(2, join("room1", "m9", 9))).reply, TOO_MANY_MEMBERS);
  },
);

redisTest(
  "scale-out: a takeover through another registry moves its member's per-source count, counted once",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using regs = await registries(redis, 3, SOURCE_LIMITS);
    await using old = await helloClient(regs[0]!.port);
    equal(await old.prove(), 'X:15:{"op":"proved"}::\r\n');
    const m = await old.client.request(join("room", "alice", 50001));
    await old.client.frame(); // member-info
    await using back = await helloClient(regs[1]!.port, old.identity);
    equal(await back.prove(), 'X:15:{"op":"proved"}::\r\n');
    equal(await back.client.request(join("room", "alice", 50001)), m);
    await old.client.closedByPeer();
    await back.client.frame(); // member-info
    // The source holds one member of room (alice, now B's): one more, through C, then the limit.
    await using bob = await RawClient.connect(regs[2]!.port);
    match(await bob.request(join("room", "bob", 50002)), /^M:/);
    await using carol = await RawClient.connect(regs[2]!.port);
    equal(await carol.request(join("room", "carol", 50003)), TOO_MANY_MEMBERS);
    await using dave = await RawClient.connect(regs[0]!.port);
    equal(await dave.request(join("room", "dave", 50004)), TOO_MANY_MEMBERS);
  },
);

const SOURCE_LIMITS: RegistryOptions = {
  trustedSources: "none",
  maxMembersPerSource: 2,
  maxRoomsPerSource: 2,
};
const TOO_MANY_MEMBERS = "F:JOIN message - Too many members from this address!!::\r\n";
const TOO_MANY_ROOMS = "F:JOIN message - Too many chatrooms from this address!!::\r\n";

/** Cheap hashes: the sharing, not PBKDF2, is under test. */
const PEOPLE: RegistryOptions = {
  passwordIterations: 1000,
  maxRegistrationsPerSource: 1000,
  presenceFlushMs: 5,
};

redisTest(
  "scale-out: an account registered through A is B's too; a login on B kicks the older session on A",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using regs = await registries(redis, 2, PEOPLE);
    await using first = await PeopleClient.connect(regs[0]!.port);
    await first.account("bob");
    ok((await first.join("room1", "bob", 4100)).startsWith("M:"));
    // The name is taken on B at once: a stranger there may not JOIN as it.
    await using stranger = await RawClient.connect(regs[1]!.port);
    match(await stranger.request(join("room2", "bob", 4200)), /^F:.*registered/i);
    await using second = await PeopleClient.connect(regs[1]!.port);
    await second.login("bob");
    deepEqual(await first.pushOf("kicked"), { op: "kicked", reason: "logged-in-elsewhere" });
    await first.client.closedByPeer();
    // Its member went with it, for every registry.
    await using probe = await RawClient.connect(regs[1]!.port);
    equal(await until(probe, "L::\r\n", (r) => r === "G::\r\n"), "G::\r\n");
    // The new session is B's: it may JOIN as bob there.
    ok((await second.join("room1", "bob", 4101)).startsWith("M:"));
  },
);

redisTest(
  "scale-out: blocks made through A hold on B; mail stored through A survives Redis killed (AOF) and is read through B",
  async () => {
    await using redis = await startRedisServer({ appendOnly: true });
    await using regs = await registries(redis, 2, PEOPLE);
    await using bobReg = await PeopleClient.connect(regs[0]!.port);
    await bobReg.register("bob");
    await using carol = await PeopleClient.connect(regs[0]!.port);
    await carol.account("carol");
    await using alice = await PeopleClient.connect(regs[0]!.port);
    await alice.account("alice");
    equal((await carol.request("block", { name: "alice" })).op, "blocked");
    const stored = await alice.request("mail", { to: "bob", text: "call me" });
    equal(stored.op, "mail-stored");
    await redis.kill();
    await redis.restart();
    // On B (after the restart): the accounts, carol's block and bob's mail are there.
    await using alice2 = await PeopleClient.connect(regs[1]!.port);
    const login = await retry(
      () => alice2.request("login", { name: "alice", password: "correct horse" }),
      (r) => r.op === "logged-in",
    );
    equal(login.op, "logged-in", JSON.stringify(login));
    equal((await alice2.request("mail", { to: "carol", text: "hi" })).code, "blocked");
    await using bob = await PeopleClient.connect(regs[1]!.port);
    equal((await bob.login("bob")).mail, 1);
    const mail = await bob.pushOf("mail");
    deepEqual([mail.id, mail.from, mail.text], [stored.id, "alice", "call me"]);
  },
);

redisTest(
  "scale-out: a DM request or invitation to a name live through another registry only by a seed connection is not-supported, as one registry answers",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using regs = await registries(redis, 3, PEOPLE);
    await using alice = await PeopleClient.connect(regs[0]!.port);
    await alice.account("alice");
    await using seed = await RawClient.connect(regs[1]!.port);
    ok((await seed.request(join("room1", "zed", 4501))).startsWith("M:"));
    const zedThere = { name: "zed", state: "online", room: "room1" };
    deepEqual(await untilOnline(alice, "zed", zedThere), zedThere);
    equal((await alice.request("dm-request", { to: "zed" })).code, "not-supported");
    equal((await alice.request("invite", { to: "zed", room: "room2" })).code, "not-supported");
    // A hello'd connection of zed through a third registry can take them.
    await using zed = await PeopleClient.connect(regs[2]!.port);
    ok((await zed.join("room3", "zed", 4502)).startsWith("M:"));
    const routed = await retry(
      () => alice.request("dm-request", { to: "zed" }),
      (answer) => answer.route === "direct",
    );
    equal(routed.route, "direct");
    deepEqual(await zed.pushOf("dm-request"), { op: "dm-request", from: "alice" });
    equal((await alice.request("invite", { to: "zed", room: "room2" })).op, "invite-sent");
    deepEqual(await zed.pushOf("invite"), { op: "invite", from: "alice", room: "room2" });
  },
);

/** The entry of `name` in the `online` list `viewer` gets. */
async function onlineEntry(viewer: PeopleClient, name: string): Promise<unknown> {
  const list = await viewer.request("online");
  return (list.users as { name: string }[]).find((u) => u.name === name);
}

/** The next `presence` push `viewer` gets of `name` in `state` (earlier ones skipped). */
async function presenceOf(viewer: PeopleClient, name: string, state: string) {
  for (;;) {
    const push = await viewer.pushOf("presence");
    if (push.name === name && push.state === state) return push;
  }
}

/** Asks `online` through `viewer` until `name`'s entry is `entry`. */
function untilOnline(viewer: PeopleClient, name: string, entry: unknown): Promise<unknown> {
  return retry(() => onlineEntry(viewer, name), (e) => JSON.stringify(e) === JSON.stringify(entry));
}

redisTest(
  "scale-out: presence is shared: a user online through B is in A's online list, search and presence pushes; a registry started later learns it; a closed registry's users go offline",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using regs = await registries(redis, 2, PEOPLE);
    await using alice = await PeopleClient.connect(regs[0]!.port);
    await alice.account("alice");
    await using bob = await PeopleClient.connect(regs[1]!.port);
    await bob.account("bob");
    ok((await bob.join("room1", "bob", 4300)).startsWith("M:"));
    const bobThere = { name: "bob", state: "online", room: "room1" };
    deepEqual(await untilOnline(alice, "bob", bobThere), bobThere);
    const { ref: _ref, ...found } = await alice.request("search", { name: "bob" });
    deepEqual(found, { op: "search", result: "found", ...bobThere });
    // A registry started now asks the others and lists bob (and alice) at once.
    await using late = await registries(redis, 1, PEOPLE);
    await using carol = await PeopleClient.connect(late[0]!.port);
    await carol.account("carol");
    deepEqual(await untilOnline(carol, "bob", bobThere), bobThere);
    deepEqual(await untilOnline(carol, "alice", { name: "alice", state: "online" }), {
      name: "alice",
      state: "online",
    });
    // A change on B is pushed to listeners on A and on the late one.
    equal((await bob.request("away", { on: true })).op, "away");
    const away = { op: "presence", name: "bob", state: "away", room: "room1" };
    deepEqual(await presenceOf(alice, "bob", "away"), away);
    deepEqual(await presenceOf(carol, "bob", "away"), away);
    // bob online through two registries: leaving one keeps him online through the other.
    await using bob2 = await RawClient.connect(late[0]!.port);
    ok((await bob2.request(join("room2", "guest", 4301))).startsWith("M:"));
    const guest = { name: "guest", state: "online", room: "room2" };
    deepEqual(await untilOnline(alice, "guest", guest), guest);
    // The registry closes: its users are offline everywhere (its heartbeat key is gone).
    await regs[1]!.close();
    const offline = { name: "bob", state: "offline" };
    deepEqual(await untilOnline(alice, "bob", offline), offline);
    deepEqual(await untilOnline(carol, "bob", offline), offline);
    deepEqual(await onlineEntry(alice, "guest"), guest);
  },
);

redisTest(
  "scale-out: DM requests and invitations reach a user online through another registry, and the answers come back",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using regs = await registries(redis, 3, PEOPLE);
    await using alice = await PeopleClient.connect(regs[0]!.port);
    await alice.account("alice");
    await using bob = await PeopleClient.connect(regs[1]!.port);
    await bob.account("bob");
    ok((await bob.join("room1", "bob", 4500)).startsWith("M:"));
    await using carol = await PeopleClient.connect(regs[2]!.port);
    await carol.account("carol");
    const bobThere = { name: "bob", state: "online", room: "room1" };
    deepEqual(await untilOnline(alice, "bob", bobThere), bobThere);
    deepEqual(await untilOnline(carol, "bob", bobThere), bobThere);
    equal((await alice.request("address", { name: "bob" })).code, "consent-required");
    equal((await alice.request("address", { name: "nobody" })).code, "unknown-user");
    // Online elsewhere is online: no mail, the consent flow instead.
    equal((await alice.request("mail", { to: "bob", text: "hi" })).code, "not-offline");
    equal((await alice.request("dm-request", { to: "bob" })).route, "direct");
    deepEqual(await bob.pushOf("dm-request"), { op: "dm-request", from: "alice" });
    equal((await alice.request("dm-request", { to: "bob" })).route, "direct");
    const answered = await bob.request("dm-answer", { to: "alice", accept: true });
    equal(answered.op, "dm-answered");
    deepEqual(await alice.pushOf("dm-accepted"), {
      op: "dm-accepted",
      by: "bob",
      ip: "127.0.0.1",
      port: 4500,
      token: answered.token,
    });
    ok(!bob.keptPushes.some((p) => p.op === "dm-request"), "bob was asked once");
    equal((await bob.request("dm-answer", { to: "alice", accept: true })).code, "no-request");
    const { ref: _ref, ...address } = await alice.request("address", { name: "bob", for: "poke" });
    deepEqual(address, { op: "address", name: "bob", ip: "127.0.0.1", port: 4500, room: "room1" });
    equal((await carol.request("address", { name: "bob" })).code, "consent-required");
    // The consent is kept by alice's registry: asking again is answered at once.
    equal((await alice.request("dm-request", { to: "bob" })).route, "direct");
    equal((await alice.pushOf("dm-accepted")).token, answered.token);
    // A rejection goes back too.
    equal((await carol.request("dm-request", { to: "bob" })).route, "direct");
    deepEqual(await bob.pushOf("dm-request"), { op: "dm-request", from: "carol" });
    equal((await bob.request("dm-answer", { to: "carol", accept: false })).accept, false);
    deepEqual(await carol.pushOf("dm-rejected"), { op: "dm-rejected", by: "bob" });
    // Invitations: accepted and declined.
    equal((await alice.request("invite", { to: "bob", room: "room9" })).op, "invite-sent");
    deepEqual(await bob.pushOf("invite"), { op: "invite", from: "alice", room: "room9" });
    const accepted = await bob.request("invite-answer", {
      to: "alice",
      room: "room9",
      accept: true,
    });
    equal(accepted.op, "invite-answered");
    deepEqual(await alice.pushOf("invite-accepted"), {
      op: "invite-accepted",
      by: "bob",
      room: "room9",
    });
    await declineInvitation(carol, "carol", bob, "bob");
  },
);

redisTest(
  "scale-out: a registry whose subscription dropped reloads the names and blocks published meanwhile, presence, and the logins (the older session ends)",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using regs = await registries(redis, 2, PEOPLE);
    await using carol = await PeopleClient.connect(regs[0]!.port);
    await carol.account("carol");
    await using alice = await PeopleClient.connect(regs[1]!.port);
    await alice.account("alice");
    await using erinA = await PeopleClient.connect(regs[0]!.port);
    await erinA.account("erin");
    const admin = await RedisConnection.open(redis.url);
    await using _ = { [Symbol.asyncDispose]: () => admin.close() };
    // Every subscriber is cut and kept out (no new connections) while carol blocks alice
    // and dave registers: those events are published to nobody.
    const redisCommand = async (...args: string[]) => String(await admin.client.sendCommand(args));
    await redisCommand("CONFIG", "SET", "maxclients", "1");
    await redisCommand("CLIENT", "KILL", "TYPE", "pubsub");
    await retry(() => redisCommand("CLIENT", "LIST", "TYPE", "pubsub"), (list) => list === "");
    equal(await redisCommand("CLIENT", "LIST", "TYPE", "pubsub"), "");
    equal((await carol.request("block", { name: "alice" })).op, "blocked");
    await using dave = await PeopleClient.connect(regs[0]!.port);
    await dave.account("dave");
    await using erinB = await PeopleClient.connect(regs[1]!.port);
    await erinB.login("erin");
    await redisCommand("CONFIG", "SET", "maxclients", "10000");
    // The older session of erin (on A) ends when the logins are told again; the newer one stays.
    deepEqual(await erinA.pushOf("kicked"), { op: "kicked", reason: "logged-in-elsewhere" });
    await erinA.client.closedByPeer();
    equal((await erinB.request("away", { on: true })).op, "away");
    // B reloaded them when its subscription came back.
    const mail = await retry(
      () => alice.request("mail", { to: "carol", text: "hi" }),
      (r) => r.code === "blocked",
    );
    equal(mail.code, "blocked");
    await using stranger = await RawClient.connect(regs[1]!.port);
    match(
      await until(stranger, join("room2", "dave", 4200), (r) => r.startsWith("F:")),
      /^F:.*registered/i,
    );
    const daveThere = { name: "dave", state: "online" };
    deepEqual(await untilOnline(alice, "dave", daveThere), daveThere);
  },
);

redisTest(
  "scale-out: presence events from the channel are validated and bounded",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using regs = await registries(redis, 1, PEOPLE);
    await using alice = await PeopleClient.connect(regs[0]!.port);
    await alice.account("alice");
    const publisher = await RedisConnection.open(redis.url);
    await using _ = { [Symbol.asyncDispose]: () => publisher.close() };
    const publish = (event: unknown) =>
      publisher.client.sendCommand(["PUBLISH", "ringchat:people", JSON.stringify(event)]);
    const long = "x".repeat(33);
    const many = Array.from({ length: 257 }, (_, i) => [`u${i}`, "online"]);
    for (
      const event of [
        { kind: "presence", origin: "zz", first: false, users: [[long, "online"]] },
        { kind: "presence", origin: "zz", first: false, users: [["eve", "king"]] },
        { kind: "presence", origin: "zz", first: false, users: [["eve", "online", 5]] },
        { kind: "presence", origin: "zz", first: false, users: many },
        { kind: "presence", origin: "", first: false, users: [["eve", "online"]] },
      ]
    ) await publish(event);
    await publish({ kind: "presence", origin: "zz", first: false, users: [["ok", "online"]] });
    deepEqual(await untilOnline(alice, "ok", { name: "ok", state: "online" }), {
      name: "ok",
      state: "online",
    });
    const names = ((await alice.request("online")).users as { name: string }[]).map((u) => u.name);
    deepEqual(names, ["ok"]);
  },
);

/** Calls `fn` until `done` holds of its answer (a registry reconnecting to Redis), for up to 5 s. */
async function retry<T>(fn: () => Promise<T>, done: (answer: T) => boolean): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const answer = await fn();
    if (done(answer) || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
