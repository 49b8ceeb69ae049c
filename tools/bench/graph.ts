/**
 * Questions the benchmarks ask of the overlay graph (built by
 * tools/cluster/overlay.ts from each peer's `/links` answer): its size, and
 * the eccentricity of a peer (the hops a flooded message needs to reach the
 * farthest peer over shortest paths).
 *
 * @module
 */

import { adjacency, edgeCount, isConnected, type Overlay } from "../cluster/overlay.ts";

export { adjacency, edgeCount, isConnected, type Overlay };

/** Hops from `from` to the farthest peer it reaches; null if some peer is unreachable. */
export function eccentricity(overlay: Overlay, from: string): number | null {
  const adj = adjacency(overlay);
  if (!adj.has(from)) return null;
  const depth = new Map<string, number>([[from, 0]]);
  let frontier = [from];
  let hops = 0;
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const name of frontier) {
      for (const other of adj.get(name)!) {
        if (depth.has(other)) continue;
        depth.set(other, hops + 1);
        next.push(other);
      }
    }
    if (next.length > 0) hops++;
    frontier = next;
  }
  return depth.size === adj.size ? hops : null;
}

/** A canonical text of the undirected links, to tell whether the graph changed. */
export function edgeSignature(overlay: Overlay): string {
  const edges: string[] = [];
  for (const [name, ends] of adjacency(overlay)) {
    for (const end of ends) if (name < end) edges.push(`${name}-${end}`);
  }
  return edges.sort().join(",");
}

/**
 * The fewest duplicate receipts flooding can cost on a connected graph of
 * `peers` nodes and `edges` links: every link outside a spanning tree is
 * crossed in both directions, 2(E − N + 1).
 */
export function duplicateBound(peers: number, edges: number): number {
  return 2 * (edges - peers + 1);
}
