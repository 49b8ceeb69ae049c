import { deepEqual, equal, throws } from "node:assert/strict";
import { RateLimiter } from "../peer/rate_limit.ts";

function limiter(ratePerSecond: number, burst: number, maxKeys?: number) {
  const clock = { now: 0 };
  const limit = new RateLimiter({ ratePerSecond, burst, maxKeys, now: () => clock.now });
  return { limit, clock };
}

function allowed(limit: RateLimiter, key: string, count: number): number {
  let n = 0;
  for (let i = 0; i < count; i++) if (limit.take(key).allowed) n++;
  return n;
}

Deno.test("rate limit: a key gets its burst at once, then the rate", () => {
  const { limit, clock } = limiter(10, 5);
  equal(allowed(limit, "a", 100), 5);
  clock.now = 1000;
  equal(allowed(limit, "a", 100), 5, "a second refills the burst, no more");
  clock.now = 1100;
  equal(allowed(limit, "a", 100), 1, "100 ms at 10 per second");
});

Deno.test("rate limit: keys are apart", () => {
  const { limit } = limiter(10, 2);
  equal(allowed(limit, "a", 10), 2);
  equal(allowed(limit, "b", 10), 2);
});

Deno.test("rate limit: a burst of refusals is marked at its first, and counted when the bucket is full again", () => {
  const { limit, clock } = limiter(10, 2);
  allowed(limit, "a", 2);
  deepEqual(limit.take("a"), { allowed: false, first: true, ended: 0, skipped: 0 });
  deepEqual(limit.take("a"), { allowed: false, first: false, ended: 0, skipped: 0 });
  // Sustained over the rate: one burst however long, though some get through.
  clock.now = 100;
  deepEqual(limit.take("a"), { allowed: true, first: false, ended: 0, skipped: 2 });
  equal(limit.take("a").first, false);
  // Quiet until full (2 tokens at 10/s: 200 ms): the burst is over.
  clock.now = 300;
  deepEqual(limit.take("a"), { allowed: true, first: false, ended: 3, skipped: 1 });
  clock.now = 300;
  limit.take("a");
  equal(limit.take("a").first, true, "a new burst");
});

Deno.test("rate limit: the keys remembered are bounded, least recently used forgotten first", () => {
  const { limit } = limiter(1, 1, 2);
  limit.take("a");
  limit.take("b");
  limit.take("a");
  limit.take("c");
  equal(limit.keys, 2);
  equal(limit.take("a").allowed, false, "a was kept");
  equal(limit.take("b").allowed, true, "b was forgotten: a full bucket again");
});

Deno.test("rate limit: an infinite rate allows everything and remembers nothing", () => {
  const limit = new RateLimiter({ ratePerSecond: Infinity, burst: 1 });
  equal(limit.unlimited, true);
  equal(allowed(limit, "a", 10_000), 10_000);
  equal(limit.keys, 0);
});

Deno.test("rate limit: the rate must be positive and the burst at least 1", () => {
  throws(() => new RateLimiter({ ratePerSecond: 0, burst: 1 }), RangeError);
  throws(() => new RateLimiter({ ratePerSecond: 1, burst: 0.5 }), RangeError);
  throws(() => new RateLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 0 }), RangeError);
});
