/**
 * An `Overlay` in tree mode for tests that drive its finger links by hand:
 * my place in `room1`, the member list the test sets, quick timings.
 *
 * @module
 */

import { RecentFrames, SeenWindow } from "../../peer/flood.ts";
import type { Membership } from "../../peer/membership.ts";
import { Overlay, type OverlayHost, type OverlayOptions } from "../../peer/overlay.ts";
import type { Place } from "../../peer/state.ts";
import type { TaskSet } from "../../peer/tasks.ts";

/** The overlay of `place` over `members` (`host` and `options` override the defaults). */
export function treeOverlay(
  place: Place,
  members: Membership,
  tasks: TaskSet,
  host: Partial<OverlayHost> = {},
  options: Partial<OverlayOptions> = {},
): Overlay {
  return new Overlay({
    place: () => place,
    placeForHandshake: () => Promise.resolve(place),
    quitting: () => false,
    members,
    seen: new SeenWindow(),
    recent: new RecentFrames(1000),
    lastMsgId: () => 1n,
    refresh: () => Promise.resolve(),
    lookUp: () => Promise.resolve(),
    treeMode: () => true,
    onText: () => {},
    emit: () => {},
    report: () => {},
    track: (promise) => tasks.track(promise),
    ...host,
  }, {
    handshakeTimeoutMs: 1000,
    frameTimeoutMs: 1000,
    retryMs: 50,
    maxTextBytes: 1000,
    maxQueuedBytes: 1 << 20,
    maxHandshakes: 8,
    ...options,
  });
}
