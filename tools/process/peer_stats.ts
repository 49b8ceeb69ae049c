/**
 * A peer's counters as the tools read them: `peer.stats()` in-process, the
 * `stats` event (`{"command":"stats"}` on a `--json` peer's stdin) for a
 * process. The shape is the peer's `PeerStats` (CONTRACTS.md); the tools
 * read it through these two functions only.
 *
 * @module
 */

import type { PeerEvent } from "../../peer/events.ts";
import type { PeerHandle } from "../../peer/peer.ts";

/** A peer's counters since it started. */
export interface PeerCounters {
  /** Messages this peer originated. */
  sent: number;
  /** Messages shown (a `message` event emitted). */
  delivered: number;
  /** Frames written onward to links. */
  forwarded: number;
  /** `T` frames dropped as already seen. */
  duplicates: number;
  /** Forward (0 or 1) plus backward links. */
  links: number;
  /** Bytes queued for writing on all links now. */
  queuedBytes: number;
}

const FIELDS = ["sent", "delivered", "forwarded", "duplicates", "links", "queuedBytes"] as const;

/** The counters of a `stats` event, or null when `event` is another event. */
export function statsOfEvent(event: PeerEvent): PeerCounters | null {
  const e = event as unknown as Record<string, unknown>;
  if (e.type !== "stats") return null;
  for (const field of FIELDS) {
    if (typeof e[field] !== "number") throw new TypeError(`stats event without ${field}`);
  }
  return Object.fromEntries(FIELDS.map((f) => [f, e[f]])) as unknown as PeerCounters;
}

/** An in-process peer's counters (`peer.stats()`); a clear error if this peer has none. */
export function statsOfHandle(handle: PeerHandle): PeerCounters {
  const stats = (handle as unknown as { stats?: () => PeerCounters }).stats;
  if (typeof stats !== "function") {
    throw new TypeError("This peer has no stats() (PeerHandle.stats of issue 10)");
  }
  return stats.call(handle);
}
