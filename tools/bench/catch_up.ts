/**
 * The catch-up time for missed messages (issue 11, item 5): two peers in a
 * room, each with its history in a data directory (SQLite files, as the
 * `peer` program keeps them); bob quits, alice sends `--missed` messages,
 * bob starts again with the same name, port and data directory and is shown
 * them as history. Measured per run: from bob's `joined` event, and from its
 * first link up, to the last missed message shown; in-process, with the
 * peers' default options (keys, signed texts, member-info from our registry).
 *
 *     deno task bench:catch_up --missed 1000 --runs 5
 *
 * @module
 */

import { message, object } from "@optique/core";
import { run } from "@optique/run";
import { integerOption } from "../../lib/cli_options.ts";
import type { PeerEvent } from "../../peer/events.ts";
import { type PeerHandle, type PeerOptions, startPeer } from "../../peer/peer.ts";
import { startRegistry } from "../../registry/registry.ts";
import { jsonOption } from "../tool_options.ts";
import { machine } from "./machine.ts";
import { type BenchResult, printResult } from "./report.ts";
import { round, summarize } from "./stats.ts";

/** One run's figures, in ms. */
export interface CatchUpRun {
  fromJoinedMs: number;
  fromLinkMs: number;
  shown: number;
}

/** A peer and a way to wait for its events. */
async function peerWith(
  registryPort: number,
  options: PeerOptions,
  listener: (event: PeerEvent, at: number) => void,
): Promise<PeerHandle> {
  return await startPeer({
    registry: { hostname: "127.0.0.1", port: registryPort },
    hostname: "127.0.0.1",
    port: 0,
    room: "bench",
    retryMs: 100,
    ...options,
    onEvent: (event) => listener(event, performance.now()),
  });
}

/** Waits until `condition` holds, checking on `peer`'s events (fails after `ms`). */
function until(peer: PeerHandle, condition: () => boolean, what: string, ms = 60_000) {
  if (condition()) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`Timed out waiting for ${what}`));
    }, ms);
    const off = peer.on(() => {
      if (!condition()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/** One run: `missed` messages sent while bob is away, then bob back. */
export async function measureCatchUp(missed: number): Promise<CatchUpRun> {
  await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
  const dirs = [await Deno.makeTempDir(), await Deno.makeTempDir()];
  try {
    const aliceEvents: PeerEvent[] = [];
    await using alice = await peerWith(
      registry.port,
      { name: "alice", dataDir: dirs[0]! },
      (e) => aliceEvents.push(e),
    );
    let bobMessages = 0;
    let bob = await peerWith(registry.port, { name: "bob", dataDir: dirs[1]! }, (e) => {
      if (e.type === "message") bobMessages++;
    });
    await until(bob, () => bob.state === "CONNECTED", "bob connected");
    await alice.send("hello");
    await until(bob, () => bobMessages > 0, "bob's first message");
    const port = bob.port;
    await bob.quit();
    const listed = () => {
      const members = aliceEvents.filter((e) => e.type === "members").at(-1);
      return members?.type === "members" && members.members.every((m) => m.name !== "bob");
    };
    await until(alice, listed, "bob gone from alice's list");
    for (let i = 0; i < missed; i++) await alice.send(`missed message ${i} ${"x".repeat(80)}`);
    // Past a new link's replay of the last 2 s (the seed's rule): the missed come as history only.
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    let joinedAt = 0, linkAt = 0, lastAt = 0, shown = 0;
    bob = await peerWith(registry.port, { name: "bob", dataDir: dirs[1]!, port }, (e, at) => {
      if (e.type === "joined") joinedAt = at;
      if (e.type === "link" && e.state === "up" && linkAt === 0) linkAt = at;
      if (e.type === "message" && e.history === true) {
        shown++;
        lastAt = at;
      }
    });
    try {
      await until(bob, () => shown >= missed, `${missed} history messages`);
    } finally {
      await bob.quit();
    }
    return { fromJoinedMs: lastAt - joinedAt, fromLinkMs: lastAt - linkAt, shown };
  } finally {
    for (const dir of dirs) await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const args = run(
    object({
      missed: integerOption(
        "--missed",
        { min: 1, max: 1000, metavar: "N" },
        message`Messages sent while the peer is away (the history holds 1,000).`,
        1000,
      ),
      runs: integerOption("--runs", { min: 1, metavar: "N" }, message`Runs.`, 5),
      json: jsonOption(),
    }),
    { programName: "bench:catch_up", args: Deno.args, help: "option", colors: false },
  );
  const began = performance.now();
  const host = await machine();
  const runs: CatchUpRun[] = [];
  for (let i = 0; i < args.runs; i++) runs.push(await measureCatchUp(args.missed));
  const joined = summarize(runs.map((r) => r.fromJoinedMs), 1);
  const link = summarize(runs.map((r) => r.fromLinkMs), 1);
  const result: BenchResult = {
    name: "catch_up",
    title: `Catch-up of ${args.missed} missed messages after a restart`,
    command: `deno task bench:catch_up ${Deno.args.filter((a) => a !== "--json").join(" ")}`
      .trim(),
    machine: host,
    params: { missed: args.missed, runs: args.runs },
    tables: [{
      title: "restarted peer, from its event to the last missed message shown (ms)",
      columns: ["from", "runs", "p50", "max"],
      rows: [
        ["`joined`", joined.n, joined.p50, joined.max],
        ["first link up", link.n, link.p50, link.max],
      ],
    }],
    targets: [],
    notes: [
      "In-process peers with keys and SQLite files (WAL, synchronous NORMAL); texts of 100 bytes.",
      "Each run's peer shows every missed message once, as history: " +
      runs.map((r) => r.shown).join(", "),
    ],
    data: runs,
    durationMs: round(performance.now() - began, 0),
  };
  printResult(result, args.json);
}
