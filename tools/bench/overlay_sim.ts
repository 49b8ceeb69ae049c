/**
 * The overlay in memory (docs/overlay.md): N peers, no sockets, no peer
 * engine, a discrete-event clock where every frame takes `hopMs`. It runs a
 * stream of messages over today's ring (flooding over forward and backward
 * links, PROTOCOL.md §6) or over the broadcast tree of `lib/broadcast_tree.ts`
 * (split into shares by `lib/tree_shares.ts`) with the digest repair of
 * `peer/digest.ts` and `peer/repair_queue.ts`, and
 * counts per message: hops to the last peer, frames sent, duplicate
 * receptions, delivery, and what the repair path recovered.
 *
 * Faults it can play: a peer killed mid-stream (its link neighbours notice
 * after `detectMs`, every peer drops it from its member list at a moment of
 * its own within `viewLagMs`, so views differ meanwhile), and a live member
 * missing from half the views for a while.
 *
 *     deno run tools/bench/overlay_sim.ts [--peers 10,50,200,1000] [--json]
 *
 * @module
 */

import { children } from "../../lib/broadcast_tree.ts";
import { handOn, pullerShare, shareIndexes } from "../../lib/tree_shares.ts";
import { diff, RecentIds } from "../../peer/digest.ts";
import { RepairQueue } from "../../peer/repair_queue.ts";
import { prng } from "../prng.ts";
import { integerList, quantile, round } from "./stats.ts";
import { MinHeap } from "../min_heap.ts";

/** Which overlay a run simulates. */
export type SimMode = "ring" | "tree";

/** A simulated run. */
export interface SimOptions {
  n: number;
  mode: SimMode;
  /** Messages in the stream (default 20). */
  messages?: number;
  /** Between two sends (ms, default 50). */
  intervalMs?: number;
  /** One frame's latency (ms, default 30). */
  hopMs?: number;
  /** Seed of the pseudo-random origins, victims and view splits (default 1). */
  seed?: number;
  /** Kill one peer just after this message is sent (0-based); default none. */
  killAt?: number;
  /** A link notices its other end died after this long (ms, default 2 hops). */
  detectMs?: number;
  /** Every peer drops a dead member from its view within this long (ms, default 1,000). */
  viewLagMs?: number;
  /** A live member missing from half the views while messages `from`..`to` are sent. */
  splitView?: { from: number; to: number };
  /** Run the digest repair path (default true; false shows what it recovers). */
  repair?: boolean;
  /** Digest period on each ring link (ms, default 200). */
  digestMs?: number;
  /** Wait before pulling (ms, default hops of the deepest tree + 2, times `hopMs`). */
  graceMs?: number;
}

/** What happened to one message. */
export interface MessageFigures {
  /** Peers alive at the end that got it. */
  delivered: number;
  /** Peers alive at the end. */
  alive: number;
  /** Hops of the first copy to the farthest peer that got it. */
  hopsToLast: number;
  /** From send to the last peer's first copy (ms). */
  lastMs: number;
  /** `T` frames sent for it (tree or flood, and pull answers). */
  transmissions: number;
  /** Copies received by a peer that had it. */
  duplicates: number;
  /** Peers that got it by a pull. */
  recovered: number;
  /** Peers that got it by the repair path: a pull, or the tree below a peer that pulled it. */
  viaRepair: number;
  /** From send to the last copy that came by the repair path (ms), 0 if none. */
  repairMs: number;
}

/** What a run produced. */
export interface SimResult {
  messages: MessageFigures[];
  /** Digest frames sent. */
  digests: number;
  /** Pull requests sent. */
  pulls: number;
  /** The peer killed, if any. */
  victim: number | null;
}

interface Msg {
  origin: number;
  id: bigint;
  sentAt: number;
  firstAt: Float64Array;
  hops: Int32Array;
  /** 1 where the first copy came from a pull or from a peer that pulled it. */
  repaired: Uint8Array;
  viaRepair: number;
  transmissions: number;
  duplicates: number;
  recovered: number;
}

type Event =
  | { kind: "send"; msg: number }
  | { kind: "text"; to: number; from: number; msg: number; pulled: boolean; limit: number }
  | { kind: "digest"; peer: number }
  | { kind: "digestIn"; to: number; from: number; digest: ReturnType<RecentIds["digest"]> }
  | { kind: "wake"; peer: number }
  | { kind: "pull"; to: number; from: number; msgs: number[] }
  | { kind: "kill" }
  | { kind: "dropView"; peer: number };

interface Scheduled {
  at: number;
  seq: number;
  event: Event;
}

/** A binary heap of events by time, then by insertion. */
class Agenda {
  readonly #heap = new MinHeap<Scheduled>(before);
  #seq = 0;

  get size(): number {
    return this.#heap.size;
  }

  push(at: number, event: Event): void {
    this.#heap.push({ at, seq: this.#seq++, event });
  }

  pop(): Scheduled {
    return this.#heap.pop();
  }
}

function before(a: Scheduled, b: Scheduled): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

interface View {
  list: number[];
  pos: Map<number, number>;
}

/** Runs one stream of messages; see the module doc. */
export function simulate(options: SimOptions): SimResult {
  const n = options.n;
  const count = options.messages ?? 20;
  const intervalMs = options.intervalMs ?? 50;
  const hopMs = options.hopMs ?? 30;
  const detectMs = options.detectMs ?? 2 * hopMs;
  const viewLagMs = options.viewLagMs ?? 1000;
  const digestMs = options.digestMs ?? 200;
  const graceMs = options.graceMs ?? (Math.ceil(Math.log2(Math.max(n, 2))) + 2) * hopMs;
  const rand = prng(options.seed ?? 1);
  const tree = options.mode === "tree";

  let now = 0;
  const agenda = new Agenda();
  const alive = new Array<boolean>(n).fill(true);
  // Members missing from each peer's view (its member list).
  const absent = Array.from({ length: n }, () => new Set<number>());
  let victim: number | null = null;
  let deadKnownAt = Infinity;
  const recent = Array.from({ length: n }, () => new RecentIds({ activeMs: 2000, now: () => now }));
  const queues = Array.from(
    { length: n },
    () => new RepairQueue({ graceMs, retryMs: 4 * hopMs, now: () => now }),
  );
  const wakeAt = new Float64Array(n).fill(Infinity);
  const msgs: Msg[] = [];
  const nextId = new Array<bigint>(n).fill(0n);
  const hidOf = (p: number) => String(p);
  let digests = 0, pulls = 0;

  const viewCache = new Map<string, View>();
  function viewOf(p: number, ...extra: number[]): View {
    const gone = absent[p]!;
    const key = [...gone].sort((a, b) => a - b).join(",") + "|" + extra.filter((x) => gone.has(x));
    let v = viewCache.get(key);
    if (v === undefined) {
      const list: number[] = [];
      for (let i = 0; i < n; i++) if (!gone.has(i) || extra.includes(i)) list.push(i);
      v = { list, pos: new Map(list.map((m, i) => [m, i])) };
      viewCache.set(key, v);
    }
    return v;
  }
  const knownDead = (m: number) => m === victim && now >= deadKnownAt;

  // Ring links: my forward link (next in my view I do not know dead) and those linking to me.
  let ringVersion = -1, ringCache: number[][] = [];
  let topology = 0;
  function ringLinks(p: number): number[] {
    if (ringVersion !== topology) {
      const fwd = new Array<number>(n).fill(-1);
      for (let q = 0; q < n; q++) {
        if (!alive[q]) continue;
        const view = viewOf(q, q), v = view.list;
        const i = view.pos.get(q)!;
        for (let s = 1; s < v.length; s++) {
          const c = v[(i + s) % v.length]!;
          if (!knownDead(c)) {
            fwd[q] = c;
            break;
          }
        }
      }
      ringCache = Array.from({ length: n }, () => []);
      for (let q = 0; q < n; q++) {
        const f = fwd[q]!;
        if (f < 0) continue;
        if (!ringCache[q]!.includes(f)) ringCache[q]!.push(f);
        if (!ringCache[f]!.includes(q)) ringCache[f]!.push(q);
      }
      ringVersion = topology;
    }
    return ringCache[p]!;
  }
  // A link comes before me on the ring if it is nearer going backwards than forwards.
  const before = (p: number, q: number) => (p - q + n) % n < (q - p + n) % n;

  function sendText(from: number, to: number, msg: number, pulled: boolean, limit: number): void {
    msgs[msg]!.transmissions++;
    agenda.push(now + hopMs, { kind: "text", to, from, msg, pulled, limit });
  }

  // Where a global position sorts in a view (what `limitPosition` does with HashIDs).
  function position(list: readonly number[], g: number): number {
    let lo = 0, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]! < g) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  function treeForward(p: number, msg: number, limit: number): void {
    const m = msgs[msg]!;
    const v = viewOf(p, p, m.origin);
    const share = shareIndexes(v.list.length, v.pos.get(p)!, position(v.list, limit));
    for (const h of handOn(share, (i) => knownDead(v.list[i]!))) {
      sendText(p, v.list[h.child]!, msg, false, h.limit === null ? limit : v.list[h.limit]!);
    }
  }

  // The share `q` would get in `s`'s view of the tree of a message (counting in the members
  // that left the view lately, as dead), and whether q took it over from a dead member.
  function shareLimit(s: number, q: number, msg: number): { limit: number; took: boolean } | null {
    const m = msgs[msg]!;
    const v = viewOf(s, s, m.origin, ...(victim === null ? [] : [victim]));
    const qi = v.pos.get(q);
    if (qi === undefined) return null;
    const dead = (i: number) => knownDead(v.list[i]!);
    const share = pullerShare(v.list.length, v.pos.get(m.origin)!, qi, dead);
    return share === null ? null : { limit: v.list[share.limit]!, took: share.took };
  }

  function deliver(p: number, from: number, msg: number, pulled: boolean, limit: number): void {
    const m = msgs[msg]!;
    if (m.firstAt[p]! >= 0) {
      m.duplicates++;
      return;
    }
    m.firstAt[p] = now;
    m.hops[p] = m.hops[from]! + 1;
    m.repaired[p] = pulled || m.repaired[from]! === 1 ? 1 : 0;
    if (pulled) m.recovered++;
    if (m.repaired[p] === 1) m.viaRepair++;
    recent[p]!.add(hidOf(m.origin), m.id);
    queues[p]!.received(hidOf(m.origin), m.id);
    if (tree) {
      if (limit >= 0) treeForward(p, msg, limit);
    } else {
      for (const q of ringLinks(p)) {
        if (q !== from && q !== m.origin) sendText(p, q, msg, false, -1);
      }
    }
  }

  function wake(p: number): void {
    const at = queues[p]!.nextDueAt();
    if (at === null || at >= wakeAt[p]!) return;
    wakeAt[p] = at;
    agenda.push(at, { kind: "wake", peer: p });
  }

  const byId = new Map<string, number>();
  const lastSend = (count - 1) * intervalMs;
  const end = lastSend + 5000 + (tree ? 0 : n * hopMs);
  for (let k = 0; k < count; k++) agenda.push(k * intervalMs, { kind: "send", msg: k });
  if (options.killAt !== undefined) agenda.push(options.killAt * intervalMs + 1, { kind: "kill" });
  let split: number | null = null;
  if (tree && options.repair !== false) {
    for (let p = 0; p < n; p++) agenda.push(rand() * digestMs, { kind: "digest", peer: p });
  }

  while (agenda.size > 0) {
    const { at, event } = agenda.pop();
    if (at > end) break;
    now = at;
    switch (event.kind) {
      case "send": {
        const k = event.msg;
        if (options.splitView !== undefined && k === options.splitView.from) {
          split = Math.floor(rand() * n);
          for (let p = 0; p < n; p++) if (p !== split && rand() < 0.5) absent[p]!.add(split);
          topology++;
        }
        if (options.splitView !== undefined && k === options.splitView.to + 1 && split !== null) {
          for (let p = 0; p < n; p++) absent[p]!.delete(split);
          topology++;
        }
        let origin = Math.floor(rand() * n);
        while (!alive[origin]) origin = (origin + 1) % n;
        nextId[origin]! += 1n;
        const m: Msg = {
          origin,
          id: nextId[origin]!,
          sentAt: now,
          firstAt: new Float64Array(n).fill(-1),
          hops: new Int32Array(n).fill(-1),
          repaired: new Uint8Array(n),
          viaRepair: 0,
          transmissions: 0,
          duplicates: 0,
          recovered: 0,
        };
        msgs[k] = m;
        byId.set(`${origin}/${m.id}`, k);
        m.firstAt[origin] = now;
        m.hops[origin] = 0;
        recent[origin]!.add(hidOf(origin), m.id);
        if (tree) treeForward(origin, k, origin);
        else for (const q of ringLinks(origin)) sendText(origin, q, k, false, -1);
        break;
      }
      case "kill": {
        // The worst victim: the child of the last origin with the largest subtree.
        const m = msgs[options.killAt!]!;
        const v = viewOf(m.origin, m.origin);
        const oi = v.pos.get(m.origin)!;
        const kids = children(oi, oi, v.list.length);
        victim = v.list[kids[0]!]!;
        alive[victim] = false;
        deadKnownAt = now + detectMs;
        agenda.push(deadKnownAt, { kind: "dropView", peer: -1 });
        for (let p = 0; p < n; p++) {
          if (p === victim) continue;
          agenda.push(now + detectMs + rand() * viewLagMs, { kind: "dropView", peer: p });
        }
        break;
      }
      case "dropView":
        if (event.peer >= 0) absent[event.peer]!.add(victim!);
        topology++;
        break;
      case "text":
        if (alive[event.to]) deliver(event.to, event.from, event.msg, event.pulled, event.limit);
        break;
      case "digest": {
        const p = event.peer;
        if (!alive[p]) break;
        agenda.push(now + digestMs, event);
        const d = recent[p]!.digest();
        if (d.origins.length === 0) break;
        // Digests go on my ring links: my forward link and the backward links to me.
        for (const q of ringLinks(p)) {
          digests++;
          agenda.push(now + hopMs, { kind: "digestIn", to: q, from: p, digest: d });
        }
        break;
      }
      case "digestIn": {
        const q = event.to;
        if (!alive[q]) break;
        const wants = diff(recent[q]!, event.digest);
        if (wants.length === 0) break;
        queues[q]!.heard(wants, String(event.from), before(q, event.from));
        wake(q);
        break;
      }
      case "wake": {
        const p = event.peer;
        if (now < wakeAt[p]!) break;
        wakeAt[p] = Infinity;
        if (!alive[p]) break;
        for (const [source, wants] of queues[p]!.due()) {
          pulls++;
          const ids = wants.map((w) => byId.get(`${w.originHid}/${w.msgId}`)).filter((k) =>
            k !== undefined
          );
          agenda.push(now + hopMs, { kind: "pull", to: Number(source), from: p, msgs: ids });
        }
        wake(p);
        break;
      }
      case "pull": {
        const s = event.to;
        if (!alive[s]) break;
        for (const k of event.msgs) {
          if (msgs[k]!.firstAt[s]! < 0) continue;
          // The puller goes on down the tree only with a share it took over from a dead member.
          const share = shareLimit(s, event.from, k);
          sendText(s, event.from, k, true, share?.took ? share.limit : -1);
        }
        break;
      }
    }
  }

  const figures = msgs.map((m): MessageFigures => {
    let delivered = 0, living = 0, hopsToLast = 0, last = m.sentAt, repairedAt = m.sentAt;
    for (let p = 0; p < n; p++) {
      if (!alive[p]) continue;
      living++;
      if (m.firstAt[p]! < 0) continue;
      delivered++;
      hopsToLast = Math.max(hopsToLast, m.hops[p]!);
      last = Math.max(last, m.firstAt[p]!);
      if (m.repaired[p] === 1) repairedAt = Math.max(repairedAt, m.firstAt[p]!);
    }
    return {
      delivered,
      alive: living,
      hopsToLast,
      lastMs: last - m.sentAt,
      transmissions: m.transmissions,
      duplicates: m.duplicates,
      recovered: m.recovered,
      viaRepair: m.viaRepair,
      repairMs: repairedAt - m.sentAt,
    };
  });
  return { messages: figures, digests, pulls, victim };
}

/** One row of the printed comparison. */
export interface SimRow {
  n: number;
  mode: SimMode;
  scenario: "stable" | "kill" | "split view";
  hopsP50: number;
  hopsMax: number;
  transmissionsPerMessage: number;
  duplicatesPerMessageMax: number;
  duplicatesPerMessageMean: number;
  deliveryRatio: number;
  /** Hops to the last peer (max) times 30 ms. */
  lastAt30msHop: number;
  /** Simulated time to the last peer (ms, max over messages). */
  lastMsMax: number;
  recovered: number;
  /** Receptions by the repair path, summed over messages. */
  viaRepair: number;
  /** Send → last repaired copy (ms, max over messages). */
  repairMsMax: number;
  digestsPerPeerSecond: number;
  pulls: number;
}

/** Runs one scenario and sums it up. */
export function row(n: number, mode: SimMode, scenario: SimRow["scenario"], seed = 1): SimRow {
  const messages = 20;
  const result = simulate({
    n,
    mode,
    seed,
    messages,
    killAt: scenario === "kill" ? 5 : undefined,
    splitView: scenario === "split view" ? { from: 5, to: 9 } : undefined,
  });
  const ms = result.messages;
  const hops = ms.map((m) => m.hopsToLast);
  const delivered = ms.reduce((s, m) => s + m.delivered, 0);
  const expected = ms.reduce((s, m) => s + m.alive, 0);
  const simSeconds = (19 * 50 + 5000) / 1000;
  return {
    n,
    mode,
    scenario,
    hopsP50: quantile(hops, 0.5)!,
    hopsMax: Math.max(...hops),
    transmissionsPerMessage: round(ms.reduce((s, m) => s + m.transmissions, 0) / ms.length, 1),
    duplicatesPerMessageMax: Math.max(...ms.map((m) => m.duplicates)),
    duplicatesPerMessageMean: round(ms.reduce((s, m) => s + m.duplicates, 0) / ms.length, 2),
    deliveryRatio: round(delivered / expected, 4),
    lastAt30msHop: Math.max(...hops) * 30,
    lastMsMax: Math.round(Math.max(...ms.map((m) => m.lastMs))),
    recovered: ms.reduce((s, m) => s + m.recovered, 0),
    viaRepair: ms.reduce((s, m) => s + m.viaRepair, 0),
    repairMsMax: Math.round(Math.max(...ms.map((m) => m.repairMs))),
    digestsPerPeerSecond: round(result.digests / n / simSeconds, 2),
    pulls: result.pulls,
  };
}

if (import.meta.main) {
  const args = [...Deno.args];
  const json = args.includes("--json");
  const at = args.indexOf("--peers");
  const sizes = at >= 0 ? integerList(args[at + 1] ?? "", "--peers") : [10, 50, 200, 1000];
  const rows: SimRow[] = [];
  for (const scenario of ["stable", "kill", "split view"] as const) {
    for (const n of sizes) {
      for (const mode of ["ring", "tree"] as const) rows.push(row(n, mode, scenario));
    }
  }
  if (json) console.log(JSON.stringify(rows, null, 2));
  else {
    console.log(
      "| scenario | N | overlay | hops p50 | hops max | at 30 ms/hop | sim last (ms) | frames/msg | dup/msg mean | dup/msg max | delivery | pulled | repaired | repair ms max | pulls | digests/peer/s |",
    );
    console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (const r of rows) {
      console.log(
        `| ${r.scenario} | ${r.n} | ${r.mode} | ${r.hopsP50} | ${r.hopsMax} | ${r.lastAt30msHop} ms | ${r.lastMsMax} | ${r.transmissionsPerMessage} | ${r.duplicatesPerMessageMean} | ${r.duplicatesPerMessageMax} | ${r.deliveryRatio} | ${r.recovered} | ${r.viaRepair} | ${r.repairMsMax} | ${r.pulls} | ${r.digestsPerPeerSecond} |`,
      );
    }
  }
}
