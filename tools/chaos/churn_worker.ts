/**
 * The thread a JOIN-and-close churn runs in (`startChurn` of ./churn.ts
 * starts it): told `start`, it churns as the plan says until told `stop`,
 * then waits for what is in flight and sends its count.
 *
 * @module
 */

import { joinFrame, sleep, writeAndClose } from "./attack_kit.ts";
import type { ChurnOrder, ChurnPlan, ChurnReport } from "./churn.ts";
import { serveThread } from "./thread.ts";

const encoder = new TextEncoder();
let running = true;

/** One JOIN-and-close, the `n`th; true when it connected and wrote. */
async function churnOne(plan: ChurnPlan, n: number): Promise<boolean> {
  const frame = joinFrame(plan.room, `churn${n}`, 20_000 + (n % 20_000));
  if (plan.from !== null) return await writeAndClose(plan.host, plan.port, plan.from, frame);
  try {
    const conn = await Deno.connect({ hostname: plan.host, port: plan.port });
    await conn.write(encoder.encode(frame)).catch(() => 0);
    conn.close();
    return true;
  } catch {
    return false; // Refused or reset: not counted.
  }
}

async function churn(plan: ChurnPlan, report: (report: ChurnReport) => void) {
  let churned = 0;
  const inFlight = new Set<Promise<void>>();
  const begun = performance.now();
  for (let n = 0; running;) {
    // Catching up after a late wake-up is bounded, and so is what is in flight.
    const due = plan.rate === 0
      ? Infinity
      : Math.floor(((performance.now() - begun) * plan.rate) / 1000);
    for (let k = 0; n < due && k < 100 && inFlight.size < 200; k++, n++) {
      const one = churnOne(plan, n).then((ok) => {
        if (ok) churned++;
      }).finally(() => inFlight.delete(one));
      inFlight.add(one);
    }
    if (plan.rate === 0 && inFlight.size >= 200) await Promise.race(inFlight);
    else await sleep(plan.rate === 0 ? 0 : 5);
  }
  const ms = performance.now() - begun;
  await Promise.all(inFlight);
  report({ type: "churned", churned, ms });
}

serveThread<ChurnOrder, ChurnReport>((order, report) => {
  if (order.type === "stop") running = false;
  else {
    report({ type: "ready" });
    void churn(order.plan, report);
  }
});
