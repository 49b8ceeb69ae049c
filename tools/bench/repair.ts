/**
 * Repair: SIGKILL of the most-linked peer (most backward links, as the
 * cluster harness picks it) to a repaired overlay, for N peer processes.
 * Repaired = the survivors' links form one connected graph, none of them
 * still links to the killed peer, and every survivor has a forward link.
 *
 *     deno task bench:repair --peers 10,50 --repetitions 5
 *
 * Times are the harness's: from just before the SIGKILL to the last `link`
 * event (as its JSON line is read) before the `/links` answers showed the
 * overlay repaired. Between repetitions the killed peer is restarted on its
 * port and the overlay converges again (the restarted peer sends one
 * message, so every peer refreshes its member list).
 *
 * @module
 */

import { message, object } from "@optique/core";
import { run } from "@optique/run";
import { integerOption } from "../../lib/cli_options.ts";
import { jsonOption, textOption } from "../tool_options.ts";
import type { PeerProcess } from "../process/peer_process.ts";
import { WatchedCluster } from "./cluster_watch.ts";
import { isConnected, type Overlay } from "./graph.ts";
import { machine } from "./machine.ts";
import { type BenchResult, printResult, type Target } from "./report.ts";
import { integerList, quantile, round } from "./stats.ts";

/** Figures for one cluster size. */
export interface RepairRow {
  peers: number;
  repetitions: number;
  /** Kill → first link-down event, per repetition (ms). */
  detectMs: number[];
  /** Kill → repaired, per repetition (ms). */
  repairMs: number[];
  medianMs: number | null;
  maxMs: number | null;
  victims: string[];
  failures: string[];
  startMs: number;
  /** Restart of the killed peer → converged again, per repetition (ms). */
  restartMs: number[];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function repaired(overlay: Overlay, victim: string): boolean {
  for (const links of overlay.values()) {
    if (links.forward === null || links.forward.name === victim) return false;
    if (links.backward.some((b) => b.name === victim)) return false;
  }
  return isConnected(overlay);
}

/** Waits until `text` has reached every running peer (or `timeoutMs`). */
async function spread(watched: WatchedCluster, from: PeerProcess, text: string, timeoutMs: number) {
  const others = watched.cluster.alive().filter((p) => p !== from);
  const waits = others.map((p) =>
    p.waitFor((e) => e.type === "message" && e.text === text, timeoutMs).catch(() => null)
  );
  await from.send(text);
  await Promise.all(waits);
}

/** Runs the repetitions on a cluster of `peers` processes. */
export async function measureRepair(
  peers: number,
  options: { repetitions: number; budgetMs: number; timeoutMs: number },
): Promise<RepairRow> {
  const began = performance.now();
  const deadline = began + options.budgetMs;
  await using watched = await WatchedCluster.start({
    peers,
    keepaliveMs: 20_000,
    retryMs: 200,
    concurrency: 2,
  });
  const startMs = performance.now() - began;
  const cluster = watched.cluster;
  await spread(watched, cluster.peer(`p${peers}`), "converge", 10_000);
  await watched.waitConverged(15_000, 300);

  const row: RepairRow = {
    peers,
    repetitions: 0,
    detectMs: [],
    repairMs: [],
    medianMs: null,
    maxMs: null,
    victims: [],
    failures: [],
    startMs: round(startMs, 0),
    restartMs: [],
  };
  for (let rep = 0; rep < options.repetitions; rep++) {
    if (deadline - performance.now() < options.timeoutMs + 2000) {
      row.failures.push(`stopped after ${rep} repetitions: the time budget ran out`);
      break;
    }
    const victim = cluster.mostLinked(await cluster.overlay())[0]!;
    let firstDown = Number.NaN;
    let lastLink = Number.NaN;
    let wake: (() => void) | null = null;
    const off = watched.on((peer, event, at) => {
      if (event.type !== "link" || peer.name === victim) return;
      if (event.state === "down" && Number.isNaN(firstDown)) firstDown = at;
      lastLink = at;
      wake?.();
    });
    const t0 = performance.now();
    await cluster.kill(victim);
    let done = Number.NaN;
    while (performance.now() - t0 < options.timeoutMs) {
      const asked = performance.now();
      const linkBefore = lastLink;
      if (repaired(await cluster.overlay(), victim)) {
        done = Number.isNaN(linkBefore) ? asked : linkBefore;
        break;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 20);
      });
      wake = null;
    }
    off();
    row.victims.push(victim);
    if (Number.isNaN(done)) {
      row.failures.push(`repetition ${rep + 1}: not repaired within ${options.timeoutMs} ms`);
    } else {
      row.repairMs.push(round(done - t0, 2));
      if (!Number.isNaN(firstDown)) row.detectMs.push(round(firstDown - t0, 2));
    }
    row.repetitions++;
    if (rep + 1 < options.repetitions) {
      const restarted = performance.now();
      const back = await cluster.restart(victim);
      watched.watch(back);
      await spread(watched, back, `back ${rep}`, 10_000);
      await watched.waitConverged(15_000, 300);
      row.restartMs.push(round(performance.now() - restarted, 0));
      await sleep(100);
    }
  }
  row.medianMs = quantile(row.repairMs, 0.5);
  row.maxMs = row.repairMs.length === 0 ? null : Math.max(...row.repairMs);
  return row;
}

if (import.meta.main) {
  const args = run(
    object({
      peers: textOption(
        "--peers",
        "LIST",
        message`Cluster sizes (processes), comma-separated.`,
        "10,50",
      ),
      repetitions: integerOption(
        "--repetitions",
        { min: 1, metavar: "R" },
        message`Kills per size.`,
        7,
      ),
      budgetMs: integerOption(
        "--budget-ms",
        { min: 5000, metavar: "MS" },
        message`Time allowed per size, starting the peers included.`,
        120_000,
      ),
      timeoutMs: integerOption(
        "--timeout-ms",
        { min: 100, metavar: "MS" },
        message`Longest wait for one repair.`,
        10_000,
      ),
      json: jsonOption(),
    }),
    { programName: "bench:repair", args: Deno.args, help: "option", colors: false },
  );
  const began = performance.now();
  const host = await machine();
  const rows: RepairRow[] = [];
  const errors: string[] = [];
  for (const peers of integerList(args.peers, "--peers")) {
    try {
      rows.push(await measureRepair(peers, args));
    } catch (error) {
      errors.push(`N = ${peers}: ${error instanceof Error ? error.message : error}`);
    }
  }
  const targets: Target[] = [];
  const n10 = rows.find((r) => r.peers === 10);
  if (n10 !== undefined) {
    targets.push({
      what: "repair after SIGKILL of the most-linked peer, N = 10",
      target: "median < 50 ms",
      value: n10.medianMs === null ? "not measured" : `median ${n10.medianMs} ms`,
      met: n10.medianMs === null ? null : n10.medianMs < 50,
    });
  }
  const result: BenchResult = {
    name: "repair",
    title: "Overlay repair after SIGKILL",
    command: `deno task bench:repair ${Deno.args.filter((a) => a !== "--json").join(" ")}`.trim(),
    machine: host,
    params: { ...args, json: undefined },
    tables: [{
      title: "SIGKILL of the most-linked peer → repaired overlay (processes)",
      columns: ["N", "kills", "detect p50 ms", "repair median ms", "max ms", "all (ms)"],
      rows: rows.map((r) => [
        r.peers,
        r.repetitions,
        quantile(r.detectMs, 0.5),
        r.medianMs,
        r.maxMs,
        r.repairMs.join(", "),
      ]),
    }],
    targets,
    notes: [
      "Repaired: the survivors' /links form one connected graph, none links to the killed peer, " +
      "and every survivor has a forward link. Time: from just before SIGKILL to the last link " +
      "event read before the /links answers showed it (the harness's clock, stdout pipes included).",
      "Detect: SIGKILL to the first link-down event of a survivor.",
      ...rows.flatMap((r) => r.failures.map((f) => `N = ${r.peers}: ${f}`)),
      ...errors,
    ],
    data: rows,
    durationMs: Math.round(performance.now() - began),
  };
  printResult(result, args.json);
}
