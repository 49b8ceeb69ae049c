/**
 * A link that records what is written to it, for tests of the tree
 * (peer/tree.ts) without sockets.
 *
 * @module
 */

import type { Member } from "../../lib/frames.ts";
import type { Link, LinkDirection } from "../../peer/links.ts";

/** A {@linkcode Link} that keeps the bytes sent on it. */
export type FakeLink = Link & { written: Uint8Array[] };

/** An open fake link to `peer`. */
export function fakeLink(peer: Member, direction: LinkDirection = "backward"): FakeLink {
  const written: Uint8Array[] = [];
  return {
    peer,
    direction,
    open: true,
    written,
    send(bytes: Uint8Array) {
      written.push(bytes);
      return true;
    },
  } as unknown as FakeLink;
}
