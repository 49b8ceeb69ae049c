import { deepEqual, equal, notEqual, ok, rejects } from "node:assert/strict";
import fc from "fast-check";
import type { Member } from "../lib/frames.ts";
import { hashId } from "../lib/sdbm.ts";
import { RedisConnection } from "../registry/redis_connection.ts";
import type {
  JoinAnswer,
  MemberRecord,
  Removal,
  RenewAnswer,
  RoomChange,
} from "../registry/room_store.ts";
import { RedisRoomStore, type RedisRoomStoreOptions } from "../registry/room_store_redis.ts";
import { Rooms, type RoomsOptions } from "../registry/rooms.ts";
import { type RedisServer, redisTest, startRedisServer } from "./support/redis_server.ts";

const decoder = new TextDecoder();
const EXPIRY_MS = 60;

function member(i: number): Member {
  // Members i and i + 4 share a name at other ports: a name in use.
  return { name: ["alice", "bob", "carol", "dave"][i % 4]!, ip: "127.0.0.1", port: 50001 + i };
}

/** Member `i` of many, every name its own. */
function someone(i: number): Member {
  return { name: `user${i}`, ip: "127.0.0.1", port: 40000 + i };
}

/** `n` stores on one Redis, as `n` registries would open them. */
async function openStores(
  redis: RedisServer,
  n: number,
  options: Omit<RedisRoomStoreOptions, "url"> = {},
): Promise<RedisRoomStore[] & AsyncDisposable> {
  const stores = await Promise.all(
    Array.from({ length: n }, () => RedisRoomStore.open({ url: redis.url, ...options })),
  );
  return Object.assign(stores, {
    [Symbol.asyncDispose]: async () => void await Promise.all(stores.map((s) => s.close())),
  });
}

function fields(m: MemberRecord) {
  return { room: m.room, name: m.name, ip: m.ip, port: m.port, hashId: m.hashId };
}

function removal<O>(r: Removal<O> | null | "not-owner") {
  if (r === null || r === "not-owner") return r;
  return { member: { ...fields(r.member), lastSeen: r.member.lastSeen }, owner: r.owner };
}

/** The registry's JOIN over the in-memory rooms (`registry/registry.ts` #join, as a store answer). */
function memoryJoin(
  rooms: Rooms<string>,
  room: string,
  m: Member,
  owner: string,
  now: number,
): JoinAnswer<string> {
  const mine = rooms.memberOf(owner);
  if (mine !== undefined) {
    if (mine.room !== room) return { denied: "other-room" };
    if (mine.hashId !== hashId(m.name, m.ip, m.port)) return { denied: "other-member" };
  }
  const refused = rooms.refusal(room, m);
  if (refused !== null) return { denied: refused };
  return { outcome: rooms.join(room, m, owner, now), reply: rooms.membersReply(room) };
}

function joinView(a: JoinAnswer<string>) {
  if ("denied" in a) return a;
  const { member, added, roomCreated, takenFrom } = a.outcome;
  return {
    member: fields(member),
    added,
    roomCreated,
    takenFrom,
    reply: decoder.decode(a.reply),
  };
}

function renewView(a: RenewAnswer | MemberRecord | null | undefined, reply?: Uint8Array) {
  if (a === null || a === undefined) return null;
  if ("member" in a) return { member: fields(a.member), reply: decoder.decode(a.reply) };
  return { member: fields(a), reply: decoder.decode(reply!) };
}

type Op =
  | { op: "join"; room: number; member: number; owner: number; via: number }
  | { op: "keepalive"; owner: number; via: number }
  | { op: "depart"; room: number; member: number; owner: number; via: number }
  | { op: "release"; owner: number; via: number }
  | { op: "sweep"; after: number; via: number };

const via = fc.integer({ min: 0, max: 2 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant("join" as const),
      room: fc.integer({ min: 0, max: 2 }),
      member: fc.integer({ min: 0, max: 7 }),
      owner: fc.integer({ min: 0, max: 7 }),
      via,
    }),
    weight: 5,
  },
  {
    arbitrary: fc.record({ op: fc.constant("keepalive" as const), owner: fc.nat(7), via }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      op: fc.constant("depart" as const),
      room: fc.integer({ min: 0, max: 2 }),
      member: fc.integer({ min: 0, max: 7 }),
      owner: fc.integer({ min: 0, max: 7 }),
      via,
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ op: fc.constant("release" as const), owner: fc.nat(7), via }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ op: fc.constant("sweep" as const), after: fc.nat(50), via }),
    weight: 1,
  },
);

/** Sweep removals in a fixed order (the stores do not promise one). */
function swept(list: Removal<string>[]) {
  return list.map((r) => ({
    key: `${r.member.room}/${r.member.hashId}`,
    lastSeen: r.member.lastSeen,
    owner: r.owner,
    roomDestroyed: r.roomDestroyed,
  })).sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}

/** Runs `ops` on the in-memory rooms and on three Redis stores at once, comparing every answer. */
async function compare(redis: RedisServer, prefix: string, options: RoomsOptions, ops: Op[]) {
  const rooms = new Rooms<string>(options);
  await using stores = await openStores(redis, 3, { prefix, ...options });
  let now = 1000;
  for (const o of ops) {
    const store = stores[o.via]!;
    const room = "room" in o ? `room${o.room}` : "";
    // A connection (owner) lives on one registry: its number picks the store.
    const own = "owner" in o ? stores[o.owner % 3]! : store;
    const ownerId = "owner" in o ? `c${o.owner}` : "";
    switch (o.op) {
      case "join":
        deepEqual(
          joinView(await own.join(room, member(o.member), ownerId, now)),
          joinView(memoryJoin(rooms, room, member(o.member), ownerId, now)),
        );
        break;
      case "keepalive": {
        const mine = rooms.renew(ownerId, now);
        deepEqual(
          renewView(await own.renew(ownerId, now)),
          renewView(mine, mine && rooms.membersReply(mine.room)),
        );
        break;
      }
      case "depart":
        deepEqual(
          removal(await own.depart(room, member(o.member), ownerId)),
          removal(rooms.depart(room, member(o.member), ownerId)),
        );
        break;
      case "release":
        deepEqual(removal(await own.release(ownerId)), removal(rooms.release(ownerId)));
        break;
      case "sweep":
        now += o.after;
        deepEqual(
          swept(await store.sweep(now, EXPIRY_MS)).map((r) => ({ ...r, roomDestroyed: null })),
          swept(rooms.sweep(now, EXPIRY_MS)).map((r) => ({ ...r, roomDestroyed: null })),
        );
        break;
    }
    now += 1;
    // Every registry answers G and each M byte for byte as the one in-memory registry does.
    for (const s of stores) {
      equal(decoder.decode(await s.roomsReply()), decoder.decode(rooms.roomsReply()));
      for (const name of ["room0", "room1", "room2"]) {
        const reply = await s.membersReply(name);
        const expected = rooms.roomNames().includes(name) ? rooms.membersReply(name) : null;
        equal(reply && decoder.decode(reply), expected && decoder.decode(expected));
      }
    }
    deepEqual(await store.counts(), { rooms: rooms.roomCount, members: rooms.memberCount });
  }
}

redisTest(
  "room store redis: three registries answer every JOIN, keepalive, depart, close and sweep as the in-memory rooms do, byte for byte",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    let run = 0;
    for (const options of [{ maxRooms: 2, maxMembersPerRoom: 3 }, { allowDuplicateNames: true }]) {
      await fc.assert(
        fc.asyncProperty(
          fc.array(opArb, { minLength: 1, maxLength: 40 }),
          (ops) => compare(redis, `run${run++}:`, options, ops),
        ),
        { numRuns: 60 },
      );
    }
  },
);

redisTest(
  "room store redis: the §4 vectors: M and MSID after alice, bob and carol join through three registries",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using stores = await openStores(redis, 3);
    for (let i = 0; i < 3; i++) await stores[i]!.join("room1", member(i), `r${i}/1`, 1);
    const expected =
      "M:9774350085627291144:carol:127.0.0.1:50003:bob:127.0.0.1:50002:alice:127.0.0.1:50001::\r\n";
    for (const s of stores) {
      equal(decoder.decode((await s.membersReply("room1"))!), expected);
    }
    const renewed = await stores[0]!.renew("r0/1", 2);
    equal(decoder.decode(renewed!.reply), expected);
  },
);

redisTest(
  "room store redis: two JOINs racing into a new room on two registries create it once, 300 times",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using stores = await openStores(redis, 2);
    const [a, b] = [stores[0]!, stores[1]!];
    for (let i = 0; i < 300; i++) {
      const room = `race${i}`;
      const [ja, jb] = await Promise.all([
        a.join(room, member(0), `a/${i}`, i),
        b.join(room, member(1), `b/${i}`, i),
      ]);
      ok("outcome" in ja && "outcome" in jb);
      equal(Number(ja.outcome.roomCreated) + Number(jb.outcome.roomCreated), 1);
      ok(ja.outcome.added && jb.outcome.added);
      const ra = decoder.decode((await a.membersReply(room))!);
      equal(ra, decoder.decode((await b.membersReply(room))!));
      // The second JOIN's reply lists both members, and is the final list.
      const last = ja.outcome.roomCreated ? jb : ja;
      equal(decoder.decode(last.reply), ra);
    }
    const g = decoder.decode(await a.roomsReply());
    equal(g, decoder.decode(await b.roomsReply()));
    equal(g.split(":").length, 300 + 3);
    deepEqual(await a.counts(), { rooms: 300, members: 600 });
  },
);

redisTest(
  "room store redis: a JOIN racing an expiry on another registry renews or re-adds the member, never loses it, 300 times",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using stores = await openStores(redis, 2);
    const [a, b] = [stores[0]!, stores[1]!];
    let removedFirst = 0;
    for (let i = 0; i < 300; i++) {
      const room = `race${i}`;
      const t0 = i * 1000;
      await a.join(room, member(0), `a/${i}`, t0);
      const [join, removed] = await Promise.all([
        a.join(room, member(0), `a/${i}`, t0 + 100),
        b.sweep(t0 + 100, EXPIRY_MS),
      ]);
      ok("outcome" in join);
      // Either the sweep came first (and the JOIN added the member again), or the JOIN did.
      equal(join.outcome.added, removed.length === 1);
      equal(join.outcome.roomCreated, removed.length === 1);
      if (removed.length === 1) removedFirst++;
      const members = await b.members(room);
      deepEqual(members.map((m) => [m.name, m.lastSeen]), [["alice", t0 + 100]]);
      // The renewed member expires later, exactly once.
      equal((await b.sweep(t0 + 100 + EXPIRY_MS + 1, EXPIRY_MS)).length, 1);
    }
    ok(removedFirst <= 300);
    deepEqual(await a.counts(), { rooms: 0, members: 0 });
  },
);

redisTest(
  "room store redis: three registries sweeping at once remove each expired member exactly once, 20 times",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using stores = await openStores(redis, 3, { sweepBatch: 7 });
    for (let round = 0; round < 20; round++) {
      const t0 = round * 10_000;
      for (let i = 0; i < 60; i++) {
        await stores[i % 3]!.join(`room${i % 6}`, someone(i), `r${i % 3}/${round}/${i}`, t0 + i);
      }
      // Members 0..39 are older than the expiry at t0 + 100; 40..59 are not.
      const swept = await Promise.all(stores.map((s) => s.sweep(t0 + 100, 100 - 40)));
      const all = swept.flat();
      equal(all.length, 40);
      equal(new Set(all.map((r) => `${r.member.room}/${r.member.hashId}`)).size, 40);
      ok(all.every((r) => r.member.lastSeen < t0 + 40));
      equal(all.filter((r) => r.roomDestroyed).length, 0);
      deepEqual(await stores[0]!.counts(), { rooms: 6, members: 20 });
      const rest = (await Promise.all(stores.map((s) => s.sweep(t0 + 1000, 0)))).flat();
      equal(rest.length, 20);
      equal(rest.filter((r) => r.roomDestroyed).length, 6);
      deepEqual(await stores[1]!.counts(), { rooms: 0, members: 0 });
    }
  },
);

redisTest(
  "room store redis: a change on one registry reaches another's listeners and cache within 100 ms",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using stores = await openStores(redis, 2);
    const [a, b] = [stores[0]!, stores[1]!];
    await a.join("room1", member(0), "a/1", 1);
    const before = decoder.decode((await b.membersReply("room1"))!);
    const heard = Promise.withResolvers<RoomChange>();
    const stop = b.onChange((change) => {
      if (change.room === "room1" && !change.roomsChanged) heard.resolve(change);
    });
    const start = performance.now();
    await a.join("room1", member(1), "a/2", 2);
    await heard.promise;
    const ms = performance.now() - start;
    stop();
    ok(ms < 100, `heard after ${ms} ms`);
    const after = decoder.decode((await b.membersReply("room1"))!);
    notEqual(after, before);
    ok(after.includes("bob:127.0.0.1:50002:alice"));
    const created = Promise.withResolvers<RoomChange>();
    b.onChange((change) => change.roomsChanged && created.resolve(change));
    await a.join("room2", member(2), "a/3", 3);
    deepEqual(await created.promise, { room: "room2", roomsChanged: true });
    equal(decoder.decode(await b.roomsReply()), "G:room2:room1::\r\n");
  },
);

redisTest(
  "room store redis: per-source counts are shared by every store, moved by a takeover, and gone with the members",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using stores = await openStores(redis, 2, {
      maxMembersPerSource: 1,
      maxRoomsPerSource: 1,
    });
    const [a, b] = [stores[0]!, stores[1]!];
    const denial = (answer: JoinAnswer<string>) => "denied" in answer ? answer.denied : "ok";
    const t0 = 1000;
    equal(denial(await a.join("r1", someone(0), "a/1", t0, "", undefined, "10.0.0.1")), "ok");
    equal(
      denial(await b.join("r1", someone(1), "b/1", t0, "", undefined, "10.0.0.1")),
      "members-per-source",
    );
    equal(
      denial(await b.join("r2", someone(2), "b/2", t0, "", undefined, "10.0.0.1")),
      "rooms-per-source",
    );
    // A trusted source (`""`) is not limited, nor counted.
    equal(denial(await b.join("r2", someone(2), "b/2", t0)), "ok");
    // Taken over from another source: the count moves with the member.
    const taken = await b.join("r1", someone(0), "b/3", t0, "", undefined, "10.0.0.2");
    ok("outcome" in taken);
    equal(taken.outcome.takenFrom, "a/1");
    equal(denial(await a.join("r3", someone(3), "a/4", t0, "", undefined, "10.0.0.1")), "ok");
    equal(
      denial(await a.join("r1", someone(5), "a/5", t0, "", undefined, "10.0.0.2")),
      "members-per-source",
    );
    // Expired, whichever store sweeps: nothing of the counts is left.
    equal((await a.sweep(t0 + EXPIRY_MS + 1, EXPIRY_MS)).length, 3);
    await using admin = await RedisConnection.open(redis.url);
    deepEqual(await admin.client.sendCommand(["KEYS", "*src*"]), []);
    equal(denial(await b.join("r4", someone(6), "b/6", t0, "", undefined, "10.0.0.2")), "ok");
  },
);

redisTest("room store redis: a keepalive is one round trip to Redis, and a JOIN one", async () => {
  await using redis = await startRedisServer({ appendOnly: false });
  await using stores = await openStores(redis, 1);
  const store = stores[0]!;
  for (let i = 0; i < 5; i++) await store.join("room1", someone(i), `a/${i}`, i);
  await using monitor = await RedisConnection.open(redis.url);
  const seen: string[] = [];
  const done = Promise.withResolvers<void>();
  await monitor.client.monitor((line: string) => {
    if (line.includes('"ECHO" "done"')) done.resolve();
    // Commands a script runs show as "[0 lua]": they are not round trips.
    else if (!line.includes(" lua]")) seen.push(line);
  });
  for (let i = 0; i < 10; i++) ok((await store.renew(`a/${i % 5}`, 100 + i)) !== null);
  ok("outcome" in await store.join("room1", someone(5), "a/5", 200));
  await using marker = await RedisConnection.open(redis.url);
  await marker.client.sendCommand(["ECHO", "done"]);
  await done.promise;
  // The marker's connection says HELLO/CLIENT first; count only the store's scripts.
  const scripts = seen.filter((line) => line.includes('"EVALSHA"'));
  equal(scripts.length, 11);
  equal(seen.filter((line) => line.includes('"EVAL"')).length, 0);
  equal(seen.length - seen.filter((line) => /"(HELLO|CLIENT|ECHO)"/.test(line)).length, 11);
});

redisTest("room store redis: scripts Redis forgot (a restart) run again by EVAL", async () => {
  await using redis = await startRedisServer({ appendOnly: false });
  await using stores = await openStores(redis, 1);
  const store = stores[0]!;
  await store.join("room1", member(0), "a/0", 0);
  await using admin = await RedisConnection.open(redis.url);
  await admin.client.sendCommand(["SCRIPT", "FLUSH"]);
  const renewed = await store.renew("a/0", 5);
  equal(renewed?.member.lastSeen, 5);
});

redisTest(
  "room store redis: with Redis down a request fails at once, and the store recovers when it is back",
  async () => {
    await using redis = await startRedisServer();
    await using stores = await openStores(redis, 1);
    const store = stores[0]!;
    await store.join("room1", member(0), "a/0", 0);
    await redis.kill();
    const start = performance.now();
    await rejects(store.renew("a/0", 1));
    ok(performance.now() - start < 1000);
    await redis.restart();
    // The client reconnects by itself (its backoff is under a second at first).
    let renewed: RenewAnswer | null = null;
    for (let i = 0; i < 200 && renewed === null; i++) {
      renewed = await store.renew("a/0", 2).catch(() => null);
      if (renewed === null) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    equal(renewed?.member.lastSeen, 2, "the member survived in the AOF and the store reconnected");
  },
);

redisTest("room store redis: a closed store refuses further requests", async () => {
  await using redis = await startRedisServer({ appendOnly: false });
  const store = await RedisRoomStore.open({ url: redis.url });
  await store.close();
  await rejects(store.counts(), TypeError);
});

Deno.test("room store redis: opening fails at once when Redis does not answer", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  const start = performance.now();
  await rejects(RedisRoomStore.open({ url: `redis://127.0.0.1:${port}` }), /does not answer/);
  ok(performance.now() - start < 2000);
});
