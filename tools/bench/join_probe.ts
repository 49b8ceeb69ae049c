/**
 * The JOIN probe of the login benchmarks: one JOIN (a keepalive) every
 * 5 ms on a fixed schedule, each timed from when it was due (not from when
 * the loop got round to sending it), so a stalled registry shows as latency
 * instead of as fewer samples.
 *
 * @module
 */

import type { Wire } from "../wire.ts";

/** Sends `join` on `wire` every 5 ms for `seconds`; the round trips, in ms from each due time. */
export async function timedJoins(wire: Wire, join: string, seconds: number): Promise<number[]> {
  const rtt: number[] = [];
  const start = performance.now();
  for (let i = 0; i < seconds * 200; i++) {
    const due = start + i * 5;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    await wire.request(join);
    rtt.push(performance.now() - due);
  }
  return rtt;
}
