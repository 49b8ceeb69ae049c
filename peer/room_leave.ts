/**
 * Leaving the room for another (an accepted invitation, issue 12): DEPART
 * from the registry, then every link closed. The minimal leave, until the
 * `leave` command of issue 11 (`/leave`) is merged; the peer's state goes
 * back to NAMED in `peer.ts`.
 *
 * @module
 */

import type { Place } from "./state.ts";
import type { PeerParts } from "./wiring.ts";

/** DEPARTs `place` and closes every link; resolves once the registry answered or could not. */
export async function leaveRoom(
  parts: Pick<PeerParts, "registry" | "overlay">,
  place: Place,
): Promise<void> {
  const { room, me } = place;
  await parts.registry.depart({ type: "D", room, name: me.name, ip: me.ip, port: me.port });
  for (const link of parts.overlay.all()) link.close(`Left room ${room}`, false, false);
}
