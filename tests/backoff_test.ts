import { deepEqual, throws } from "node:assert/strict";
import { Backoff } from "../peer/backoff.ts";

Deno.test("backoff: delays double from the first up to the cap, then stay there", () => {
  const backoff = new Backoff(100, 700);
  deepEqual(Array.from({ length: 6 }, () => backoff.next()), [100, 200, 400, 700, 700, 700]);
});

Deno.test("backoff: a first delay that is not positive or above the cap is refused", () => {
  throws(() => new Backoff(0, 10), RangeError);
  throws(() => new Backoff(20, 10), RangeError);
});
