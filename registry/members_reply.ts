/**
 * A room's `M` reply, `M:MSID:seg1seg2…:\r\n` (newest member first, each
 * segment `name:ip:port:`), kept up to date per membership change without
 * re-encoding or re-hashing the whole list (issue 16: JOIN-and-close churn
 * in a room of 5,000 rebuilt it on every change and pinned the registry).
 *
 * - **MSID.** sdbm is polynomial: `h(a + b) = h(a)·65599^|b| + h(b)` (mod
 *   2^64). Each segment's hash and `65599^|segment|` are kept in the leaves
 *   of a segment tree in join order, each node holding the hash and power of
 *   its range (newer half first), so a JOIN or a removal updates
 *   O(log members) nodes and the root is the MSID.
 * - **Bytes.** Each change is recorded as an edit (a segment put in front, or
 *   the bytes at an offset cut out; the offset is the tree's byte count of
 *   the newer members). Edits are applied lazily, when a reply is asked for:
 *   they cut and splice views of the last reply's payload, then one copy
 *   makes the new reply (no encoding, whatever the edits); more than
 *   {@linkcode MAX_EDITS} pending (a sweep removing many) rebuild the reply
 *   from the members' encoded segments instead. Replies handed out are
 *   never modified: a write of an older reply in flight stays valid.
 *
 * @module
 */

import { sdbmHash } from "../lib/sdbm.ts";

const encoder = new TextEncoder();
const MASK = (1n << 64n) - 1n;
const MULTIPLIER = 65599n;
const TRAILER = encoder.encode(":\r\n");

/** Pending edits past which a reply is rebuilt from the segments instead. */
export const MAX_EDITS = 32;

/** `65599^n mod 2^64` of each segment length seen. */
const powers = new Map<number, bigint>();

function powerOf(length: number): bigint {
  let p = powers.get(length);
  if (p === undefined) {
    p = 1n;
    let base = MULTIPLIER;
    for (let e = length; e > 0; e >>= 1) {
      if (e & 1) p = (p * base) & MASK;
      base = (base * base) & MASK;
    }
    powers.set(length, p);
  }
  return p;
}

type Edit = { put: Uint8Array } | { cut: number; length: number };

/**
 * The `M` reply of one room. `Key` identifies a member (the room passes its
 * member records).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MembersReply } from "./members_reply.ts";
 * import { sdbmHash } from "../lib/sdbm.ts";
 * const reply = new MembersReply<string>();
 * reply.add("a", "alice:127.0.0.1:50001:");
 * reply.add("b", "bob:127.0.0.1:50002:");
 * assert.equal(reply.msid, sdbmHash("bob:127.0.0.1:50002:alice:127.0.0.1:50001:"));
 * reply.remove("b");
 * assert.equal(
 *   new TextDecoder().decode(reply.bytes()),
 *   "M:6873446321337136987:alice:127.0.0.1:50001::\r\n",
 * );
 * ```
 */
export class MembersReply<Key> {
  /** Leaves: `capacity`; node `i` covers `2i` (older) and `2i + 1` (newer). */
  #capacity = 0;
  #hash = new BigUint64Array(0);
  #power = new BigUint64Array(0);
  #bytes = new Float64Array(0);
  /** The key and encoded segment at each position (join order); undefined: a hole. */
  #keys: (Key | undefined)[] = [];
  #segments: (Uint8Array | undefined)[] = [];
  readonly #positions = new Map<Key, number>();
  /** The next free position. */
  #next = 0;
  /** The last reply built, and the edits since (null reply: build from the segments). */
  #reply: Uint8Array | null = null;
  #payloadStart = 0;
  #edits: Edit[] = [];

  /** How many members are listed. */
  get size(): number {
    return this.#positions.size;
  }

  /** The MSID: `sdbmHash` of the payload (the segments, newest first). */
  get msid(): bigint {
    return this.#capacity === 0 ? 0n : this.#hash[1]!;
  }

  /** Lists `key` as the newest member, with its segment `name:ip:port:`. */
  add(key: Key, segment: string): void {
    if (this.#positions.has(key)) throw new RangeError("The member is listed already");
    if (this.#next >= this.#capacity) this.#rebuild(this.size + 1);
    const bytes = encoder.encode(segment);
    const position = this.#next++;
    this.#keys[position] = key;
    this.#segments[position] = bytes;
    this.#positions.set(key, position);
    this.#setLeaf(position, sdbmHash(bytes), powerOf(bytes.length), bytes.length);
    this.#edit({ put: bytes });
  }

  /** Unlists `key`; nothing when it is not listed. */
  remove(key: Key): void {
    const position = this.#positions.get(key);
    if (position === undefined) return;
    const length = this.#segments[position]!.length;
    // The bytes of the newer members come first in the payload.
    let offset = 0;
    for (let i = this.#capacity + position; i > 1; i >>= 1) {
      if ((i & 1) === 0) offset += this.#bytes[i + 1]!;
    }
    this.#positions.delete(key);
    this.#keys[position] = undefined;
    this.#segments[position] = undefined;
    this.#setLeaf(position, 0n, 1n, 0);
    this.#edit({ cut: offset, length });
  }

  /** The encoded reply; do not modify it. */
  bytes(): Uint8Array {
    if (this.#reply !== null && this.#edits.length === 0) return this.#reply;
    const header = encoder.encode(`M:${this.msid}:`);
    const payloadLength = this.#capacity === 0 ? 0 : this.#bytes[1]!;
    const reply = new Uint8Array(header.length + payloadLength + TRAILER.length);
    reply.set(header);
    if (this.#reply === null) {
      let at = header.length;
      for (let p = this.#next - 1; p >= 0; p--) {
        const segment = this.#segments[p];
        if (segment === undefined) continue;
        reply.set(segment, at);
        at += segment.length;
      }
    } else {
      // The edits cut and splice views of the last payload; then one copy puts them together.
      let parts = [this.#reply.subarray(this.#payloadStart, this.#reply.length - TRAILER.length)];
      for (const edit of this.#edits) parts = applyEdit(parts, edit);
      let at = header.length;
      for (const part of parts) {
        reply.set(part, at);
        at += part.length;
      }
    }
    reply.set(TRAILER, reply.length - TRAILER.length);
    this.#reply = reply;
    this.#payloadStart = header.length;
    this.#edits = [];
    return reply;
  }

  #edit(edit: Edit): void {
    if (this.#reply === null) return;
    if (this.#edits.length >= MAX_EDITS) {
      this.#reply = null;
      this.#edits = [];
      return;
    }
    this.#edits.push(edit);
  }

  #setLeaf(position: number, hash: bigint, power: bigint, bytes: number): void {
    let i = this.#capacity + position;
    this.#hash[i] = hash;
    this.#power[i] = power;
    this.#bytes[i] = bytes;
    for (i >>= 1; i >= 1; i >>= 1) this.#combine(i);
  }

  /** Node `i` from its children: the newer (right) range's bytes come first. */
  #combine(i: number): void {
    const older = 2 * i, newer = older + 1;
    const olderPower = this.#power[older]!;
    this.#hash[i] = (this.#hash[newer]! * olderPower + this.#hash[older]!) & MASK;
    this.#power[i] = (this.#power[newer]! * olderPower) & MASK;
    this.#bytes[i] = this.#bytes[newer]! + this.#bytes[older]!;
  }

  /**
   * Lists each of `entries` (key and segment), oldest first, as newer than
   * every member listed: as many {@linkcode add}s, the tree combined once
   * (a peer checking a long list's MSID from deltas, `peer/membership.ts`).
   */
  addAll(entries: Iterable<readonly [Key, string]>): void {
    const fresh: Leaf<Key>[] = [];
    const keys = new Set<Key>();
    for (const [key, segment] of entries) {
      if (this.#positions.has(key) || keys.has(key)) {
        throw new RangeError("The member is listed already");
      }
      keys.add(key);
      const bytes = encoder.encode(segment);
      fresh.push({ key, segment: bytes, hash: sdbmHash(bytes), power: powerOf(bytes.length) });
    }
    if (fresh.length === 0) return;
    this.#layout([...this.#leaves(), ...fresh]);
    this.#reply = null;
    this.#edits = [];
  }

  /** The listed members' leaves, oldest first. */
  #leaves(): Leaf<Key>[] {
    const leaves: Leaf<Key>[] = [];
    for (let p = 0; p < this.#next; p++) {
      const key = this.#keys[p];
      if (key === undefined) continue;
      // A leaf's hash and power do not depend on where it is.
      const at = this.#capacity + p;
      leaves.push({
        key,
        segment: this.#segments[p]!,
        hash: this.#hash[at]!,
        power: this.#power[at]!,
      });
    }
    return leaves;
  }

  /** Re-lays the members out without holes, in room for at least `2 × members` positions. */
  #rebuild(members: number): void {
    this.#layout(this.#leaves(), members);
  }

  /** Lays `leaves` out from position 0, in room for `2 × max(members, leaves)` positions. */
  #layout(leaves: readonly Leaf<Key>[], members = leaves.length): void {
    let capacity = 16;
    while (capacity < 2 * Math.max(members, leaves.length)) capacity *= 2;
    this.#hash = new BigUint64Array(2 * capacity);
    this.#power = new BigUint64Array(2 * capacity).fill(1n);
    this.#bytes = new Float64Array(2 * capacity);
    this.#keys = [];
    this.#segments = [];
    leaves.forEach((leaf, at) => {
      this.#keys.push(leaf.key);
      this.#segments.push(leaf.segment);
      this.#positions.set(leaf.key, at);
      this.#hash[capacity + at] = leaf.hash;
      this.#power[capacity + at] = leaf.power;
      this.#bytes[capacity + at] = leaf.segment.length;
    });
    this.#capacity = capacity;
    this.#next = leaves.length;
    for (let i = capacity - 1; i >= 1; i--) this.#combine(i);
  }
}

/** One listed member: its key, encoded segment, and the segment's hash and `65599^length`. */
interface Leaf<Key> {
  key: Key;
  segment: Uint8Array;
  hash: bigint;
  power: bigint;
}

/** The views of a payload, `parts`, with `edit` applied (views are cut, no bytes copied). */
function applyEdit(parts: Uint8Array[], edit: Edit): Uint8Array[] {
  if ("put" in edit) return [edit.put, ...parts];
  const end = edit.cut + edit.length;
  const kept: Uint8Array[] = [];
  let at = 0;
  for (const part of parts) {
    const from = at, to = at + part.length;
    at = to;
    if (to <= edit.cut || from >= end) {
      kept.push(part);
      continue;
    }
    if (from < edit.cut) kept.push(part.subarray(0, edit.cut - from));
    if (to > end) kept.push(part.subarray(end - from));
  }
  return kept;
}
