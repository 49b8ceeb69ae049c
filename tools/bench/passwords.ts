/**
 * Password hashing cost and what it does to the event loop: ms per
 * PBKDF2-HMAC-SHA-256 hash at the registry's default (600,000 iterations),
 * and how late a 1 ms timer fires (the stall a JOIN would see) while the
 * loop is idle, while one hash runs, while `--hashes` hashes run through the
 * bounded {@linkcode PasswordHasher}, while as many run with no bound, and,
 * for comparison, while `node:crypto`'s `pbkdf2Sync` runs on the JavaScript
 * thread (what a hash that is *not* off the loop does).
 *
 * Then the figure the issue asks for: the round trip of a JOIN (a
 * keepalive) to an in-process registry while logins arrive at `--rate` per
 * second through {@linkcode Accounts} in the same process, with the bounded
 * hasher and with an unbounded one, against no logins at all.
 *
 *     deno run --allow-read --allow-env --allow-net tools/bench/passwords.ts --hashes 10 --rate 100
 *
 * @module
 */

import { pbkdf2Sync } from "node:crypto";
import { message, object } from "@optique/core";
import { run } from "@optique/run";
import { integerOption } from "../../lib/cli_options.ts";
import { Accounts } from "../../registry/accounts.ts";
import { DEFAULT_PASSWORD_ITERATIONS, PasswordHasher } from "../../registry/passwords.ts";
import { SqlitePeopleStore } from "../../registry/people_db.ts";
import { startRegistry } from "../../registry/registry.ts";
import { jsonOption } from "../tool_options.ts";
import { Wire } from "../wire.ts";
import { timedJoins } from "./join_probe.ts";
import { machine } from "./machine.ts";
import { type BenchResult, printResult } from "./report.ts";
import { round, summarize, type Summary } from "./stats.ts";

/** One scenario's figures. */
export interface LoopRow {
  scenario: string;
  wallMs: number;
  /** Hash durations, each from its call to its result (queueing included). */
  hashMs: Summary;
  /** How late each 1 ms interval tick fired: the gap between ticks minus 1 ms. */
  lateMs: Summary;
  ticks: number;
}

/** Runs `work` while a 1 ms interval records how late each of its ticks is. */
async function underTimer(
  scenario: string,
  work: () => Promise<number[]>,
): Promise<LoopRow> {
  const late: number[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    late.push(Math.max(0, now - last - 1));
    last = now;
  }, 1);
  const began = performance.now();
  let hashes: number[];
  try {
    hashes = await work();
  } finally {
    clearInterval(timer);
  }
  // A tick still owed when work ended (pbkdf2Sync: the whole hash).
  late.push(Math.max(0, performance.now() - last - 1));
  return {
    scenario,
    wallMs: round(performance.now() - began, 1),
    hashMs: summarize(hashes, 1),
    lateMs: summarize(late, 2),
    ticks: late.length,
  };
}

/** JOIN round trips during a login storm. */
export interface StormRow {
  scenario: string;
  joinMs: Summary;
  logins: { ok: number; busy: number; other: number };
}

/**
 * JOIN round trips to an in-process registry for `seconds`, while `rate`
 * logins per second go through `hasher` (none when `hasher` is null).
 */
async function joinDuringStorm(
  scenario: string,
  hasher: PasswordHasher | null,
  rate: number,
  seconds: number,
): Promise<StormRow> {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  using store = SqlitePeopleStore.open(":memory:");
  // As many accounts as logins per second, each logging in once a second;
  // one stored hash for all (computed once: the storm's cost is the logins).
  const password = await new PasswordHasher().hash("correct horse");
  for (let i = 0; i < rate; i++) {
    await store.createAccount({ name: `user${i}`, password, createdAt: 0 });
  }
  const storm = hasher === null ? null : await Accounts.open<number>(store, hasher);
  await using wire = await Wire.connect("127.0.0.1", registry.port, { timeoutMs: 10_000 });
  const logins = { ok: 0, busy: 0, other: 0 };
  const pending: Promise<void>[] = [];
  let session = 0;
  const timer = storm === null ? undefined : setInterval(() => {
    const name = `user${session % rate}`;
    const login = storm.login(name, "correct horse", session++, "bench", Date.now()).then(
      (r) => {
        if (r.ok) logins.ok++;
        else if (r.code === "busy") logins.busy++;
        else logins.other++;
      },
    );
    pending.push(login);
  }, 1000 / rate);
  const join = "J:room1:probe:127.0.0.1:50001::\r\n";
  let rtt: number[];
  try {
    rtt = await timedJoins(wire, join, seconds);
  } finally {
    clearInterval(timer);
    await Promise.all(pending);
  }
  return { scenario, joinMs: summarize(rtt, 2), logins };
}

async function timed(hash: () => Promise<unknown>): Promise<number> {
  const began = performance.now();
  await hash();
  return performance.now() - began;
}

if (import.meta.main) {
  const args = run(
    object({
      hashes: integerOption(
        "--hashes",
        { min: 1, metavar: "N" },
        message`Hashes started at once in the concurrent scenarios.`,
        10,
      ),
      rate: integerOption(
        "--rate",
        { min: 1, max: 1000, metavar: "N" },
        message`Logins per second in the storm.`,
        100,
      ),
      seconds: integerOption(
        "--seconds",
        { min: 1, metavar: "S" },
        message`How long each storm scenario lasts.`,
        3,
      ),
      json: jsonOption(),
    }),
    { programName: "bench/passwords.ts", args: Deno.args, help: "option", colors: false },
  );
  const began = performance.now();
  const host = await machine();
  const n = args.hashes;
  const bounded = new PasswordHasher({ maxQueued: n });
  const unbounded = new PasswordHasher({ concurrency: n, maxQueued: 0 });
  await bounded.hash("warm up");
  const rows: LoopRow[] = [];
  rows.push(
    await underTimer("idle (1 s)", async () => {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return [];
    }),
  );
  rows.push(await underTimer("1 hash", async () => [await timed(() => bounded.hash("pw"))]));
  rows.push(
    await underTimer(
      `${n} at once, bounded (concurrency ${
        Math.max(1, (navigator.hardwareConcurrency ?? 2) - 1)
      })`,
      () => Promise.all(Array.from({ length: n }, () => timed(() => bounded.hash("pw")))),
    ),
  );
  rows.push(
    await underTimer(
      `${n} at once, unbounded`,
      () => Promise.all(Array.from({ length: n }, () => timed(() => unbounded.hash("pw")))),
    ),
  );
  rows.push(
    await underTimer("1 pbkdf2Sync on the JS thread", () => {
      const t = performance.now();
      pbkdf2Sync("pw", "0123456789abcdef", DEFAULT_PASSWORD_ITERATIONS, 32, "sha256");
      return Promise.resolve([performance.now() - t]);
    }),
  );
  const storms: StormRow[] = [
    await joinDuringStorm("no logins", null, args.rate, args.seconds),
    await joinDuringStorm(
      `${args.rate} logins/s, bounded hasher`,
      new PasswordHasher(),
      args.rate,
      args.seconds,
    ),
    await joinDuringStorm(
      `${args.rate} logins/s, unbounded hasher`,
      new PasswordHasher({ concurrency: 10_000, maxQueued: 0 }),
      args.rate,
      args.seconds,
    ),
  ];
  const result: BenchResult = {
    name: "passwords",
    title: "Password hashing: cost and event-loop stall",
    command: "deno run --allow-read --allow-env --allow-net tools/bench/passwords.ts " +
      `--hashes ${n} --rate ${args.rate} --seconds ${args.seconds}`,
    machine: host,
    params: {
      hashes: n,
      rate: args.rate,
      seconds: args.seconds,
      iterations: DEFAULT_PASSWORD_ITERATIONS,
    },
    tables: [{
      title: `PBKDF2-HMAC-SHA-256, ${
        DEFAULT_PASSWORD_ITERATIONS.toLocaleString("en-US")
      } iterations`,
      columns: [
        "scenario",
        "wall ms",
        "hash p50 ms",
        "hash max ms",
        "timer ticks",
        "late p50 ms",
        "late p99 ms",
        "late max ms",
      ],
      rows: rows.map((r) => [
        r.scenario,
        r.wallMs,
        r.hashMs.p50,
        r.hashMs.max,
        r.ticks,
        r.lateMs.p50,
        r.lateMs.p99,
        r.lateMs.max,
      ]),
    }, {
      title:
        `JOIN round trip to an in-process registry during a login storm (${args.seconds} s each)`,
      columns: ["scenario", "JOINs", "p50 ms", "p99 ms", "max ms", "logins ok", "busy", "other"],
      rows: storms.map((r) => [
        r.scenario,
        r.joinMs.n,
        r.joinMs.p50,
        r.joinMs.p99,
        r.joinMs.max,
        r.logins.ok,
        r.logins.busy,
        r.logins.other,
      ]),
    }],
    targets: [],
    notes: [
      "late: how long after its due time each tick of a 1 ms setInterval fired; a JOIN " +
      "arriving during the scenario waits about as long.",
      "hash ms counts time queued in the hasher (the bounded scenario queues all but one).",
    ],
    data: { hashing: rows, storms },
    durationMs: Math.round(performance.now() - began),
  };
  printResult(result, args.json);
}
