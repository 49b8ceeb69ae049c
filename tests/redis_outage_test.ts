/** A Redis outage as the registry's shared stores see it (issue 15): one log line each way, health. */
import { deepEqual, equal } from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { openSharedStores } from "../registry/store_open.ts";
import { redisTest, startRedisServer } from "./support/redis_server.ts";

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

redisTest(
  "redis outage: the four connections of a registry's stores log it once, and its end once; healthy() follows",
  async () => {
    const records: LogRecord[] = [];
    await configure({
      sinks: { memory: (record) => void records.push(record) },
      loggers: [
        { category: ["ringchat", "registry", "redis"], sinks: ["memory"], lowestLevel: "info" },
        { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
      ],
      reset: true,
    });
    try {
      await using redis = await startRedisServer({ appendOnly: false });
      const stores = (await openSharedStores({
        store: redis.url,
        maxRooms: Infinity,
        maxMembersPerRoom: Infinity,
        allowDuplicateNames: false,
      }))!;
      try {
        equal(await stores.healthy(), true);
        await redis.kill();
        await until(async () => !(await stores.healthy()), "unhealthy");
        await new Promise((resolve) => setTimeout(resolve, 300)); // several reconnection attempts
        await redis.restart();
        await until(() => stores.healthy(), "healthy again");
        await until(() => Promise.resolve(records.length >= 2), "the end of the outage logged");
        deepEqual(records.map((r) => r.level), ["error", "info"]);
      } finally {
        await stores.close();
      }
    } finally {
      await reset();
    }
  },
);
