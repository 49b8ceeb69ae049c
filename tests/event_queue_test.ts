import { deepEqual, equal } from "node:assert/strict";
import { EventQueue } from "../peer/event_queue.ts";

Deno.test("event queue: events pushed before reading wait in order; end lets them drain", async () => {
  let done = 0;
  const queue = new EventQueue<number>(() => done++);
  queue.push(1);
  queue.push(2);
  equal(queue.size, 2);
  queue.end();
  queue.push(3);
  const seen: number[] = [];
  for await (const n of queue) seen.push(n);
  deepEqual(seen, [1, 2]);
  equal(done, 1);
});

Deno.test("event queue: a waiting reader wakes on push and on end", async () => {
  const queue = new EventQueue<string>();
  const first = queue.next();
  queue.push("a");
  deepEqual(await first, { value: "a", done: false });
  const second = queue.next();
  queue.end();
  deepEqual(await second, { value: undefined, done: true });
  deepEqual(await queue.next(), { value: undefined, done: true });
});

Deno.test("event queue: return() drops what is queued, ends a waiting reader and calls onDone once", async () => {
  let done = 0;
  const queue = new EventQueue<number>(() => done++);
  const waiting = queue.next();
  await queue.return();
  deepEqual(await waiting, { value: undefined, done: true });
  queue.push(1);
  deepEqual(await queue.next(), { value: undefined, done: true });
  equal(done, 1);
});

Deno.test("event queue: break out of for await stops the subscription", async () => {
  let done = 0;
  const queue = new EventQueue<number>(() => done++);
  for (let i = 0; i < 5; i++) queue.push(i);
  for await (const n of queue) if (n === 1) break;
  equal(done, 1);
  equal(queue.size, 0);
});
