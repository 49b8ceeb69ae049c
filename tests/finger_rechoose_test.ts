/**
 * Finger links are chosen once the member list settles
 * (peer/fingers_links.ts, `fingerSettleMs`): a burst of membership changes
 * (a room filling up) dials the fingers of the list the burst ends with, not
 * one round of dials and closes per change, and the links chosen at the end
 * are the final list's fingers; a list that keeps changing is chosen
 * `fingerMaxWaitMs` after its first change waited.
 */

import { equal, ok } from "node:assert/strict";
import { dialsFinger, fingerNeighbours } from "../lib/fingers.ts";
import type { Member } from "../lib/frames.ts";
import { memberKey, type RingMember, ringOrder, withHashIds } from "../lib/ring.ts";
import { greet } from "../peer/links.ts";
import { Membership } from "../peer/membership.ts";
import type { Overlay } from "../peer/overlay.ts";
import { treeOverlay } from "./support/tree_overlay.ts";
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

/** An overlay in tree mode whose members are `FingerTarget`s, listed as a test says. */
class Room implements AsyncDisposable {
  readonly tasks = new TaskSet();
  readonly members = new Membership(60_000);
  readonly listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly me: RingMember;
  readonly overlay: Overlay;
  readonly targets: FingerTarget[];
  #msid = 1n;

  constructor(size: number, settleMs: number, maxWaitMs: number) {
    this.me = withHashIds([{ name: "me", ip: "127.0.0.1", port: this.listener.addr.port }])[0]!;
    const place = { room: "room1", me: this.me };
    this.overlay = treeOverlay(place, this.members, this.tasks, {}, {
      fingerSettleMs: settleMs,
      fingerMaxWaitMs: maxWaitMs,
    });
    this.overlay.serve(this.listener);
    this.targets = Array.from({ length: size }, (_, i) => new FingerTarget(`m${i}`));
  }

  /** Lists me and the first `k` targets (no keys), and tells the overlay (as a relink does). */
  list(k: number): void {
    const listed = [this.me, ...this.targets.slice(0, k).map((t) => t.member)];
    const msid = this.#msid++;
    this.members.set({ type: "M", msid, members: listed }, 0);
    this.members.setInfo({
      room: "room1",
      msid,
      members: listed.map((m) => ({ ...m, key: null })),
    });
    this.overlay.refingers();
  }

  /**
   * The members I share a finger link with while the first `k` targets are
   * listed with me (`dialled`: only those I dial).
   */
  mine(k: number, dialled = true): string[] {
    const ring = ringOrder([this.me, ...this.targets.slice(0, k).map((t) => t.member)], this.me);
    const i = ring.findIndex((m) => memberKey(m) === memberKey(this.me));
    return fingerNeighbours(ring.length, i).filter((j) =>
      !dialled || dialsFinger(ring.length, i, j)
    )
      .map((j) => ring[j]!.name).sort();
  }

  /**
   * True when my finger links are the ones the first `k` targets make: each
   * finger I dial, and no member that is no finger of mine either way (a link
   * stays while either side owes it).
   */
  fingersOf(k: number): boolean {
    const linked = new Set(this.linked()), neighbours = new Set(this.mine(k, false));
    return this.mine(k).every((name) => linked.has(name)) &&
      [...linked].every((name) => neighbours.has(name));
  }

  /** The members of my open finger links. */
  linked(): string[] {
    return this.overlay.fingers.filter((l) => l.open).map((l) => l.peer.name).sort();
  }

  /** Finger hellos the targets took so far. */
  get hellos(): number {
    return this.targets.reduce((sum, t) => sum + t.hellos, 0);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.overlay.close();
    for (const t of this.targets) t.close();
    await Promise.allSettled(this.targets.map((t) => t.serving));
    this.listener.close();
    await this.tasks.drain();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("finger links: a burst of membership changes re-chooses the fingers once after it, not per change", async () => {
  const settleMs = 300;
  await using room = new Room(24, settleMs, 10_000);
  // After a quiet spell a change chooses at once.
  room.list(4);
  equal(room.overlay.fingerChoices, 1);
  await poll(() => room.fingersOf(4), "the first fingers");
  await sleep(settleMs);

  // A burst of 20 changes, each moving the fingers: one choice at once, one once it settled.
  const before = room.hellos;
  for (let k = 5; k <= room.targets.length; k++) room.list(k);
  equal(room.overlay.fingerChoices, 2, "the burst's first change chose at once, the others wait");
  await poll(() => room.overlay.fingerChoices === 3, "the choice after the burst");
  const final = room.mine(room.targets.length);
  await poll(() => room.fingersOf(room.targets.length), "the final list's fingers");
  // No more than the burst's first list's fingers and the final list's were dialled.
  const dialled = room.hellos - before;
  const bound = room.mine(5).length + final.length;
  ok(dialled <= bound, `${dialled} finger hellos in the burst, at most ${bound}`);
  await sleep(settleMs * 2);
  equal(room.overlay.fingerChoices, 3, "no choice without a change");
});

Deno.test("finger links: a list that keeps changing is chosen maxWaitMs after its first change waited", async () => {
  const settleMs = 300, maxWaitMs = 900;
  await using room = new Room(40, settleMs, maxWaitMs);
  room.list(2);
  equal(room.overlay.fingerChoices, 1);
  // A change every 100 ms (never settleMs unchanged) for 2.4 s: chosen every maxWaitMs or so.
  for (let k = 3; k <= 26; k++) {
    await sleep(100);
    room.list(k);
  }
  const choices = room.overlay.fingerChoices - 1;
  ok(choices >= 1 && choices <= 3, `${choices} choices while it kept changing`);
  await poll(() => room.overlay.fingerChoices === choices + 2, "the choice once it settled");
  await poll(() => room.fingersOf(26), "the final list's fingers");
});
