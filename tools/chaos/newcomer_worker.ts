/**
 * The thread legitimate newcomers run in while an attack runs
 * (`watchNewcomers` of ./attack_kit.ts starts it): told `start`, it runs
 * {@linkcode newcomer} every `everyMs` (linking as the last `link` order
 * said) until told `stop`, then sends its samples, their `at` in ms since
 * the epoch (a thread's `performance.now()` has its own origin).
 *
 * @module
 */

import {
  newcomer,
  type NewcomerLink,
  type NewcomerOrder,
  type NewcomerReport,
  type NewcomerSample,
  sleep,
} from "./attack_kit.ts";
import { serveThread } from "./thread.ts";

let link: NewcomerLink | null = null;
let running = true;
let least = 0;

async function sample(
  host: string,
  port: number,
  room: string,
  everyMs: number,
  report: (report: NewcomerReport) => void,
) {
  const samples: NewcomerSample[] = [];
  for (let i = 0; running || samples.length < least; i++) {
    const started = performance.now();
    const times = await newcomer(host, port, room, `newcomer${i}`, link);
    samples.push({
      at: performance.timeOrigin + started,
      ms: times.served,
      linkMs: times.linked,
      connectMs: times.connected,
    });
    await sleep(Math.max(0, everyMs - (performance.now() - started)));
  }
  report({ type: "samples", samples });
}

serveThread<NewcomerOrder, NewcomerReport>((order, report) => {
  if (order.type === "link") link = order.link;
  else if (order.type === "stop") {
    least = order.least;
    running = false;
  } else {
    report({ type: "ready" });
    void sample(order.host, order.port, order.room, order.everyMs, report);
  }
});
