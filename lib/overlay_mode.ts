/**
 * The mixed-room rule of docs/overlay.md §4: an origin sends a message over
 * the broadcast tree only if every member of its list is known to speak
 * ringchat/2; otherwise it sends a `T` frame and the room floods the ring as
 * PROTOCOL.md §6 says. A tree never skips a seed client. The mode is per
 * message and fixed by its origin, so a switch loses and duplicates nothing.
 *
 * Wired in `peer/tree.ts` (`TreeRouter.mode`).
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { messageMode } from "./overlay_mode.ts";
 * const alice = { name: "alice", ip: "127.0.0.1", port: 50001 };
 * const bob = { name: "bob", ip: "127.0.0.1", port: 50002 };
 * equal(messageMode([alice, bob], () => true), "tree");
 * equal(messageMode([alice, bob], (m) => m.name !== "bob"), "ring");
 * ```
 *
 * @module
 */

import type { Member } from "./frames.ts";

/** How a message travels: flooded on the ring (`T`), or over the broadcast tree. */
export type OverlayMode = "ring" | "tree";

/**
 * What a peer is told to do (its `overlay` option, `--overlay`): `"auto"`
 * sends its messages down the tree while {@linkcode messageMode} says so,
 * `"ring"` always floods the seed's ring.
 */
export const OVERLAY_CHOICES = ["auto", "ring"] as const;

/** One of {@linkcode OVERLAY_CHOICES}. */
export type OverlayChoice = typeof OVERLAY_CHOICES[number];

/**
 * The mode of a message I originate: `"tree"` only when every member is known
 * to speak ringchat/2 (member information or a hello; unknown counts as no)
 * and there is someone to send to.
 */
export function messageMode(
  members: readonly Member[],
  speaksRingchat2: (member: Member) => boolean,
): OverlayMode {
  if (members.length < 2) return "ring";
  return members.every(speaksRingchat2) ? "tree" : "ring";
}

/**
 * {@linkcode messageMode} from counts: `members` listed, `speakers` of them
 * known to speak ringchat/2. A peer keeps the count through membership
 * deltas (`Membership.allSpeakRingchat`), so the mode of each message costs
 * no scan of the list; `messageMode` is its definition.
 */
export function countedMode(members: number, speakers: number): OverlayMode {
  return members >= 2 && speakers === members ? "tree" : "ring";
}

/**
 * The safety net: the ring links a peer also writes a tree message to as `T`
 * when it delivers one, the ones whose other end is not known to speak
 * ringchat/2 (a seed client that joined a moment ago).
 */
export function seedLinks<L extends Member>(
  ringLinks: readonly L[],
  speaksRingchat2: (member: Member) => boolean,
): L[] {
  return ringLinks.filter((link) => !speaksRingchat2(link));
}
