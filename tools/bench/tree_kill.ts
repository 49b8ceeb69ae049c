/**
 * A tree node dies mid-stream (docs/overlay.md §3), with peers as processes
 * in a room where every member speaks ringchat/2: the origin's child whose
 * share is largest below it hangs (SIGSTOP: its links stay up, the copies
 * written to it go nowhere, so its subtree gets what it swallows only by the
 * repair path: digests on the ring links, pulls), then is SIGKILLed while
 * the origin keeps sending. What arrived where, and how long the repair took.
 * Used by `tests/tree_fault_test.ts` and `bench:propagation`.
 *
 * @module
 */

import { message, object } from "@optique/core";
import { run } from "@optique/run";
import { integerOption } from "../../lib/cli_options.ts";
import { fingerNeighbours } from "../../lib/fingers.ts";
import { ringOrder } from "../../lib/ring.ts";
import { Cluster } from "../cluster/cluster.ts";
import type { PeerProcess } from "../process/peer_process.ts";
import { jsonOption, textOption } from "../tool_options.ts";
import { machine } from "./machine.ts";
import { printResult } from "./report.ts";
import { integerList, round, summarize } from "./stats.ts";

const TIMINGS = { keepaliveMs: 400, retryMs: 100, expiryMs: 1_200, sweepMs: 100 };

/** What the scenario saw. */
export interface TreeKill {
  peers: number;
  /** Messages the origin sent: 5 before the hang, 5 while hung, 5 after the kill. */
  messages: number;
  /** Members below the victim in the origin's tree. */
  subtree: number;
  /** Messages some survivor never showed, and messages one showed twice (both should be 0). */
  lost: number;
  doubled: number;
  /** Copies that reached a survivor by a pull first. */
  repaired: number;
  /** Children that survivors found silent (the victim, and any live one taken for it). */
  silent: number;
  /** Copies survivors handed again to the member that took a silent or dead child's part over. */
  resent: number;
  /** Copies survivors dropped as already seen (their `duplicates` counters), over all messages. */
  duplicates: number;
  /** Send → the last survivor's delivery, the slowest message (ms). */
  recoveryMs: number;
  /** Hang → every survivor has every message sent so far (ms). */
  hungMs: number;
}

/** A peer's `stats` event, with the tree's counts. */
async function statsOf(peer: PeerProcess): Promise<Record<string, number>> {
  const answer = peer.waitFor((e) => e.type === "stats", 5_000);
  await peer.command(JSON.stringify({ command: "stats" }));
  return (await answer) as unknown as Record<string, number>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs the scenario with `n` peer processes (at least 8). */
export async function treeKill(n: number, timeoutMs = 15_000): Promise<TreeKill> {
  await using cluster = await Cluster.start({ peers: n, ...TIMINGS });
  await cluster.waitConnected(timeoutMs);
  const peers = cluster.alive();
  const members = peers.map((p) => ({ name: p.name, ip: "127.0.0.1", port: p.port }));
  const ring = ringOrder(members, members[0]!);
  const owed = (p: PeerProcess) =>
    fingerNeighbours(n, ring.findIndex((m) => m.name === p.name)).length - 2;
  // Finger links make no event: the stats are asked until every peer has the ones it owes.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await Promise.all(peers.map(statsOf));
    if (peers.every((p, i) => (all[i]!.fingers ?? 0) >= owed(p))) break;
    if (Date.now() > deadline) throw new Error("Timed out waiting for the finger links");
    await sleep(50);
  }
  // The origin's child at the largest power of two below n holds the largest share but one.
  let top = 1;
  while (top * 2 < n) top *= 2;
  const offset = top / 2;
  const origin = cluster.peer(ring[0]!.name), victim = cluster.peer(ring[offset]!.name);
  const survivors = peers.filter((p) => p !== victim);
  const receivers = survivors.filter((p) => p !== origin);
  const arrivals = new Map<string, Map<string, number>>();
  let doubled = 0;
  for (const p of receivers) {
    const mine = new Map<string, number>();
    arrivals.set(p.name, mine);
    p.on((event, when) => {
      if (event.type !== "message" || !event.text.startsWith("stream")) return;
      if (mine.has(event.text)) doubled++;
      else mine.set(event.text, when);
    });
  }
  const sentAt = new Map<string, number>();
  const send = async (k: number) => {
    const text = `stream #${k}`;
    sentAt.set(text, performance.now());
    await origin.send(text);
    await sleep(20);
  };
  const everywhere = (texts: string[]) =>
    Promise.allSettled(
      receivers.flatMap((p) =>
        texts.map((text) =>
          p.waitFor((e) => e.type === "message" && e.text === text, timeoutMs, true)
        )
      ),
    );
  const dupsBefore = (await Promise.all(receivers.map(statsOf)))
    .reduce((sum, s) => sum + (s.duplicates ?? 0), 0);
  for (let k = 0; k < 5; k++) await send(k);
  victim.signal("SIGSTOP");
  const hungAt = performance.now();
  for (let k = 5; k < 10; k++) await send(k);
  await everywhere([...sentAt.keys()]);
  const hungMs = performance.now() - hungAt;
  await cluster.kill(victim.name);
  for (let k = 10; k < 15; k++) await send(k);
  const texts = [...sentAt.keys()];
  await everywhere(texts);
  // A barrier: copies that would come late come before it.
  await origin.send("stream barrier");
  await everywhere(["stream barrier"]);
  let recoveryMs = 0, lost = 0;
  for (const text of texts) {
    const got = receivers.map((p) => arrivals.get(p.name)!.get(text));
    if (got.some((at) => at === undefined)) lost++;
    else recoveryMs = Math.max(recoveryMs, ...got.map((at) => at! - sentAt.get(text)!));
  }
  const stats = await Promise.all(receivers.map(statsOf));
  const all = [...stats, await statsOf(origin)];
  return {
    peers: n,
    messages: texts.length,
    subtree: Math.min(offset, n - offset) - 1,
    lost,
    doubled,
    repaired: stats.reduce((sum, s) => sum + (s.repaired ?? 0), 0),
    silent: all.reduce((sum, s) => sum + (s.silent ?? 0), 0),
    resent: all.reduce((sum, s) => sum + (s.resent ?? 0), 0),
    duplicates: stats.reduce((sum, s) => sum + (s.duplicates ?? 0), 0) - dupsBefore,
    recoveryMs: Math.round(recoveryMs),
    hungMs: Math.round(hungMs),
  };
}

/** The columns and rows of tree-kill runs, as this bench and bench:propagation print them. */
export function treeKillTable(results: readonly TreeKill[]): {
  columns: string[];
  rows: (number | string)[][];
} {
  return {
    columns: [
      "N",
      "below it",
      "messages",
      "lost",
      "twice",
      "repaired by pulls",
      "silent",
      "handed on again",
      "duplicates",
      "hang → all had all ms",
      "slowest send → last ms",
    ],
    rows: results.map((k) => [
      k.peers,
      k.subtree,
      k.messages,
      k.lost,
      k.doubled,
      k.repaired,
      k.silent,
      k.resent,
      k.duplicates,
      k.hungMs,
      k.recoveryMs,
    ]),
  };
}

if (import.meta.main) {
  const args = run(
    object({
      peers: textOption(
        "--peers",
        "LIST",
        message`Room sizes (peer processes), comma-separated.`,
        "12",
      ),
      runs: integerOption("--runs", { min: 1, metavar: "R" }, message`Runs per room size.`, 3),
      json: jsonOption(),
    }),
    { programName: "bench:tree_kill", args: Deno.args, help: "option", colors: false },
  );
  const began = performance.now();
  const host = await machine();
  const results: TreeKill[] = [];
  for (const n of integerList(args.peers, "--peers")) {
    for (let r = 0; r < args.runs; r++) results.push(await treeKill(n));
  }
  const sizes = [...new Set(results.map((k) => k.peers))];
  printResult({
    name: "tree_kill",
    title: "A tree node hung (SIGSTOP), then SIGKILLed, mid-stream (processes)",
    command: `deno task bench:tree_kill ${Deno.args.filter((a) => a !== "--json").join(" ")}`
      .trim(),
    machine: host,
    params: { peers: args.peers, runs: args.runs },
    tables: [{ title: "each run", ...treeKillTable(results) }],
    targets: sizes.map((n) => {
      const mine = results.filter((k) => k.peers === n);
      const worst = summarize(mine.map((k) => k.recoveryMs), 0).max;
      return {
        what: `N = ${n}: the slowest message reaches the last survivor, worst of ${mine.length}`,
        target: "≤ 1,000 ms",
        value: `${worst} ms`,
        met: worst !== null && worst <= 1000,
      };
    }),
    notes: [
      "The origin sends 15 messages 20 ms apart (5, hang, 5, kill, 5) and a barrier; lost and " +
      "twice count messages some survivor never showed, or showed twice; duplicates are copies " +
      "dropped as already seen.",
      `Duplicates per message, mean over the runs: ${
        round(results.reduce((s, k) => s + k.duplicates / (k.messages + 1), 0) / results.length, 2)
      }.`,
    ],
    data: results,
    durationMs: Math.round(performance.now() - began),
  }, args.json);
}
