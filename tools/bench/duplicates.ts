/**
 * Duplicate receipts, from the peers' own counters: the `duplicates` figure
 * of `peer.stats()` (in-process) or of the `stats` event of a peer process
 * (tools/process/peer_stats.ts). A message's duplicates are the growth of
 * the room's total between just before it is sent and once it has drained.
 *
 * @module
 */

import type { PeerHandle } from "../../peer/peer.ts";
import type { PeerProcess } from "../process/peer_process.ts";
import { statsOfHandle } from "../process/peer_stats.ts";

/** `T` frames dropped as already seen, summed over these in-process peers. */
export function inProcessDuplicates(handles: Iterable<PeerHandle>): number {
  let total = 0;
  for (const handle of handles) total += statsOfHandle(handle).duplicates;
  return total;
}

/** `T` frames dropped as already seen, summed over these peer processes. */
export async function processDuplicates(peers: readonly PeerProcess[]): Promise<number> {
  const stats = await Promise.all(peers.map((peer) => peer.stats()));
  return stats.reduce((total, s) => total + s.duplicates, 0);
}
