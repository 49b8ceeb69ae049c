import { equal } from "node:assert/strict";
import { MemberLookup } from "../peer/member_lookup.ts";

Deno.test("member lookup: the first look-up refreshes at once, those soon after share one refresh", async () => {
  let refreshes = 0;
  const lookup = new MemberLookup(30, () => Promise.resolve(void refreshes++));
  await lookup.lookUp();
  equal(refreshes, 1);
  const waits = [lookup.lookUp(), lookup.lookUp(), lookup.lookUp()];
  equal(refreshes, 1, "not before the interval");
  await Promise.all(waits);
  equal(refreshes, 2, "one refresh for all three");
  lookup.close();
});

Deno.test("member lookup: close resolves those waiting and cancels the scheduled refresh", async () => {
  let refreshes = 0;
  const lookup = new MemberLookup(60_000, () => Promise.resolve(void refreshes++));
  await lookup.lookUp();
  const waiting = lookup.lookUp();
  lookup.close();
  await waiting;
  await lookup.lookUp();
  equal(refreshes, 1);
});
