/**
 * Overlay propagation: the time from a send to the delivery at the last peer
 * (p50/p99 over several messages, each from another sender), hops, duplicate
 * receipts per message and the delivery ratio, for N peers in this process
 * (`startPeer`) and for N peer processes (the cluster harness). Each
 * in-process size also runs the floor: raw TCP flooding over a ring of the
 * same size in one process (./floor_ring.ts).
 *
 *     deno task bench:propagation --peers 10,50,200,1000 --processes 10 --messages 20
 *
 * How it is measured:
 * - The registry is a separate process. Peers join `--concurrency` at a time
 *   with the default keepalive (20 s); then the newest member sends one
 *   unmeasured message: every peer that does not know it yet refreshes its
 *   member list (PROTOCOL.md §6, unknown origin), so the ring converges
 *   without waiting for a keepalive round. Converged = every peer lists every
 *   member and no link changed for `--settle-ms`.
 * - Latency: `performance.now()` before `send()` to the last peer's
 *   `message` event (in-process: one clock). For processes the harness
 *   stamps each JSON event line as it reads it; the figure is from the
 *   sender's own `message` event (emitted as it writes the frame) to the last
 *   delivery, so both ends include one stdout pipe.
 * - Hops to the last peer: from each delivery's `hops` (the broadcast tree
 *   counts them) or its `via` (the member its first copy came from), so the
 *   path each copy really took; times 30 ms, the time to the last peer on a
 *   wide-area network.
 * - Each size runs twice, in-process and as processes: the ring (every peer
 *   floods, overlay "ring"; processes get `--overlay ring`) and the broadcast
 *   tree (docs/overlay.md).
 * - Duplicates: the growth of the peers' `duplicates` counters (`T` frames
 *   dropped as already seen: `peer.stats()` in-process, the `stats` event of
 *   a process) from just before a message is sent until it has drained.
 *
 * @module
 */

import { message, object } from "@optique/core";
import { run } from "@optique/run";
import { integerOption } from "../../lib/cli_options.ts";
import { jsonOption, switchOption, textOption } from "../tool_options.ts";
import { configureLogging } from "../../lib/logging.ts";
import { inProcessDuplicates, processDuplicates } from "./duplicates.ts";
import { floorRing } from "./floor_ring.ts";
import { duplicateBound, edgeCount, edgeSignature, isConnected } from "./graph.ts";
import { fingerNeighbours } from "../../lib/fingers.ts";
import { ringOrder } from "../../lib/ring.ts";
import type { PeerEvent } from "../../peer/events.ts";
import type { Overlay } from "./graph.ts";
import { InProcessRoom } from "./in_process_room.ts";
import { machine } from "./machine.ts";
import { type BenchResult, printResult, type Target } from "./report.ts";
import { RegistryProcess } from "../process/registry_process.ts";
import { integerList, round, summarize, type Summary } from "./stats.ts";
import { WatchedCluster } from "./cluster_watch.ts";
import { type TreeKill, treeKill, treeKillTable } from "./tree_kill.ts";

/** Figures for one room size. */
export interface PropagationRow {
  mode: "in-process" | "processes";
  /** How messages travel: flooded on the ring, or down the broadcast tree (docs/overlay.md). */
  overlay: "ring" | "tree";
  peers: number;
  /** Peers that actually started (fewer than `peers` when the start ran out of time). */
  started: number;
  joinMs: number;
  converged: boolean;
  convergeMs: number;
  edges: number;
  connected: boolean;
  graphStable: boolean;
  messages: number;
  latencyMs: Summary;
  /** Floor: raw TCP flooding on a ring of the same size (in-process only). */
  floorMs: Summary | null;
  /** Hops from the sender to the last peer, from each delivery's `via` and `hops`. */
  hops: Summary;
  /** The same hop counts times 30 ms: the time to the last peer on a wide-area network. */
  at30Ms: Summary;
  /** Copies received per message (deliveries plus duplicates): the transmissions. */
  frames: Summary;
  duplicates: Summary;
  duplicateBound: number;
  deliveryRatio: number;
  skipped: string | null;
}

interface Options {
  messages: number;
  warmup: number;
  settleMs: number;
  concurrency: number;
  budgetMs: number;
  floor: boolean;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function skippedRow(
  mode: PropagationRow["mode"],
  overlay: PropagationRow["overlay"],
  peers: number,
  why: string,
): PropagationRow {
  const empty = summarize([]);
  return {
    mode,
    overlay,
    peers,
    started: 0,
    joinMs: 0,
    converged: false,
    convergeMs: 0,
    edges: 0,
    connected: false,
    graphStable: false,
    messages: 0,
    latencyMs: empty,
    floorMs: null,
    hops: empty,
    at30Ms: empty,
    frames: empty,
    duplicates: empty,
    duplicateBound: 0,
    deliveryRatio: 0,
    skipped: why,
  };
}

/** Receipts of one text: how many peers got it and when the last one did. */
interface Arrival {
  count: number;
  last: number;
  done: (() => void) | null;
}

class Arrivals {
  readonly #byText = new Map<string, Arrival>();
  /** The msgID of each text, from its sender's own `message` event. */
  readonly ids = new Map<string, string>();
  /** When the harness saw the sender's own `message` event. */
  readonly selfAt = new Map<string, number>();

  /** Per text, each receiver's `via` (by name) and `hops` of its first copy. */
  readonly paths = new Map<string, Map<string, { via: string | null; hops: number | null }>>();

  /** Records a `message` event (of `receiver`, the peer that emitted it). */
  event(receiver: string, event: PeerEvent, at: number): void {
    if (event.type !== "message") return;
    this.record(event.text, event.self, event.msgId, at);
    if (event.self) return;
    let paths = this.paths.get(event.text);
    if (paths === undefined) this.paths.set(event.text, paths = new Map());
    if (!paths.has(receiver)) {
      paths.set(receiver, { via: event.via?.name ?? null, hops: event.hops ?? null });
    }
    this.poke(event.text);
  }

  /**
   * Hops from `sender` to the last peer that got `text`: each peer's `hops`
   * where the design knows it (the tree), else one more than the peer its
   * first copy came from (`via`). Null if a path is unknown.
   */
  hopsToLast(text: string, sender: string): number | null {
    const paths = this.paths.get(text);
    if (paths === undefined) return null;
    const depth = new Map<string, number>([[sender, 0]]);
    const of = (name: string, guard: number): number | null => {
      const known = depth.get(name);
      if (known !== undefined) return known;
      const path = paths.get(name);
      if (path === undefined || guard > paths.size) return null;
      if (path.hops !== null) return path.hops;
      if (path.via === null) return null;
      const before = of(path.via, guard + 1);
      if (before === null) return null;
      depth.set(name, before + 1);
      return before + 1;
    };
    let last = 0;
    for (const name of paths.keys()) {
      const d = of(name, 0);
      if (d === null) return null;
      last = Math.max(last, d);
    }
    return last;
  }

  record(text: string, self: boolean, msgId: string, at: number): void {
    if (self) {
      this.ids.set(text, msgId);
      this.selfAt.set(text, at);
      return;
    }
    const a = this.#arrival(text);
    a.count++;
    a.last = at;
  }

  #arrival(text: string): Arrival {
    let a = this.#byText.get(text);
    if (a === undefined) {
      a = { count: 0, last: 0, done: null };
      this.#byText.set(text, a);
    }
    return a;
  }

  /** Waits until `expected` peers have `text` (or `timeoutMs`); returns the arrival. */
  async wait(text: string, expected: number, timeoutMs: number): Promise<Arrival> {
    const a = this.#arrival(text);
    const deadline = performance.now() + timeoutMs;
    while (a.count < expected && performance.now() < deadline) {
      const { promise, resolve } = Promise.withResolvers<void>();
      a.done = resolve;
      const timer = setTimeout(resolve, Math.min(20, Math.max(1, deadline - performance.now())));
      await promise;
      clearTimeout(timer);
      a.done = null;
    }
    return a;
  }

  poke(text: string): void {
    const a = this.#byText.get(text);
    if (a?.done && a.count > 0) a.done();
  }
}

function graphFigures(overlay: Overlay) {
  return {
    edges: edgeCount(overlay),
    connected: isConnected(overlay),
    sig: edgeSignature(overlay),
  };
}

/**
 * Waits until every peer of a tree-mode room has its finger links (each
 * links with every member at a power-of-two distance either way, its two
 * ring neighbours by the ring links), or until `deadline`. Finger links make
 * no event: their counts are read every 50 ms, for at most 20 s. Returns
 * how many peers still lack some (the tree then hands their parts on by
 * takeover and the repair path).
 */
async function untilFingers(room: InProcessRoom, deadline: number): Promise<number> {
  const members = room.peers.map((p) => ({ name: p.name, ip: "127.0.0.1", port: p.handle.port }));
  const ring = ringOrder(members, members[0]!);
  const owed = new Map(
    ring.map((m, i) => [m.name, Math.max(0, fingerNeighbours(ring.length, i).length - 2)]),
  );
  const until = Math.min(deadline - 10_000, performance.now() + 20_000);
  let short = room.peers.length;
  while (performance.now() < until) {
    short = room.peers.filter((p) => (p.handle.stats().fingers ?? 0) < owed.get(p.name)!).length;
    if (short === 0) return 0;
    await sleep(50);
  }
  return short;
}

/** N peers in this process. */
export async function inProcess(
  peers: number,
  opts: Options,
  overlay: PropagationRow["overlay"] = "ring",
): Promise<PropagationRow> {
  const started = performance.now();
  const deadline = started + opts.budgetMs;
  await using registry = await RegistryProcess.start({
    logLevel: "warning",
    echoStderr: true,
    maxConnections: peers * 2 + 100,
  });
  await using room = await InProcessRoom.start({
    peers,
    registryPort: registry.port,
    keepaliveMs: 20_000,
    concurrency: opts.concurrency,
    deadlineMs: opts.budgetMs * 0.5,
    overlay: overlay === "ring" ? "ring" : "auto",
  });
  const joinMs = performance.now() - started;
  const n = room.peers.length;
  if (n < peers) {
    return {
      ...skippedRow(
        "in-process",
        overlay,
        peers,
        `only ${n} of ${peers} peers joined within ${
          Math.round(opts.budgetMs * 0.5 / 1000)
        } s (half the budget)`,
      ),
      started: n,
      joinMs: round(joinMs, 0),
    };
  }
  const arrivals = new Arrivals();
  room.on((peer, event, at) => arrivals.event(peer.name, event, at));
  // The newest member speaks: peers that do not know it refresh their member list.
  await room.peers[n - 1]!.handle.send("converge");
  await arrivals.wait("converge", n - 1, Math.max(1000, deadline - performance.now()));
  const conv = await room.waitConverged(
    Math.max(0, Math.min(30_000, deadline - performance.now())),
    opts.settleMs,
  );
  const shortOfFingers = overlay === "tree" ? await untilFingers(room, deadline) : 0;
  const before = graphFigures(room.overlay());

  const latencies: number[] = [];
  const hops: number[] = [];
  const dupCounts: number[] = [];
  const frames: number[] = [];
  const handles = room.peers.map((p) => p.handle);
  let delivered = 0;
  let measured = 0;
  const total = opts.warmup + opts.messages;
  for (let k = 0; k < total; k++) {
    const left = deadline - performance.now();
    if (left < 2000) break;
    const sender = room.peers[(k * 7 + 3) % n]!;
    const text = `bench ${k}`;
    const dupsBefore = inProcessDuplicates(handles);
    const t0 = performance.now();
    await sender.handle.send(text);
    const a = await arrivals.wait(text, n - 1, Math.min(left - 1000, 5_000 + n * 20));
    // Let the duplicates of this message drain before the next one.
    await sleep(Math.min(50, Math.max(5, (a.last - t0) / 2)));
    if (k < opts.warmup) continue;
    measured++;
    delivered += a.count;
    if (a.count >= n - 1) latencies.push(a.last - t0);
    const last = arrivals.hopsToLast(text, sender.name);
    if (last !== null) hops.push(last);
    const dups = inProcessDuplicates(handles) - dupsBefore;
    dupCounts.push(dups);
    frames.push(a.count + dups);
  }
  await sleep(100);
  const after = graphFigures(room.overlay());
  const floorMs = opts.floor && n >= 3 && deadline - performance.now() > 3000
    ? summarize(await floorRing(n, Math.max(5, Math.min(opts.messages, 20))))
    : null;
  return {
    mode: "in-process",
    overlay,
    peers,
    started: n,
    joinMs: round(joinMs, 0),
    converged: conv.converged,
    convergeMs: round(conv.ms, 0),
    edges: before.edges,
    connected: before.connected,
    graphStable: before.sig === after.sig,
    messages: measured,
    latencyMs: summarize(latencies),
    floorMs,
    hops: summarize(hops, 0),
    at30Ms: summarize(hops.map((h) => h * 30), 0),
    frames: summarize(frames, 0),
    duplicates: summarize(dupCounts, 0),
    duplicateBound: duplicateBound(n, before.edges),
    deliveryRatio: measured === 0 ? 0 : round(delivered / (measured * (n - 1)), 4),
    skipped: measured < opts.messages
      ? `only ${measured} of ${opts.messages} messages within the budget`
      : shortOfFingers > 0
      ? `${shortOfFingers} peers lacked some finger links after 20 s`
      : null,
  };
}

/** N peer processes (the cluster harness), each started with `--overlay` of `overlay`. */
export async function processes(
  peers: number,
  opts: Options,
  overlay: PropagationRow["overlay"] = "tree",
): Promise<PropagationRow> {
  const started = performance.now();
  const deadline = started + opts.budgetMs;
  await using watched = await WatchedCluster.start({
    peers,
    keepaliveMs: 20_000,
    retryMs: 200,
    concurrency: opts.concurrency,
    peerArgs: ["--overlay", overlay === "ring" ? "ring" : "auto"],
  });
  const joinMs = performance.now() - started;
  const cluster = watched.cluster;
  const names = [...cluster.peers.keys()];
  const arrivals = new Arrivals();
  watched.on((peer, event, at) => arrivals.event(peer.name, event, at));
  await cluster.peer(names.at(-1)!).send("converge");
  await arrivals.wait("converge", peers - 1, 10_000);
  const conv = await watched.waitConverged(
    Math.max(0, Math.min(20_000, deadline - performance.now())),
    opts.settleMs,
  );
  const before = graphFigures(await cluster.overlay());

  const latencies: number[] = [];
  const hops: number[] = [];
  const dupCounts: number[] = [];
  const frames: number[] = [];
  let delivered = 0;
  let measured = 0;
  for (let k = 0; k < opts.warmup + opts.messages; k++) {
    const left = deadline - performance.now();
    if (left < 2000) break;
    const sender = names[(k * 7 + 3) % peers]!;
    const text = `bench ${k}`;
    const dupsBefore = await processDuplicates(cluster.alive());
    await cluster.peer(sender).send(text);
    const a = await arrivals.wait(text, peers - 1, Math.min(left - 1000, 5_000));
    await sleep(20);
    if (k < opts.warmup) continue;
    measured++;
    delivered += a.count;
    const selfAt = arrivals.selfAt.get(text);
    if (a.count >= peers - 1 && selfAt !== undefined) latencies.push(a.last - selfAt);
    const last = arrivals.hopsToLast(text, sender);
    if (last !== null) hops.push(last);
    const dups = await processDuplicates(cluster.alive()) - dupsBefore;
    dupCounts.push(dups);
    frames.push(a.count + dups);
  }
  await sleep(200);
  const after = graphFigures(await cluster.overlay());
  return {
    mode: "processes",
    overlay,
    peers,
    started: names.length,
    joinMs: round(joinMs, 0),
    converged: conv.converged,
    convergeMs: round(conv.ms, 0),
    edges: before.edges,
    connected: before.connected,
    graphStable: before.sig === after.sig,
    messages: measured,
    latencyMs: summarize(latencies),
    floorMs: null,
    hops: summarize(hops, 0),
    at30Ms: summarize(hops.map((h) => h * 30), 0),
    frames: summarize(frames, 0),
    duplicates: summarize(dupCounts, 0),
    duplicateBound: duplicateBound(peers, before.edges),
    deliveryRatio: measured === 0 ? 0 : round(delivered / (measured * (peers - 1)), 4),
    skipped: measured < opts.messages
      ? `only ${measured} of ${opts.messages} messages within the budget`
      : null,
  };
}

/** The targets, checked against the rows. */
export function propagationTargets(rows: readonly PropagationRow[]): Target[] {
  const targets: Target[] = [];
  const n200 = rows.find((r) => r.mode === "in-process" && r.peers === 200 && r.overlay === "ring");
  if (n200 !== undefined) {
    const p50 = n200.latencyMs.p50;
    targets.push({
      what: "in-process N = 200, ring: p50 send → last peer",
      target: "≤ 5 ms",
      value: p50 === null ? "not measured" : `${p50} ms (${n200.hops.p50} hops)`,
      met: p50 === null ? null : p50 <= 5,
    });
  }
  for (const r of rows) {
    if (r.messages === 0) continue;
    const label = `${r.mode} N = ${r.peers}, ${r.overlay}`;
    const bound = r.overlay === "tree" ? 2 : r.duplicateBound;
    targets.push({
      what: `${label}: duplicates per message`,
      target: r.overlay === "tree" ? "≤ 2" : `≤ 2(E − N + 1) = ${r.duplicateBound}`,
      value: `max ${r.duplicates.max}`,
      met: r.duplicates.max !== null && r.duplicates.max <= bound,
    });
    targets.push({
      what: `${label}: delivery ratio`,
      target: "100%",
      value: `${round(r.deliveryRatio * 100, 2)}%`,
      met: r.deliveryRatio === 1,
    });
    if (r.overlay !== "tree") continue;
    const most = Math.ceil(Math.log2(r.peers)) + 2;
    const limit = r.peers === 200 ? Math.min(most, 10) : most;
    targets.push({
      what: `${label}: hops to the last peer`,
      target: `≤ ⌈log₂ N⌉ + 2 = ${most}${r.peers === 200 ? " (and ≤ 10)" : ""}`,
      value: `max ${r.hops.max}`,
      met: r.hops.max !== null && r.hops.max <= limit,
    });
  }
  return targets;
}

if (import.meta.main) {
  const args = run(
    object({
      peers: textOption(
        "--peers",
        "LIST",
        message`In-process room sizes, comma-separated.`,
        "10,50,200,1000",
      ),
      processes: textOption(
        "--processes",
        "LIST",
        message`Process room sizes, comma-separated ("0" for none).`,
        "10",
      ),
      messages: integerOption(
        "--messages",
        { min: 1, metavar: "M" },
        message`Measured messages per size.`,
        20,
      ),
      warmup: integerOption(
        "--warmup",
        { min: 0, metavar: "W" },
        message`Unmeasured messages first.`,
        3,
      ),
      settleMs: integerOption(
        "--settle-ms",
        { min: 0, metavar: "MS" },
        message`No link change for this long = converged.`,
        300,
      ),
      concurrency: integerOption(
        "--concurrency",
        { min: 1, metavar: "C" },
        message`Peers joining at once.`,
        8,
      ),
      budgetMs: integerOption(
        "--budget-ms",
        { min: 1000, metavar: "MS" },
        message`Time allowed per size; what does not fit is reported as such.`,
        60_000,
      ),
      kill: textOption(
        "--kill",
        "LIST",
        message`Process room sizes for the tree node hung and killed mid-stream ("0" for none).`,
        "12",
      ),
      noFloor: switchOption("--no-floor", message`Skip the raw TCP floor.`),
      json: jsonOption(),
    }),
    { programName: "bench:propagation", args: Deno.args, help: "option", colors: false },
  );
  const began = performance.now();
  const host = await machine();
  await configureLogging({ level: "warning", json: false });
  const opts: Options = {
    messages: args.messages,
    warmup: args.warmup,
    settleMs: args.settleMs,
    concurrency: args.concurrency,
    budgetMs: args.budgetMs,
    floor: !args.noFloor,
  };
  const rows: PropagationRow[] = [];
  for (const n of integerList(args.peers, "--peers")) {
    for (const overlay of ["ring", "tree"] as const) {
      try {
        rows.push(
          await inProcess(n, { ...opts, floor: opts.floor && overlay === "ring" }, overlay),
        );
      } catch (error) {
        rows.push(skippedRow("in-process", overlay, n, `failed: ${String(error)}`));
      }
    }
  }
  const processSizes = args.processes === "0" ? [] : integerList(args.processes, "--processes");
  for (const n of processSizes) {
    for (const overlay of ["ring", "tree"] as const) {
      try {
        const each = { ...opts, concurrency: Math.min(opts.concurrency, 2) };
        rows.push(await processes(n, each, overlay));
      } catch (error) {
        rows.push(skippedRow("processes", overlay, n, `failed: ${String(error)}`));
      }
    }
  }
  const kills: TreeKill[] = [];
  for (const n of args.kill === "0" ? [] : integerList(args.kill, "--kill")) {
    try {
      kills.push(await treeKill(n));
    } catch (error) {
      console.error(`tree kill with ${n} peers failed: ${String(error)}`);
    }
  }
  const result: BenchResult = {
    name: "propagation",
    title: "Overlay propagation",
    command: `deno task bench:propagation ${Deno.args.filter((a) => a !== "--json").join(" ")}`
      .trim(),
    machine: host,
    params: { ...opts, peers: args.peers, processes: args.processes, keepaliveMs: 20_000 },
    tables: [{
      title: "send → delivery at the last peer",
      columns: [
        "mode",
        "overlay",
        "N",
        "links E",
        "hops to last p50 (max)",
        "at 30 ms/hop p50 (max)",
        "p50 ms",
        "p99 ms",
        "floor p50 ms",
        "frames/msg p50",
        "dups/msg p50 (max)",
        "delivered",
        "join s",
        "converged",
      ],
      rows: rows.map((r) => [
        r.mode,
        r.overlay,
        r.peers,
        r.skipped !== null && r.messages === 0 ? null : r.edges,
        r.hops.p50 === null ? null : `${r.hops.p50} (${r.hops.max})`,
        r.at30Ms.p50 === null ? null : `${r.at30Ms.p50} (${r.at30Ms.max})`,
        r.latencyMs.p50,
        r.latencyMs.p99,
        r.floorMs?.p50 ?? null,
        r.frames.p50,
        r.duplicates.p50 === null ? null : `${r.duplicates.p50} (${r.duplicates.max})`,
        r.messages === 0 ? (r.skipped ?? "–") : `${round(r.deliveryRatio * 100, 2)}%`,
        round(r.joinMs / 1000, 1),
        r.messages === 0
          ? null
          : `${r.converged ? "yes" : "no"}${r.graphStable ? "" : " (graph changed)"}`,
      ]),
    }, {
      title: "tree: a tree node hung (SIGSTOP), then SIGKILLed, mid-stream (processes)",
      ...treeKillTable(kills),
    }],
    targets: [
      ...propagationTargets(rows),
      ...kills.map((k) => ({
        what: `tree node killed mid-stream, N = ${k.peers}: every message once`,
        target: "0 lost, 0 twice",
        value: `${k.lost} lost, ${k.doubled} twice`,
        met: k.lost === 0 && k.doubled === 0,
      })),
    ],
    notes: [
      "Latency: in-process from send() to the last peer's message event on one clock; processes " +
      "from the sender's own message event to the last delivery, both as the harness reads the " +
      "peers' JSON lines.",
      "Hops to the last peer: per receiver, the `hops` of its message event (the tree's count) " +
      "or one more than the peer its first copy came from (`via`); at 30 ms/hop = hops × 30 ms.",
      'ring: every peer floods the ring (overlay "ring", processes `--overlay ring`); tree: the ' +
      "broadcast tree over finger links with its repair paths (docs/overlay.md). links E counts " +
      "the ring links only.",
      "frames/msg: copies received per message (deliveries + duplicates), i.e. transmissions.",
      "Duplicates: growth of the peers' duplicates counters (peer.stats(); processes: the " +
      "stats event) per message.",
      "Floor: raw TCP flooding on a ring of N in one process, no codec, no dedup, no events.",
      ...rows.filter((r) => r.skipped !== null).map((r) =>
        `${r.mode} N = ${r.peers}: ${r.skipped}`
      ),
    ],
    data: { rows, kills },
    durationMs: Math.round(performance.now() - began),
  };
  printResult(result, args.json);
}
