/**
 * The Redis room store from one process (issue 15): a private `redis-server`
 * (tests/support/redis_server.ts, AOF on as in production), `--members`
 * members in `--rooms` rooms, then for `--seconds` each:
 *
 * - keepalive: every member renews (`RoomStore.renew`) in a loop, all of
 *   them in flight at once (the client pipelines them on one connection);
 * - JOIN: new members JOIN and DEPART (each changes the membership, so each
 *   reply is rebuilt), `--members` in flight;
 * - round trips: Redis' MONITOR counts the commands 100 keepalives and 100
 *   JOINs send.
 *
 * The in-memory `Rooms` doing the same keepalives gives the ceiling.
 *
 *     deno run -A tools/bench/room_store.ts --members 600 --rooms 6 --seconds 5
 *
 * @module
 */

import { RedisConnection } from "../../registry/redis_connection.ts";
import { RedisRoomStore } from "../../registry/room_store_redis.ts";
import { Rooms } from "../../registry/rooms.ts";
import { startRedisServer } from "../../tests/support/redis_server.ts";
import { quantile, round } from "./stats.ts";

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(Deno.args[i + 1]);
}

const members = flag("members", 600);
const roomCount = flag("rooms", 6);
const seconds = flag("seconds", 5);

function someone(i: number) {
  return { name: `user${i}`, ip: "127.0.0.1", port: 20000 + i };
}

/** Runs `members` loops of `step` for `ms`; returns requests/s and latency summary (ms). */
async function loop(ms: number, step: (i: number, n: number) => Promise<void>) {
  const latencies: number[] = [];
  const end = performance.now() + ms;
  await Promise.all(Array.from({ length: members }, async (_, i) => {
    for (let n = 0; performance.now() < end; n++) {
      const t = performance.now();
      await step(i, n);
      latencies.push(performance.now() - t);
    }
  }));
  latencies.sort((a, b) => a - b);
  return {
    perSecond: Math.round(latencies.length / (ms / 1000)),
    p50Ms: round(quantile(latencies, 0.5)!, 2),
    p99Ms: round(quantile(latencies, 0.99)!, 2),
    maxMs: round(latencies.at(-1)!, 2),
  };
}

await using redis = await startRedisServer();
await using store = await RedisRoomStore.open({ url: redis.url });
for (let i = 0; i < members; i++) {
  await store.join(`room${i % roomCount}`, someone(i), `bench/${i}`, Date.now());
}

const keepalive = await loop(seconds * 1000, async (i) => {
  if (await store.renew(`bench/${i}`, Date.now()) === null) throw new Error("Lost a member");
});
const join = await loop(seconds * 1000, async (i, n) => {
  const m = someone(100_000 + i);
  const owner = `bench/join/${i}/${n}`;
  const answer = await store.join(`room${i % roomCount}`, m, owner, Date.now());
  if (!("outcome" in answer)) throw new Error(`JOIN denied: ${answer.denied}`);
  await store.depart(`room${i % roomCount}`, m, owner);
});

// Round trips, as Redis sees them (commands run inside scripts show as "lua]").
await using monitor = await RedisConnection.open(redis.url);
const commands: string[] = [];
const marked = Promise.withResolvers<void>();
await monitor.client.monitor((line: string) => {
  if (line.includes('"ECHO" "bench-done"')) marked.resolve();
  else if (!line.includes(" lua]")) commands.push(line);
});
for (let i = 0; i < 100; i++) await store.renew(`bench/${i}`, Date.now());
const keepaliveCommands = commands.length;
for (let i = 0; i < 100; i++) {
  await store.join("room0", someone(200_000 + i), `bench/rt/${i}`, Date.now());
}
await using marker = await RedisConnection.open(redis.url);
await marker.client.sendCommand(["ECHO", "bench-done"]);
await marked.promise;
const joinCommands = commands.filter((l) => !/"(HELLO|CLIENT|ECHO|SELECT)"/.test(l)).length -
  keepaliveCommands;

// The ceiling: the in-memory rooms, same members, synchronous.
const rooms = new Rooms<string>();
for (let i = 0; i < members; i++) {
  rooms.join(`room${i % roomCount}`, someone(i), `bench/${i}`, Date.now());
}
const memoryStart = performance.now();
let memoryRenews = 0;
while (performance.now() - memoryStart < 1000) {
  for (let i = 0; i < members; i++, memoryRenews++) {
    const m = rooms.renew(`bench/${i}`, Date.now())!;
    rooms.membersReply(m.room);
  }
}

console.log(JSON.stringify(
  {
    members,
    rooms: roomCount,
    seconds,
    redisKeepalive: keepalive,
    redisJoinAndDepart: join,
    roundTripsPerKeepalive: round(keepaliveCommands / 100, 2),
    roundTripsPerJoin: round(joinCommands / 100, 2),
    memoryKeepalivePerSecond: Math.round(memoryRenews / ((performance.now() - memoryStart) / 1000)),
  },
  null,
  2,
));
