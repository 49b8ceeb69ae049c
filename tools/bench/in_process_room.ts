/**
 * N peers in this process (the `startPeer` API) in one room of a registry,
 * with every event time-stamped as it happens, and the questions the
 * benchmarks ask: has the overlay converged (every peer knows every member
 * and no link changed for a while), and what is the link graph.
 *
 * @module
 */

import type { PeerEvent } from "../../peer/events.ts";
import { type PeerHandle, startPeer } from "../../peer/peer.ts";
import type { Overlay } from "./graph.ts";

/** A listener for every event of every peer: which peer, what, and when (`performance.now()`). */
export type RoomListener = (peer: RoomPeer, event: PeerEvent, at: number) => void;

/** One in-process peer of the room. */
export interface RoomPeer {
  name: string;
  handle: PeerHandle;
  /** Members in its last member list. */
  members: number;
}

/** How to start a room. */
export interface InProcessRoomOptions {
  peers: number;
  registryPort: number;
  room?: string;
  keepaliveMs: number;
  retryMs?: number;
  /** Peers joining at once (default 8). */
  concurrency?: number;
  /** Name prefix (default "p"). */
  prefix?: string;
  /** Stop starting peers after this long (default 120 s): the room is then smaller. */
  deadlineMs?: number;
  /** How the peers send their messages (PeerOptions.overlay; default "auto"). */
  overlay?: "auto" | "ring";
}

/** Peers of one room in this process. */
export class InProcessRoom implements AsyncDisposable {
  readonly peers: RoomPeer[] = [];
  readonly #listeners = new Set<RoomListener>();
  /** `performance.now()` of the last link event of any peer. */
  lastLinkEventAt = 0;
  /** Link events seen so far. */
  linkEvents = 0;

  /** Starts the peers, `concurrency` at a time, each joined when its start resolves. */
  static async start(options: InProcessRoomOptions): Promise<InProcessRoom> {
    const room = new InProcessRoom();
    const concurrency = options.concurrency ?? 8;
    const deadline = performance.now() + (options.deadlineMs ?? 120_000);
    try {
      for (let i = 1; i <= options.peers && performance.now() < deadline; i += concurrency) {
        const batch: Promise<RoomPeer>[] = [];
        for (let j = i; j < i + concurrency && j <= options.peers; j++) {
          batch.push(room.#startPeer(`${options.prefix ?? "p"}${j}`, options));
        }
        room.peers.push(...await Promise.all(batch));
      }
    } catch (error) {
      await room[Symbol.asyncDispose]();
      throw error;
    }
    return room;
  }

  async #startPeer(name: string, options: InProcessRoomOptions): Promise<RoomPeer> {
    const entry = { name, members: 0 } as RoomPeer;
    entry.handle = await startPeer({
      registry: { hostname: "127.0.0.1", port: options.registryPort },
      hostname: "127.0.0.1",
      advertise: "127.0.0.1",
      name,
      room: options.room ?? "bench",
      keepaliveMs: options.keepaliveMs,
      retryMs: options.retryMs ?? 200,
      overlay: options.overlay ?? "auto",
      onEvent: (event) => this.#onEvent(entry, event),
    });
    return entry;
  }

  #onEvent(peer: RoomPeer, event: PeerEvent): void {
    const at = performance.now();
    if (event.type === "joined" || event.type === "members") peer.members = event.members.length;
    if (event.type === "link") {
      this.lastLinkEventAt = at;
      this.linkEvents++;
    }
    for (const listener of this.#listeners) listener(peer, event, at);
  }

  /** Calls `listener` with every event from now on; returns the unsubscribe function. */
  on(listener: RoomListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Every peer's links, as `/links` answers them (taken synchronously). */
  overlay(): Overlay {
    const overlay: Overlay = new Map();
    for (const p of this.peers) {
      const off = p.handle.on((event) => {
        if (event.type === "links") {
          overlay.set(p.name, { forward: event.forward, backward: event.backward });
        }
      });
      p.handle.links();
      off();
    }
    return overlay;
  }

  /**
   * Waits until every peer lists `members` members (default: the peers of
   * this room) and no link event happened for `settleMs`, or until
   * `timeoutMs`. Returns whether it converged and when.
   */
  async waitConverged(
    timeoutMs: number,
    settleMs: number,
    members = this.peers.length,
  ): Promise<{ converged: boolean; ms: number }> {
    const started = performance.now();
    const n = members;
    for (;;) {
      const now = performance.now();
      const allKnown = this.peers.every((p) => p.members === n);
      if (allKnown && now - this.lastLinkEventAt >= settleMs) {
        return { converged: true, ms: now - started };
      }
      if (now - started >= timeoutMs) return { converged: false, ms: now - started };
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, settleMs)));
    }
  }

  /** Quits every peer. */
  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.allSettled(this.peers.map((p) => p.handle.quit()));
  }
}
