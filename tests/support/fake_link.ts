/**
 * A link that records what is written to it, and the texts sent over it,
 * for tests of the tree (peer/tree.ts) without sockets.
 *
 * @module
 */

import type { Member, TextFrame } from "../../lib/frames.ts";
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

/** A text of `origin` numbered `msgId` in room `r`, and stand-in wire bytes for it. */
export function fakeText(msgId: bigint, origin: Member & { hashId: bigint }): {
  frame: TextFrame;
  raw: Uint8Array;
} {
  const frame: TextFrame = {
    type: "T",
    room: "r",
    originHid: origin.hashId.toString(),
    originName: origin.name,
    msgId,
    text: "hi",
  };
  return { frame, raw: new TextEncoder().encode(`T r ${msgId}`) };
}
