/**
 * The overlay as the peers themselves report it: a graph built from each
 * peer's answer to `/links`, and the questions the fault tests ask of it.
 *
 * @module
 */

import type { LinksAnswer } from "../process/peer_process.ts";

/** Each peer's `/links` answer, by peer name. */
export type Overlay = Map<string, LinksAnswer>;

/** Undirected adjacency among the given peers; links to anyone else are left out. */
export function adjacency(overlay: Overlay): Map<string, Set<string>> {
  const adj = new Map<string, Set<string>>();
  for (const name of overlay.keys()) adj.set(name, new Set());
  for (const [name, links] of overlay) {
    const ends = [...(links.forward === null ? [] : [links.forward]), ...links.backward];
    for (const end of ends) {
      if (!adj.has(end.name) || end.name === name) continue;
      adj.get(name)!.add(end.name);
      adj.get(end.name)!.add(name);
    }
  }
  return adj;
}

/** True when every peer of the overlay can reach every other over links. */
export function isConnected(overlay: Overlay): boolean {
  const adj = adjacency(overlay);
  const first = adj.keys().next();
  if (first.done) return true;
  const seen = new Set<string>([first.value]);
  const queue = [first.value];
  while (queue.length > 0) {
    for (const next of adj.get(queue.pop()!)!) {
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return seen.size === adj.size;
}

/** Number of distinct undirected links among the peers of the overlay. */
export function edgeCount(overlay: Overlay): number {
  let twice = 0;
  for (const ends of adjacency(overlay).values()) twice += ends.size;
  return twice / 2;
}

/**
 * The peers ordered by backward links, most first (ties broken by name, so
 * every run picks the same).
 */
export function mostLinked(overlay: Overlay): string[] {
  return [...overlay.entries()]
    .sort(([a, la], [b, lb]) =>
      lb.backward.length - la.backward.length || (a < b ? -1 : a > b ? 1 : 0)
    )
    .map(([name]) => name);
}

/** One line per peer: `name -> forward   <- backward, …`. */
export function describeOverlay(overlay: Overlay): string {
  return [...overlay.entries()]
    .map(([name, l]) =>
      `${name.padEnd(8)} -> ${(l.forward?.name ?? "(none)").padEnd(8)} <- ${
        l.backward.map((b) => b.name).join(", ") || "(none)"
      }`
    )
    .join("\n");
}
