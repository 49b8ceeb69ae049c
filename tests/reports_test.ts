import { deepEqual } from "node:assert/strict";
import { type Report, Reports } from "../peer/reports.ts";

Deno.test("reports: a few of one kind at once, then one per interval counting those not shown", () => {
  let now = 0;
  const shown: Report[] = [];
  const reports = new Reports((r) => shown.push(r), { burst: 2, ratePerSecond: 1, now: () => now });
  for (let i = 0; i < 5; i++) reports.report("junk", "info", `Junk ${i}`);
  deepEqual(shown.map((r) => r.message), ["Junk 0", "Junk 1"]);
  now = 1000;
  reports.report("junk", "info", "Junk 5");
  deepEqual(shown.at(-1), {
    type: "info",
    message: "Junk 5 (and 3 more like it since the last report)",
  });
});

Deno.test("reports: kinds are throttled apart", () => {
  const shown: string[] = [];
  const reports = new Reports((r) => shown.push(r.message), { burst: 1, now: () => 0 });
  reports.report("a", "error", "A1");
  reports.report("a", "error", "A2");
  reports.report("b", "info", "B1");
  deepEqual(shown, ["A1", "B1"]);
});
