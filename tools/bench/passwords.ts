/**
 * Password hashing cost and what it does to the event loop: ms per
 * PBKDF2-HMAC-SHA-256 hash at the registry's default (600,000 iterations),
 * and how late a 1 ms timer fires (the stall a JOIN would see) while the
 * loop is idle, while one hash runs, while `--hashes` hashes run through the
 * bounded {@linkcode PasswordHasher}, while as many run with no bound, and,
 * for comparison, while `node:crypto`'s `pbkdf2Sync` runs on the JavaScript
 * thread (what a hash that is *not* off the loop does).
 *
 *     deno run --allow-read --allow-env tools/bench/passwords.ts --hashes 10
 *
 * @module
 */

import { pbkdf2Sync } from "node:crypto";
import { message, object } from "@optique/core";
import { run } from "@optique/run";
import { integerOption } from "../../lib/cli_options.ts";
import { DEFAULT_PASSWORD_ITERATIONS, PasswordHasher } from "../../registry/passwords.ts";
import { jsonOption } from "../tool_options.ts";
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
  const result: BenchResult = {
    name: "passwords",
    title: "Password hashing: cost and event-loop stall",
    command: `deno run --allow-read --allow-env tools/bench/passwords.ts --hashes ${n}`,
    machine: host,
    params: { hashes: n, iterations: DEFAULT_PASSWORD_ITERATIONS },
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
    }],
    targets: [],
    notes: [
      "late: how long after its due time each tick of a 1 ms setInterval fired; a JOIN " +
      "arriving during the scenario waits about as long.",
      "hash ms counts time queued in the hasher (the bounded scenario queues all but one).",
    ],
    data: rows,
    durationMs: Math.round(performance.now() - began),
  };
  printResult(result, args.json);
}
