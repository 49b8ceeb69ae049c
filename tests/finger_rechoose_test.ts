/**
 * Finger links are chosen at most once per `fingerRechooseMs`
 * (peer/fingers_links.ts): a burst of membership changes (a room filling
 * up) dials each finger of the list the burst ends with once, not one round
 * of dials and closes per change; and the links chosen at the end are the
 * final list's fingers.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { dialsFinger, fingerNeighbours } from "../lib/fingers.ts";
import type { Member } from "../lib/frames.ts";
import { memberKey, ringOrder, withHashIds } from "../lib/ring.ts";
import { RecentFrames, SeenWindow } from "../peer/flood.ts";
import { greet } from "../peer/links.ts";
import { Membership } from "../peer/membership.ts";
import { Overlay, type OverlayHost } from "../peer/overlay.ts";
import { TaskSet } from "../peer/tasks.ts";
import { fingerOk } from "../peer/tree_ops.ts";

/** Checks `condition` every 10 ms until it holds (finger links make no event). */
async function poll(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A member at a listener of its own that takes every finger hello and counts them. */
class FingerTarget {
  readonly listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly member: Member;
  hellos = 0;
  readonly #conns = new Set<Deno.Conn>();
  readonly serving: Promise<void>;

  constructor(name: string) {
    this.member = { name, ip: "127.0.0.1", port: this.listener.addr.port };
    this.serving = this.#serve();
  }

  async #serve(): Promise<void> {
    for await (const conn of this.listener) {
      this.#conns.add(conn);
      const probed = await greet(conn, 2000, undefined, 1 << 16, true).catch(() => null);
      if (probed === null || !("probe" in probed)) continue;
      this.hellos++;
      await conn.write(fingerOk("room1")).catch(() => {});
    }
  }

  close(): void {
    this.listener.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // Closed by the dialler.
      }
    }
  }
}

Deno.test("finger links: a burst of membership changes re-chooses the fingers once after it, not per change", async () => {
  const rechooseMs = 300;
  const tasks = new TaskSet();
  const members = new Membership(60_000);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const me = withHashIds([{ name: "me", ip: "127.0.0.1", port: listener.addr.port }])[0]!;
  const place = { room: "room1", me };
  const host: OverlayHost = {
    place: () => place,
    placeForHandshake: () => Promise.resolve(place),
    quitting: () => false,
    members,
    seen: new SeenWindow(),
    recent: new RecentFrames(1000),
    lastMsgId: () => 1n,
    refresh: () => Promise.resolve(),
    lookUp: () => Promise.resolve(),
    treeMode: () => true,
    onText: () => {},
    emit: () => {},
    report: () => {},
    track: (promise) => tasks.track(promise),
  };
  const overlay = new Overlay(host, {
    handshakeTimeoutMs: 1000,
    frameTimeoutMs: 1000,
    retryMs: 50,
    maxTextBytes: 1000,
    maxQueuedBytes: 1 << 20,
    maxHandshakes: 8,
    fingerRechooseMs: rechooseMs,
  });
  overlay.serve(listener);
  const targets = Array.from({ length: 24 }, (_, i) => new FingerTarget(`m${i}`));
  try {
    let msid = 1n;
    const list = (others: readonly FingerTarget[]) => {
      const listed = [me, ...others.map((t) => t.member)];
      members.set({ type: "M", msid, members: listed }, 0);
      members.setInfo({
        room: "room1",
        msid: msid++,
        members: listed.map((m) => ({ ...m, key: null })),
      });
    };
    /** The members I dial a finger link to when `others` are listed with me. */
    const mine = (others: readonly FingerTarget[]) => {
      const ring = ringOrder([me, ...others.map((t) => t.member)], me);
      const i = ring.findIndex((m) => memberKey(m) === memberKey(me));
      return fingerNeighbours(ring.length, i).filter((j) => dialsFinger(ring.length, i, j))
        .map((j) => ring[j]!.name).sort();
    };
    const linked = () => overlay.fingers.filter((l) => l.open).map((l) => l.peer.name).sort();

    // After a quiet spell a change chooses at once.
    const start = targets.slice(0, 4);
    list(start);
    overlay.refingers();
    equal(overlay.fingerChoices, 1);
    await poll(() => linked().length === mine(start).length, "the first fingers");
    deepEqual(linked(), mine(start));
    await new Promise((resolve) => setTimeout(resolve, rechooseMs));

    // A burst of 20 changes, each moving the fingers: one choice at once, one at its end.
    const before = targets.reduce((sum, t) => sum + t.hellos, 0);
    for (let k = 5; k <= targets.length; k++) {
      list(targets.slice(0, k));
      overlay.refingers();
    }
    equal(overlay.fingerChoices, 2, "the burst's first change chose at once, the others wait");
    await poll(() => overlay.fingerChoices === 3, "the choice after the burst");
    const final = mine(targets);
    await poll(() => linked().join() === final.join(), "the final list's fingers");
    deepEqual(linked(), final);
    // No more than the burst's first list's fingers and the final list's were dialled.
    const dialled = targets.reduce((sum, t) => sum + t.hellos, 0) - before;
    const bound = mine(targets.slice(0, 5)).length + final.length;
    ok(dialled <= bound, `${dialled} finger hellos in the burst, at most ${bound}`);
    await new Promise((resolve) => setTimeout(resolve, rechooseMs * 2));
    equal(overlay.fingerChoices, 3, "no choice without a change");
  } finally {
    await overlay.close();
    for (const t of targets) t.close();
    await Promise.allSettled(targets.map((t) => t.serving));
    listener.close();
    await tasks.drain();
  }
});
