/**
 * The ops of the broadcast tree (docs/overlay.md, docs/extensions.md `tree`,
 * `pull`, `finger`), encoded and read from untrusted links. The `digest` op
 * is `./digest.ts`'s.
 *
 * - `tree` goes right before a text (its `text` op, or its `T`) on the same
 *   link and says the text travels down the tree: `hops` (the copy's hops
 *   from its origin), `limit` (where the receiver's share of the ring ends,
 *   a member identity), or `pulled` (an answer to a pull, no share). It names
 *   the text it heads by `origin` and `msgId`. With `part` (`{from, limit}`,
 *   two member identities) it also carries a hand-over: a share of the ring,
 *   from `from` up to `limit`, whose first member its sender cannot reach
 *   (silent, dead, or no link); the receiver passes the text on to the first
 *   member of it that it can reach, once, even if it holds the text already
 *   (`./tree.ts`). A hand-over with `bare` has no text after it: the
 *   receiver passes on the copy it holds, if any.
 * - `pull` asks a ring neighbour for messages its digest listed.
 * - `finger` opens a finger link (the first frame of the connection), and
 *   the accepting side answers it with `finger` and `ok`.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { parseTreeHeader, treeHeaderBody } from "./tree_ops.ts";
 * const limit = { name: "bob", ip: "127.0.0.1", port: 50002 };
 * const body = treeHeaderBody("r", "7", 3n, { hops: 2, limit, pulled: false });
 * deepEqual(parseTreeHeader(body), {
 *   room: "r",
 *   originHid: "7",
 *   msgId: 3n,
 *   route: { hops: 2, limit, pulled: false },
 * });
 * ```
 *
 * @module
 */

import { encodeFrame, type Member } from "../lib/frames.ts";
import type { Want } from "./digest.ts";
import { decimalUint64, opError } from "./op_fields.ts";

/** The op that heads a text sent down the tree. */
export const TREE_OP = "tree";
/** The op of a digest (`./digest.ts`). */
export const DIGEST_OP = "digest";
/** The op that asks for messages a digest listed. */
export const PULL_OP = "pull";
/** The op that opens a finger link, and answers it. */
export const FINGER_OP = "finger";

/** Most hops a `tree` op may claim (a ring of 2^30 has at most 30 in its tree). */
export const MAX_TREE_HOPS = 1024;
/** Most messages one `pull` asks for. */
export const MAX_PULL_WANTS = 64;

/** How a text travels down the tree, as its `tree` op says. */
export interface TreeRoute {
  /** Hops from its origin to the receiver of this copy (1 for the origin's children). */
  hops: number;
  /** Where the receiver's share ends; null on a pulled copy (or a share of itself alone). */
  limit: Member | null;
  /** True on an answer to a pull. */
  pulled: boolean;
  /**
   * A hand-over: a share of the ring (from `from` up to `limit`) the
   * receiver is not in, to pass on to the first member of it the receiver
   * can reach. Absent on every other copy.
   */
  part?: { from: Member; limit: Member };
  /** A hand-over without its text (the receiver holds it): no text follows the op. */
  bare?: true;
}

function memberBody(member: Member): Record<string, unknown> {
  return { name: member.name, ip: member.ip, port: member.port };
}

/** A `tree` op read from a link. */
export interface TreeHeader {
  room: string;
  originHid: string;
  msgId: bigint;
  route: TreeRoute;
}

/** The body of a `tree` op heading the text `originHid`/`msgId` of `room`. */
export function treeHeaderBody(
  room: string,
  originHid: string,
  msgId: bigint,
  route: TreeRoute,
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    room,
    origin: originHid,
    msgId: msgId.toString(),
    hops: route.hops,
  };
  if (route.limit !== null) body.limit = memberBody(route.limit);
  if (route.part !== undefined) {
    body.part = { from: memberBody(route.part.from), limit: memberBody(route.part.limit) };
  }
  if (route.bare === true) body.bare = true;
  if (route.pulled) body.pulled = true;
  return body;
}

/** The bytes of a `tree` op (see {@linkcode treeHeaderBody}). */
export function treeHeader(
  room: string,
  originHid: string,
  msgId: bigint,
  route: TreeRoute,
): Uint8Array {
  return encodeFrame({
    type: "X",
    op: TREE_OP,
    body: treeHeaderBody(room, originHid, msgId, route),
  });
}

function room(value: unknown, op: string): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 64) {
    throw opError(`${op} needs a room`);
  }
  return value;
}

/** Reads a member identity `{name, ip, port}` from an op. */
export function memberField(value: unknown, what: string): Member {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw opError(`${what} must be a member`);
  }
  const { name, ip, port } = value as Record<string, unknown>;
  if (typeof name !== "string" || name.length === 0 || name.length > 64) {
    throw opError(`${what} needs a name`);
  }
  if (typeof ip !== "string" || ip.length === 0 || ip.length > 255) {
    throw opError(`${what} needs an ip`);
  }
  if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
    throw opError(`${what} needs a port`);
  }
  return { name, ip, port: port as number };
}

/** Reads a `tree` op's body. Throws the op error of `./op_fields.ts` on anything malformed. */
export function parseTreeHeader(body: Record<string, unknown>): TreeHeader {
  const hops = body.hops;
  if (!Number.isInteger(hops) || (hops as number) < 1 || (hops as number) > MAX_TREE_HOPS) {
    throw opError(`tree hops must be an integer from 1 to ${MAX_TREE_HOPS}`);
  }
  if (body.pulled !== undefined && body.pulled !== true) throw opError("tree pulled malformed");
  const pulled = body.pulled === true;
  if (pulled && body.limit !== undefined) throw opError("a pulled tree copy has no limit");
  const route: TreeRoute = {
    hops: hops as number,
    limit: body.limit === undefined ? null : memberField(body.limit, "tree limit"),
    pulled,
  };
  if (body.part !== undefined) {
    if (pulled) throw opError("a pulled tree copy hands nothing over");
    const part = body.part;
    if (typeof part !== "object" || part === null || Array.isArray(part)) {
      throw opError("tree part must be {from, limit}");
    }
    const { from, limit } = part as Record<string, unknown>;
    route.part = {
      from: memberField(from, "tree part from"),
      limit: memberField(limit, "tree part limit"),
    };
  }
  if (body.bare !== undefined) {
    if (body.bare !== true || route.part === undefined) {
      throw opError("tree bare is true, and only on a hand-over");
    }
    route.bare = true;
  }
  return {
    room: room(body.room, "tree"),
    originHid: decimalUint64(body.origin, "tree origin").toString(),
    msgId: decimalUint64(body.msgId, "tree msgId"),
    route,
  };
}

/** The bytes of a `pull` op asking for `wants` (at most {@linkcode MAX_PULL_WANTS}). */
export function pullOp(roomName: string, wants: readonly Want[]): Uint8Array {
  return encodeFrame({
    type: "X",
    op: PULL_OP,
    body: {
      room: roomName,
      want: wants.slice(0, MAX_PULL_WANTS).map((w) => [w.originHid, w.msgId.toString()]),
    },
  });
}

/** Reads a `pull` op's body (at most {@linkcode MAX_PULL_WANTS} wants, none twice). */
export function parsePull(body: Record<string, unknown>): { room: string; wants: Want[] } {
  const { want } = body;
  if (!Array.isArray(want) || want.length === 0 || want.length > MAX_PULL_WANTS) {
    throw opError(`pull needs 1 to ${MAX_PULL_WANTS} wants`);
  }
  const seen = new Set<string>();
  const wants: Want[] = [];
  for (const entry of want) {
    if (!Array.isArray(entry) || entry.length !== 2) throw opError("pull want malformed");
    const originHid = decimalUint64(entry[0], "pull origin").toString();
    const msgId = decimalUint64(entry[1], "pull msgId");
    const key = `${originHid}/${msgId}`;
    if (seen.has(key)) throw opError("pull names a message twice");
    seen.add(key);
    wants.push({ originHid, msgId });
  }
  return { room: room(body.room, "pull"), wants };
}

/** The first frame of a finger link: my room and who I am. */
export function fingerHello(roomName: string, me: Member): Uint8Array {
  return encodeFrame({
    type: "X",
    op: FINGER_OP,
    body: { room: roomName, name: me.name, ip: me.ip, port: me.port },
  });
}

/** The accepting side's answer to a finger hello. */
export function fingerOk(roomName: string): Uint8Array {
  return encodeFrame({ type: "X", op: FINGER_OP, body: { room: roomName, ok: true } });
}

/** Reads a finger hello's body: the room and the member that dials. */
export function parseFingerHello(body: Record<string, unknown>): { room: string; from: Member } {
  return { room: room(body.room, "finger"), from: memberField(body, "finger") };
}
