/**
 * What a peer counts as it runs, for tools and tests to read instead of log
 * text: {@linkcode PeerStats}, returned by `peer.stats()` and sent as the
 * `stats` event by `/stats` and `{"command":"stats"}`.
 *
 * @module
 */

import type { TreeCounts } from "./tree.ts";

/** A peer's figures. */
export interface PeerStats {
  /** Messages this peer originated. */
  sent: number;
  /** Live messages shown (a `message` event emitted), my own included. */
  delivered: number;
  /** Missed messages shown from a catch-up answer (`message` events with `history`). */
  caughtUp: number;
  /** Frames of others' messages written onward to links (one per link). */
  forwarded: number;
  /** `T` frames dropped as already seen. */
  duplicates: number;
  /**
   * New `T` frames dropped unshown: from an origin that is not a member, over
   * a link's or an origin's rate, or into a member's full window.
   */
  refused: number;
  /** Messages the dedup window remembers now (bounded per member: its memory). */
  remembered: number;
  /** Links up: the forward link (0 or 1) and the backward links. */
  links: number;
  /** Bytes queued for writing on all links now. */
  queuedBytes: number;
  /** Finger links up (docs/overlay.md): only while the room is in tree mode. */
  fingers?: number;
  /** Copies of messages sent down the broadcast tree (mine and forwarded; in `forwarded` too). */
  treeSent?: number;
  /** Digests sent on ring links, pulls sent, and messages that reached me by a pull first. */
  digests?: number;
  pulls?: number;
  repaired?: number;
  /**
   * Digests sent to acknowledge tree copies, children that went silent with
   * copies unconfirmed, and copies handed again to the member that took a
   * silent or dead child's part over (peer/child_watch.ts); parts handed
   * over on another child's copy, and hand-overs passed on (peer/tree.ts).
   */
  acks?: number;
  silent?: number;
  resent?: number;
  handedOver?: number;
  passedOn?: number;
}

/** The counts kept as messages flow; the rest is read when asked. */
export type MessageCounts = Pick<
  PeerStats,
  "sent" | "delivered" | "forwarded" | "duplicates" | "refused"
>;

/** Counts that all start at zero. */
export function newMessageCounts(): MessageCounts {
  return { sent: 0, delivered: 0, forwarded: 0, duplicates: 0, refused: 0 };
}

/** Where {@linkcode peerStats} reads the figures. */
export interface StatsSources {
  relay: { counts: MessageCounts };
  seen: { entries: number };
  overlay: { count: number; queuedBytes: number; fingers?: readonly unknown[] };
  history: { counts: { shown: number } };
  tree?: { counts: TreeCounts };
}

/** A peer's figures now: the message counts and what its parts hold. */
export function peerStats({ relay, seen, overlay, history, tree }: StatsSources): PeerStats {
  const stats: PeerStats = {
    ...relay.counts,
    caughtUp: history.counts.shown,
    remembered: seen.entries,
    links: overlay.count,
    queuedBytes: overlay.queuedBytes,
  };
  if (overlay.fingers !== undefined) stats.fingers = overlay.fingers.length;
  if (tree !== undefined) {
    // Every count of the tree's but the pull answers and the safety net's `T` copies.
    const { sent, answered: _answered, net: _net, ...rest } = tree.counts;
    Object.assign(stats, { treeSent: sent, ...rest });
  }
  return stats;
}
