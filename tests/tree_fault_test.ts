/**
 * The broadcast tree under a real kill (docs/overlay.md §3): peers as
 * processes in a room where every member speaks ringchat/2, so messages go
 * down the tree. A tree node hangs mid-stream (SIGSTOP: its links stay up,
 * the copies written to it go nowhere), so its subtree gets what it swallows
 * only by the repair path (digests on the ring links, pulls); then it is
 * SIGKILLed. Every message reaches every survivor exactly once. The recovery time is
 * printed; it is a figure, not an assertion.
 */

import assert from "node:assert/strict";
import { fingerNeighbours } from "../lib/fingers.ts";
import { ringOrder } from "../lib/ring.ts";
import type { PeerEvent } from "../peer/events.ts";
import { Cluster } from "../tools/cluster/cluster.ts";
import type { PeerProcess } from "../tools/process/peer_process.ts";

const TIMINGS = { keepaliveMs: 400, retryMs: 100, expiryMs: 1_200, sweepMs: 100 };

/** A peer's `stats` event, with the tree's counts. */
async function statsOf(peer: PeerProcess): Promise<Record<string, number>> {
  const answer = peer.waitFor((e) => e.type === "stats", 5_000);
  await peer.command(JSON.stringify({ command: "stats" }));
  return (await answer) as unknown as Record<string, number>;
}

/** Waits until `condition` (asked of every peer's stats) holds, asking every 50 ms. */
async function untilStats(
  peers: readonly PeerProcess[],
  condition: (peer: PeerProcess, stats: Record<string, number>) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await Promise.all(peers.map(statsOf));
    if (peers.every((p, i) => condition(p, all[i]!))) return;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

Deno.test("tree fault: a tree node that hangs and is killed mid-stream loses nothing, each message arrives once", async () => {
  const n = 12;
  await using cluster = await Cluster.start({ peers: n, ...TIMINGS });
  await cluster.waitConnected(10_000);
  const peers = cluster.alive();
  const members = peers.map((p) => ({ name: p.name, ip: "127.0.0.1", port: p.port }));
  const ring = ringOrder(members, members[0]!);
  const at = (i: number) => cluster.peer(ring[i % n]!.name);
  await untilStats(
    peers,
    (p, stats) =>
      (stats.fingers ?? 0) >=
        fingerNeighbours(n, ring.findIndex((m) => m.name === p.name)).length - 2,
    "the finger links",
  );
  // The origin's child at offset 4 holds offsets 4 to 7: three members below it.
  const origin = at(0), victim = at(4);
  const survivors = peers.filter((p) => p !== victim);
  const arrivals = new Map<string, Map<string, { at: number; event: PeerEvent }>>();
  for (const p of survivors) {
    const mine = new Map<string, { at: number; event: PeerEvent }>();
    arrivals.set(p.name, mine);
    p.on((event, when) => {
      if (event.type !== "message" || event.self || !event.text.startsWith("stream")) return;
      if (mine.has(event.text)) mine.set(`${event.text} (again)`, { at: when, event });
      else mine.set(event.text, { at: when, event });
    });
  }
  const sentAt = new Map<string, number>();
  const send = async (k: number) => {
    const text = `stream #${k}`;
    sentAt.set(text, performance.now());
    await origin.send(text);
    await new Promise((resolve) => setTimeout(resolve, 20));
  };
  for (let k = 0; k < 5; k++) await send(k);
  const receivers = survivors.filter((p) => p !== origin);
  const everywhere = (texts: string[]) =>
    Promise.all(
      receivers.map((p) =>
        Promise.all(texts.map((text) =>
          p.waitFor(
            (e) => e.type === "message" && e.text === text,
            15_000,
            true,
          )
        ))
      ),
    );
  // Hung: its links stay up, so only the repair path brings its subtree what it swallows.
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
  await Promise.all(
    receivers.map((p) =>
      p.waitFor((e) => e.type === "message" && e.text === "stream barrier", 15_000, true)
    ),
  );
  let recoveryMs = 0;
  for (const p of receivers) {
    const got = arrivals.get(p.name)!;
    assert.deepEqual([...got.keys()].filter((t) => t.endsWith("(again)")), [], `${p.name}: once`);
    for (const text of texts) {
      assert.ok(got.has(text), `${p.name} got ${text}`);
      recoveryMs = Math.max(recoveryMs, got.get(text)!.at - sentAt.get(text)!);
    }
  }
  const stats = await Promise.all(receivers.map(statsOf));
  const repaired = stats.reduce((sum, s) => sum + (s.repaired ?? 0), 0);
  assert.ok(repaired > 0, "the lost copies came by the repair path");
  console.log(
    `tree node hung then killed mid-stream (${n} peers, ${texts.length} messages): ` +
      `${repaired} copies repaired by pulls; the slowest message reached the last survivor ` +
      `${recoveryMs.toFixed(0)} ms after it was sent (all of the hang's in ${
        hungMs.toFixed(0)
      } ms)`,
  );
});
