import { deepEqual, equal } from "node:assert/strict";
import { Backoff } from "../peer/backoff.ts";
import { PeerError } from "../peer/errors.ts";
import {
  JOIN_RETRY_CAP_MS,
  joinBackoff,
  type JoinRetryHost,
  joinRetrying,
  sleep,
} from "../peer/join_retry.ts";
import { RegistryUnreachable } from "../peer/registry_client.ts";
import { TaskSet } from "../peer/tasks.ts";

function unreachable(): PeerError {
  const cause = new RegistryUnreachable("127.0.0.1:9", "Connection refused");
  return new PeerError("registry-unreachable", cause.message, { cause });
}

function host(outcomes: (PeerError | null)[], abort = new AbortController()) {
  const tasks = new TaskSet();
  const log: string[] = [];
  let tries = 0;
  const h: JoinRetryHost = {
    join: () => {
      const outcome = outcomes[tries++] ?? null;
      return outcome === null ? Promise.resolve(void log.push("joined")) : Promise.reject(outcome);
    },
    stillWanted: () => true,
    info: (message) => void log.push(message),
    fail: (error) => void log.push(`fail ${(error as PeerError).code}`),
    track: (p) => tasks.track(p),
    signal: abort.signal,
  };
  return { h, log, tasks, abort };
}

Deno.test("join retry: an unreachable registry is tried again with doubling delays until it answers", async () => {
  const { h, log, tasks } = host([unreachable(), unreachable(), null]);
  await joinRetrying(h, new Backoff(5, 100));
  await tasks.drain();
  deepEqual(log, [
    "Cannot reach the registry at 127.0.0.1:9 (Connection refused); trying again in 0.005 s",
    "Cannot reach the registry at 127.0.0.1:9 (Connection refused); trying again in 0.01 s",
    "joined",
  ]);
});

Deno.test("join retry: any other failure is shown once and not retried", async () => {
  const { h, log, tasks } = host([new PeerError("registry-refused", "Refused")]);
  await joinRetrying(h, new Backoff(5, 100));
  await tasks.drain();
  deepEqual(log, ["fail registry-refused"]);
});

Deno.test("join retry: aborting stops the wait at once; no longer wanted stops the retry", async () => {
  const { h, log, tasks, abort } = host([unreachable(), null]);
  await joinRetrying(h, new Backoff(60_000, 60_000));
  abort.abort();
  await tasks.drain();
  equal(log.length, 1, "the notice, and no join");
  const second = host([unreachable(), null]);
  second.h.stillWanted = () => false;
  await joinRetrying(second.h, new Backoff(1, 1));
  await second.tasks.drain();
  equal(second.log.length, 1);
});

Deno.test("join retry: sleep resolves true after the delay, false when aborted", async () => {
  const abort = new AbortController();
  equal(await sleep(1, abort.signal), true);
  const waiting = sleep(60_000, abort.signal);
  abort.abort();
  equal(await waiting, false);
  equal(await sleep(1, abort.signal), false);
});

Deno.test("join retry: the delays start at retryMs and stop doubling at the cap", () => {
  const backoff = joinBackoff(10_000);
  deepEqual([backoff.next(), backoff.next(), backoff.next(), backoff.next()], [
    10_000,
    20_000,
    JOIN_RETRY_CAP_MS,
    JOIN_RETRY_CAP_MS,
  ]);
  equal(joinBackoff(60_000).next(), 60_000, "a retryMs above the cap is kept");
});
