import { deepEqual, equal } from "node:assert/strict";
import { Emitter } from "../peer/emitter.ts";

Deno.test("emitter: listeners hear every event in order; a throwing one does not stop the others", () => {
  const emitter = new Emitter<number>();
  const heard: number[] = [];
  emitter.on(() => {
    throw new Error("Bad listener");
  });
  const off = emitter.on((n) => heard.push(n));
  emitter.emit(1);
  off();
  emitter.emit(2);
  deepEqual(heard, [1]);
});

Deno.test("emitter: a subscription ends after the last event and unsubscribes", async () => {
  const emitter = new Emitter<string>();
  const ended = Promise.withResolvers<void>();
  const events = emitter.events((e) => e === "quit", ended.promise);
  emitter.emit("a");
  emitter.emit("quit");
  emitter.emit("after");
  const seen: string[] = [];
  for await (const e of events) seen.push(e);
  deepEqual(seen, ["a", "quit"]);
  ended.resolve();
});

Deno.test("emitter: a subscription ends when `ended` settles", async () => {
  const emitter = new Emitter<string>();
  const ended = Promise.withResolvers<void>();
  const events = emitter.events(() => false, ended.promise);
  emitter.emit("a");
  ended.resolve();
  const seen: string[] = [];
  for await (const e of events) seen.push(e);
  deepEqual(seen, ["a"]);
  emitter.clear();
  equal(seen.length, 1);
});
