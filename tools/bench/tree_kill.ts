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

import { fingerNeighbours } from "../../lib/fingers.ts";
import { ringOrder } from "../../lib/ring.ts";
import { Cluster } from "../cluster/cluster.ts";
import type { PeerProcess } from "../process/peer_process.ts";

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
  return {
    peers: n,
    messages: texts.length,
    subtree: Math.min(offset, n - offset) - 1,
    lost,
    doubled,
    repaired: stats.reduce((sum, s) => sum + (s.repaired ?? 0), 0),
    recoveryMs: Math.round(recoveryMs),
    hungMs: Math.round(hungMs),
  };
}
