import { equal } from "node:assert/strict";
import { TaskSet } from "../peer/tasks.ts";

Deno.test("tasks: drain waits for every task, those started meanwhile included; failures are kept quiet", async () => {
  const tasks = new TaskSet();
  const order: string[] = [];
  const late = Promise.withResolvers<void>();
  tasks.track(
    Promise.resolve().then(() => {
      order.push("first");
      tasks.track(late.promise.then(() => void order.push("late")));
    }),
  );
  tasks.track(Promise.reject(new Error("Boom")));
  const drained = tasks.drain().then(() => void order.push("drained"));
  await Promise.resolve();
  setTimeout(late.resolve, 0);
  await drained;
  equal(order.join(","), "first,late,drained");
  equal(tasks.size, 0);
});
