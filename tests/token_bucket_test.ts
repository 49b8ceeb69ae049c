import { equal, ok, throws } from "node:assert/strict";
import { TokenBucket } from "../lib/token_bucket.ts";

Deno.test("token bucket: starts full and delays nothing within the burst", () => {
  const bucket = new TokenBucket({ ratePerSecond: 100, burst: 10 });
  bucket.take(10, 0);
  equal(bucket.delayMs(0), 0);
  equal(bucket.tokens(0), 0);
});

Deno.test("token bucket: in debt, the delay is the time to pay it back at the rate", () => {
  const bucket = new TokenBucket({ ratePerSecond: 100, burst: 10 });
  bucket.take(15, 0);
  equal(bucket.delayMs(0), 50);
  equal(bucket.delayMs(30), 20);
  equal(bucket.delayMs(50), 0);
  // Refilled, but never past the burst.
  equal(bucket.tokens(10_000), 10);
});

Deno.test("token bucket: time going backwards refills nothing", () => {
  const bucket = new TokenBucket({ ratePerSecond: 1000, burst: 5 });
  bucket.take(5, 100);
  equal(bucket.tokens(50), 0);
  ok(bucket.tokens(101) > 0);
});

Deno.test("token bucket: an infinite rate never delays; bad options are refused", () => {
  const bucket = new TokenBucket({ ratePerSecond: Infinity, burst: 1 });
  bucket.take(1_000_000, 0);
  equal(bucket.delayMs(0), 0);
  throws(() => new TokenBucket({ ratePerSecond: 0, burst: 1 }), RangeError);
  throws(() => new TokenBucket({ ratePerSecond: 1, burst: 0 }), RangeError);
  throws(() => new TokenBucket({ ratePerSecond: Number.NaN, burst: 1 }), RangeError);
});
