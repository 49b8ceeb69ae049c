/**
 * What a page that opens late is shown first: the peer's recent events, so
 * a page loaded (or reloaded) after the peer joined still has its name, its
 * room, its members, its links and the last lines of chat. The last
 * `limit` events are kept as they came; the latest event that sets each
 * part of the state (name, room, member list with its links, each link
 * changed since that list) is kept even after it falls out of that window,
 * and replayed before it, in the order they came.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventHistory } from "./history.ts";
 * const history = new EventHistory(1);
 * history.record({ type: "named", name: "alice" });
 * history.record({ type: "info", message: "hello" });
 * assert.deepEqual(history.replay().map((event) => event.type), ["named", "info"]);
 * ```
 *
 * @module
 */

import type { PeerEvent } from "../events.ts";

/** Events replayed to a page that opens; see the module doc. */
export class EventHistory {
  readonly #limit: number;
  readonly #recent: PeerEvent[] = [];
  readonly #state = new Map<string, PeerEvent>();
  #dropped = false;

  /** Keeps the last `limit` events (and the state they set). */
  constructor(limit = 500) {
    this.#limit = limit;
  }

  /** Remembers one event. */
  record(event: PeerEvent): void {
    this.#recent.push(event);
    if (this.#recent.length > this.#limit) {
      this.#recent.shift();
      this.#dropped = true;
    }
    const key = stateKey(event);
    if (key === null) return;
    // A list of my links (joined: none yet; members: those it names) makes the link events before it
    // old news; a link that went down after it stays down, so its down event is kept.
    if (event.type === "joined" || (event.type === "members" && event.backward !== undefined)) {
      for (const stale of [...this.#state.keys()].filter((k) => k.startsWith("link "))) {
        this.#state.delete(stale);
      }
    }
    // Kept in the order last recorded, as they are replayed.
    this.#state.delete(key);
    this.#state.set(key, event);
  }

  /** The events to show a page that opens now, oldest first. */
  replay(): PeerEvent[] {
    if (!this.#dropped) return [...this.#recent];
    const kept = new Set(this.#recent);
    return [...[...this.#state.values()].filter((event) => !kept.has(event)), ...this.#recent];
  }
}

/** Which part of the state an event sets, or null. */
function stateKey(event: PeerEvent): string | null {
  switch (event.type) {
    case "ready":
    case "named":
    case "joined":
    case "members":
    case "web":
      return event.type;
    case "link":
      return `link ${event.direction} ${event.peer.name} ${event.peer.ip} ${event.peer.port}`;
    default:
      return null;
  }
}
