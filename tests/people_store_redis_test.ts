import { deepEqual, equal, rejects } from "node:assert/strict";
import { RedisPeopleStore } from "../registry/people_store_redis.ts";
import { testPeopleStore } from "./support/people_store_contract.ts";
import { REDIS_MISSING, redisTest, startRedisServer } from "./support/redis_server.ts";

if (REDIS_MISSING === null) {
  // Each contract test gets its own empty Redis, stopped when the store closes.
  testPeopleStore("people store redis", async () => {
    const server = await startRedisServer({ appendOnly: false });
    const store = await RedisPeopleStore.open({ url: server.url });
    const close = store.close.bind(store);
    store.close = async () => {
      await close();
      await server[Symbol.asyncDispose]();
    };
    return store;
  });
} else {
  Deno.test({
    name: `people store redis: contract (ignored: ${REDIS_MISSING})`,
    ignore: true,
    fn() {},
  });
}

redisTest(
  "people store redis: Redis killed with SIGKILL and restarted on its AOF loses no account, block or mail",
  async () => {
    await using redis = await startRedisServer();
    const limits = { maxMessages: 100, maxBytes: 10_000 };
    const ids: number[] = [];
    {
      await using store = await RedisPeopleStore.open({ url: redis.url });
      for (let i = 0; i < 50; i++) {
        equal(
          await store.createAccount({ name: `user${i}`, password: `h${i}`, createdAt: i }),
          true,
        );
        ids.push(
          await store.depositMail(
            { to: "bob", from: `user${i}`, text: `mail ${i}`, at: i },
            limits,
          ) as number,
        );
      }
      equal(await store.addBlock({ by: "bob", name: "mallory", at: 7 }), true);
      equal(await store.setPassword("user3", "rehashed"), true);
      // Every write above was acknowledged: SIGKILL now, with no chance to flush.
      await redis.kill();
    }
    await redis.restart();
    await using store = await RedisPeopleStore.open({ url: redis.url });
    equal((await store.accountNames()).length, 50);
    equal((await store.account("user3"))?.password, "rehashed");
    deepEqual(await store.blocks(), [{ by: "bob", name: "mallory", at: 7 }]);
    deepEqual((await store.mailFor("bob")).map((m) => m.id), ids);
    // The byte count came back too: the mailbox bound still holds.
    equal(
      await store.depositMail({ to: "bob", from: "x", text: "y".repeat(10_000), at: 0 }, limits),
      "mailbox-full",
    );
    // And ids keep increasing after the restart.
    const next = await store.depositMail({ to: "bob", from: "x", text: "z", at: 0 }, limits);
    equal(typeof next === "number" && next > ids.at(-1)!, true);
  },
);

redisTest(
  "people store redis: two stores on one Redis see each other's accounts and mail at once",
  async () => {
    await using redis = await startRedisServer({ appendOnly: false });
    await using a = await RedisPeopleStore.open({ url: redis.url });
    await using b = await RedisPeopleStore.open({ url: redis.url });
    equal(await a.createAccount({ name: "bob", password: "h", createdAt: 1 }), true);
    equal(await b.createAccount({ name: "bob", password: "other", createdAt: 2 }), false);
    const id = await b.depositMail({ to: "bob", from: "alice", text: "hi", at: 3 }, {
      maxMessages: 1,
      maxBytes: 100,
    });
    deepEqual((await a.mailFor("bob")).map((m) => [m.id, m.text]), [[id, "hi"]]);
    equal(await a.deleteMail("bob", [id as number]), 1);
    deepEqual(await b.mailFor("bob"), []);
  },
);

redisTest("people store redis: a closed store refuses further calls", async () => {
  await using redis = await startRedisServer({ appendOnly: false });
  const store = await RedisPeopleStore.open({ url: redis.url });
  await store.close();
  await rejects(store.accountNames(), TypeError);
});
