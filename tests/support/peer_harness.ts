/**
 * Helpers for in-process peer tests: a registry on port 0, peers with
 * millisecond timings, and an event recorder whose waits resolve on events
 * (each with a deadline that fails the test instead of hanging it).
 *
 * @module
 */

import type { PeerEvent } from "../../peer/events.ts";
import { type PeerHandle, type PeerOptions, startPeer } from "../../peer/peer.ts";

/** How long a wait for an event may take by default. */
export const EVENT_TIMEOUT_MS = 5000;

/** Timings that make a peer's retries happen in milliseconds. */
export const FAST: Pick<
  PeerOptions,
  "keepaliveMs" | "retryMs" | "pokeTimeoutMs" | "handshakeTimeoutMs" | "requestTimeoutMs"
> = {
  keepaliveMs: 60_000,
  retryMs: 100,
  pokeTimeoutMs: 300,
  handshakeTimeoutMs: 2000,
  requestTimeoutMs: 2000,
};

/** Every event of one peer, from its very first, with waits. */
export class Recorder {
  /** Every event so far, in order. */
  readonly events: PeerEvent[] = [];
  readonly #waiters = new Set<() => void>();

  /** The listener to pass as `onEvent`. */
  readonly listener = (event: PeerEvent): void => {
    this.events.push(event);
    for (const wake of [...this.#waiters]) wake();
  };

  /** The events of one type. */
  of<K extends PeerEvent["type"]>(type: K): Extract<PeerEvent, { type: K }>[] {
    return this.events.filter((e): e is Extract<PeerEvent, { type: K }> => e.type === type);
  }

  /** Chat texts delivered, in order. */
  texts(): string[] {
    return this.of("message").map((e) => e.text);
  }

  /** The first event at index `from` or later that matches, waiting for it if needed. */
  waitFor<E extends PeerEvent = PeerEvent>(
    predicate: (event: PeerEvent) => boolean,
    what: string,
    options: { from?: number; timeoutMs?: number } = {},
  ): Promise<E> {
    const from = options.from ?? 0;
    const timeoutMs = options.timeoutMs ?? EVENT_TIMEOUT_MS;
    const found = () => this.events.slice(from).find(predicate) as E | undefined;
    const now = found();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<E>((resolve, reject) => {
      const wake = () => {
        const event = found();
        if (event === undefined) return;
        this.#waiters.delete(wake);
        clearTimeout(timer);
        resolve(event);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        reject(
          new Error(
            `Timed out waiting for ${what}; events: ${
              JSON.stringify(this.events.slice(from).map((e) => e.type))
            }`,
          ),
        );
      }, timeoutMs);
      this.#waiters.add(wake);
    });
  }

  /** Waits until `condition` holds, re-checked on every event. */
  async until(condition: () => boolean, what: string, timeoutMs = EVENT_TIMEOUT_MS): Promise<void> {
    if (condition()) return;
    await this.waitFor(() => condition(), what, { from: this.events.length, timeoutMs });
  }
}

/** A started peer with its recorder. */
export interface TestPeer {
  peer: PeerHandle;
  rec: Recorder;
}

/** Starts a peer on 127.0.0.1, port 0, against a registry on `registryPort`, with fast timings. */
export async function testPeer(
  registryPort: number,
  options: PeerOptions = {},
): Promise<TestPeer> {
  const rec = new Recorder();
  const peer = await startPeer({
    registry: { hostname: "127.0.0.1", port: registryPort },
    hostname: "127.0.0.1",
    port: 0,
    ...FAST,
    ...options,
    onEvent: rec.listener,
  });
  return { peer, rec };
}

/** Waits until every peer is CONNECTED (or all are alone), checking on events. */
export async function allConnected(peers: readonly TestPeer[]): Promise<void> {
  for (const { peer, rec } of peers) {
    await rec.until(() => peer.state === "CONNECTED", "CONNECTED");
  }
}

/** Waits until `condition` holds, re-checked on every event of any of `peers`. */
export async function untilAll(
  peers: readonly TestPeer[],
  condition: () => boolean,
  what: string,
  timeoutMs = EVENT_TIMEOUT_MS,
): Promise<void> {
  if (condition()) return;
  await new Promise<void>((resolve, reject) => {
    const offs: (() => void)[] = [];
    const done = (error?: Error) => {
      clearTimeout(timer);
      for (const off of offs) off();
      if (error) reject(error);
      else resolve();
    };
    const timer = setTimeout(() => done(new Error(`Timed out waiting for ${what}`)), timeoutMs);
    for (const { peer } of peers) {
      offs.push(peer.on(() => {
        if (condition()) done();
      }));
    }
  });
}

/**
 * Waits until the peers' links form one connected graph (every peer reaches
 * every other over forward and backward links), re-checking on any event.
 */
export function meshConnected(
  peers: readonly TestPeer[],
  timeoutMs = EVENT_TIMEOUT_MS,
): Promise<void> {
  return untilAll(peers, () => connectedGraph(peers), "a connected overlay", timeoutMs);
}

/** True when the overlay of forward links (seen from every peer) connects all peers. */
export function connectedGraph(peers: readonly TestPeer[]): boolean {
  if (peers.length <= 1) return true;
  const byPort = new Map(peers.map((p, i) => [p.peer.port, i]));
  const adjacent = peers.map(() => new Set<number>());
  peers.forEach((p, i) => {
    const forward = lastLinks(p.rec).forward;
    if (forward === null) return;
    const j = byPort.get(forward);
    if (j === undefined) return;
    adjacent[i]!.add(j);
    adjacent[j]!.add(i);
  });
  const seen = new Set([0]);
  const stack = [0];
  while (stack.length > 0) {
    const i = stack.pop()!;
    for (const j of adjacent[i]!) {
      if (!seen.has(j)) {
        seen.add(j);
        stack.push(j);
      }
    }
  }
  return seen.size === peers.length;
}

/** My current forward and backward links (by port), folded from link events. */
export function lastLinks(rec: Recorder): { forward: number | null; backward: number[] } {
  let forward: number | null = null;
  const backward = new Map<number, number>();
  for (const e of rec.of("link")) {
    if (e.direction === "forward") {
      if (e.state === "up") forward = e.peer.port;
      else if (forward === e.peer.port) forward = null;
    } else {
      backward.set(e.peer.port, (backward.get(e.peer.port) ?? 0) + (e.state === "up" ? 1 : -1));
    }
  }
  return { forward, backward: [...backward].filter(([, n]) => n > 0).map(([port]) => port) };
}
