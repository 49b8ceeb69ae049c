/**
 * Sustained load: every peer of a 10-process overlay sends, closed loop with
 * a window of messages in flight per sender (a message is in flight until
 * every other peer has delivered it), for a bounded time. Messages per
 * second, loss, double deliveries, delivery latency under load, and each
 * peer process's memory (VmRSS) and CPU before and after.
 *
 *     deno task bench:sustained --peers 10 --window 16 --duration-ms 5000
 *
 * @module
 */

import { message, object } from "@optique/core";
import { run } from "@optique/run";
import { integerOption } from "../../lib/cli_options.ts";
import { jsonOption } from "../tool_options.ts";
import { WatchedCluster } from "./cluster_watch.ts";
import { machine } from "./machine.ts";
import { cpuTimeMs, memory } from "../process/proc.ts";
import { type BenchResult, printResult, type Target } from "./report.ts";
import { round, summarize, type Summary } from "./stats.ts";

/** What a run measured. */
export interface SustainedResult {
  peers: number;
  window: number;
  durationMs: number;
  sent: number;
  /** Delivered by every other peer. */
  complete: number;
  lost: number;
  doubleDeliveries: number;
  messagesPerSecond: number;
  deliveriesPerSecond: number;
  latencyMs: Summary;
  /** Link up/down events during the load (0 when the overlay held). */
  linkEvents: number;
  rssBeforeKiB: number[];
  rssAfterKiB: number[];
  /** Sum of the peers' VmRSS sampled during the load: [ms since start, KiB]. */
  rssSamples: [number, number][];
  /** CPU of each peer process over the load, as % of one core. */
  cpuPercent: number[];
  /** CPU of this process (the harness that sends and reads every event), % of one core. */
  harnessCpuPercent: number;
  drainMs: number;
}

interface InFlight {
  sender: string;
  sentAt: number;
  receivers: Set<string>;
}

/** Runs the load on a fresh cluster. */
export async function measureSustained(
  options: {
    peers: number;
    window: number;
    durationMs: number;
    drainMs: number;
    textBytes: number;
    maxTextRate: number;
  },
): Promise<SustainedResult> {
  await using watched = await WatchedCluster.start({
    peers: options.peers,
    keepaliveMs: 20_000,
    retryMs: 200,
    peerArgs: ["--max-text-rate", String(options.maxTextRate)],
    concurrency: 2,
  });
  const cluster = watched.cluster;
  const names = [...cluster.peers.keys()];
  const last = cluster.peer(names.at(-1)!);
  const converge = names.slice(0, -1).map((n) =>
    cluster.peer(n).waitFor((e) => e.type === "message" && e.text === "converge", 10_000)
      .catch(() => null)
  );
  await last.send("converge");
  await Promise.all(converge);
  await watched.waitConverged(15_000, 300);

  const pids = names.map((n) => watched.pid(n));
  const rssBefore = await Promise.all(pids.map((p) => memory(p)));
  const cpuBefore = await Promise.all(pids.map((p) => cpuTimeMs(p)));
  const harnessBefore = await cpuTimeMs(Deno.pid);

  const others = options.peers - 1;
  const inFlight = new Map<string, InFlight>();
  const outstanding = new Map(names.map((n) => [n, 0]));
  const latencies: number[] = [];
  let sent = 0;
  let complete = 0;
  let doubles = 0;
  let linkEvents = 0;
  let sending = true;
  let drained: (() => void) | null = null;
  const seq = new Map(names.map((n) => [n, 0]));
  const pad = "x".repeat(Math.max(0, options.textBytes - 16));

  const sendNext = (sender: string) => {
    const n = seq.get(sender)! + 1;
    seq.set(sender, n);
    const text = `${sender} #${n} ${pad}`;
    inFlight.set(text, { sender, sentAt: performance.now(), receivers: new Set() });
    outstanding.set(sender, outstanding.get(sender)! + 1);
    sent++;
    cluster.peer(sender).send(text).catch(() => {});
  };

  const off = watched.on((peer, event, at) => {
    if (event.type === "link") linkEvents++;
    if (event.type !== "message" || event.self) return;
    const f = inFlight.get(event.text);
    if (f === undefined) return;
    if (f.receivers.has(peer.name)) {
      doubles++;
      return;
    }
    f.receivers.add(peer.name);
    if (f.receivers.size < others) return;
    inFlight.delete(event.text);
    complete++;
    latencies.push(at - f.sentAt);
    outstanding.set(f.sender, outstanding.get(f.sender)! - 1);
    if (sending) sendNext(f.sender);
    else if (inFlight.size === 0) drained?.();
  });

  const rssSamples: [number, number][] = [];
  const sampleRss = async () => {
    const at = performance.now() - started;
    const all = await Promise.all(pids.map((p) => memory(p).catch(() => ({ rssKiB: 0 }))));
    rssSamples.push([Math.round(at), all.reduce((a, m) => a + m.rssKiB, 0)]);
  };
  const started = performance.now();
  for (const name of names) for (let i = 0; i < options.window; i++) sendNext(name);
  const step = options.durationMs / 4;
  for (let i = 0; i < 4; i++) {
    await new Promise((resolve) => setTimeout(resolve, step));
    if (i < 3) await sampleRss();
  }
  sending = false;
  const stoppedAt = performance.now();
  const completeAtStop = complete;
  const drainStart = performance.now();
  if (inFlight.size > 0) {
    await new Promise<void>((resolve) => {
      drained = resolve;
      setTimeout(resolve, options.drainMs);
    });
  }
  const drainMs = performance.now() - drainStart;
  off();
  const cpuAfter = await Promise.all(pids.map((p) => cpuTimeMs(p)));
  const harnessAfter = await cpuTimeMs(Deno.pid);
  const elapsed = performance.now() - started;
  const rssAfter = await Promise.all(pids.map((p) => memory(p)));
  const seconds = (stoppedAt - started) / 1000;
  return {
    peers: options.peers,
    window: options.window,
    durationMs: Math.round(stoppedAt - started),
    sent,
    complete,
    lost: inFlight.size,
    doubleDeliveries: doubles,
    messagesPerSecond: Math.round(completeAtStop / seconds),
    deliveriesPerSecond: Math.round((completeAtStop * others) / seconds),
    latencyMs: summarize(latencies),
    linkEvents,
    rssBeforeKiB: rssBefore.map((m) => m.rssKiB),
    rssAfterKiB: rssAfter.map((m) => m.rssKiB),
    rssSamples,
    cpuPercent: cpuAfter.map((c, i) => round(((c - cpuBefore[i]!) / elapsed) * 100, 1)),
    harnessCpuPercent: round(((harnessAfter - harnessBefore) / elapsed) * 100, 1),
    drainMs: round(drainMs, 0),
  };
}

function mib(kib: number): number {
  return round(kib / 1024, 1);
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

if (import.meta.main) {
  const args = run(
    object({
      peers: integerOption(
        "--peers",
        { min: 2, metavar: "N" },
        message`Peer processes, every one sending.`,
        10,
      ),
      window: integerOption(
        "--window",
        { min: 1, metavar: "W" },
        message`Messages in flight per sender.`,
        16,
      ),
      durationMs: integerOption(
        "--duration-ms",
        { min: 100, metavar: "MS" },
        message`How long the peers send.`,
        5000,
      ),
      drainMs: integerOption(
        "--drain-ms",
        { min: 100, metavar: "MS" },
        message`Longest wait for the last messages after sending stops.`,
        10_000,
      ),
      maxTextRate: integerOption(
        "--max-text-rate",
        { min: 0, metavar: "N" },
        message`The peers' --max-text-rate (per origin; 0: no limit).`,
        0,
      ),
      textBytes: integerOption(
        "--text-bytes",
        { min: 16, max: 60_000, metavar: "B" },
        message`Size of each chat text.`,
        64,
      ),
      json: jsonOption(),
    }),
    { programName: "bench:sustained", args: Deno.args, help: "option", colors: false },
  );
  const began = performance.now();
  const host = await machine();
  const r = await measureSustained(args);
  const targets: Target[] = [{
    what: "sustained load: loss",
    target: "0 lost, 0 delivered twice",
    value: `${r.lost} lost, ${r.doubleDeliveries} twice (of ${r.sent})`,
    met: r.lost === 0 && r.doubleDeliveries === 0,
  }];
  const result: BenchResult = {
    name: "sustained",
    title: "Sustained load through a 10-peer overlay",
    command: `deno task bench:sustained ${Deno.args.filter((a) => a !== "--json").join(" ")}`
      .trim(),
    machine: host,
    params: { ...args, json: undefined },
    tables: [{
      title:
        `${r.peers} peer processes, every one sending, window ${r.window}, ${args.textBytes}-byte texts`,
      columns: [
        "messages/s",
        "deliveries/s",
        "sent",
        "lost",
        "twice",
        "latency p50 ms",
        "p99 ms",
        "link changes",
        "RSS sum MiB: before, at ¼ ½ ¾ of the load, after",
        "max RSS after MiB",
        "CPU per peer %",
        "harness CPU %",
      ],
      rows: [[
        r.messagesPerSecond,
        r.deliveriesPerSecond,
        r.sent,
        r.lost,
        r.doubleDeliveries,
        r.latencyMs.p50,
        r.latencyMs.p99,
        r.linkEvents,
        [sum(r.rssBeforeKiB), ...r.rssSamples.map(([, kib]) => kib), sum(r.rssAfterKiB)]
          .map(mib).join(" → "),
        mib(Math.max(...r.rssAfterKiB)),
        `${Math.min(...r.cpuPercent)}–${Math.max(...r.cpuPercent)}`,
        r.harnessCpuPercent,
      ]],
    }],
    targets,
    notes: [
      "Closed loop: each sender keeps the window full; a message leaves the window when all " +
      "other peers have delivered it. Messages are sent through each peer's stdin (JSON " +
      "commands) and deliveries read from its stdout, so the harness is part of the loop.",
      "Latency: send command written → last delivery read, per message, under load.",
      "Memory: VmRSS of each peer process before the load and after the drain.",
      "CPU: utime + stime (/proc/PID/stat) over the load and the drain, % of one core. When the " +
      "harness is near 100% it, not the overlay, sets the pace.",
      `The peers ran with --max-text-rate ${args.maxTextRate}${
        args.maxTextRate === 0 ? " (no limit)" : ""
      }; by default a peer forwards at most 200 messages a second from one origin (bursts of ` +
      "400), so with the defaults a 10-peer room carries at most 2,000 messages a second by design.",
    ],
    data: r,
    durationMs: Math.round(performance.now() - began),
  };
  printResult(result, args.json);
}
