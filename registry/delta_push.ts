/**
 * Pushes as `members-delta` ops (`docs/extensions.md`) to the hello'd
 * connections that said they take them: what each such connection was last
 * written (a full `M` and member-info, or a delta), and the delta from it to
 * the room's current frames.
 *
 * Works on the frames the rest of the registry makes, whatever made them
 * (the embedded rooms, `member_push.ts`, or the shared store,
 * `store_shared.ts`): a list's state is read back from its `M` and
 * member-info once per list (cached by the frames' identity) and a delta
 * from one list to another is made once for every connection at that list.
 * A full push is written instead when the delta cannot be made (the lists do
 * not chain: a kept member moved, the member-info was not of that `M`, the
 * connection was never written a list) or would not be shorter than it.
 *
 * @module
 */

import { decodeFrame, type Member } from "../lib/frames.ts";
import {
  isEmptyDelta,
  type LeftNote,
  type ListState,
  membersDelta,
  membersDeltaFrames,
} from "../lib/members_delta.ts";
import { memberKey } from "../lib/ring.ts";

/** One list as written: its state (null: not usable for deltas) and the deltas made to it. */
interface Written {
  state: ListState | null;
  left: LeftNote[];
  room: string;
  bytes: number;
  /** From an older list: the delta's frames (null: a full push instead). */
  deltas: WeakMap<Written, Uint8Array[] | null>;
  /** The same, as keepalive replies (`"reply": true`). */
  replies: WeakMap<Written, Uint8Array[] | null>;
}

/** What was written to each delta-taking connection; see the module doc. */
export class DeltaPush<C extends object> {
  /** The last list written to each connection. */
  readonly #sent = new WeakMap<C, Written>();
  /** Lists by their first member-info frame (the `M` it follows is the frame before). */
  readonly #lists = new WeakMap<Uint8Array, Written>();
  /** Deltas made and full pushes written instead, for tests and benchmarks. */
  readonly counts = { deltas: 0, replies: 0, full: 0, built: 0 };

  /**
   * `frames` (an `M` and its member-info) were written to `c`: the next
   * delta is made from them.
   */
  written(c: C, frames: readonly Uint8Array[]): void {
    const list = this.#list(frames);
    if (list !== null) this.#sent.set(c, list);
  }

  /**
   * What a push writes to `c` now that its room's frames are `full`: a delta
   * from what `c` was last written (empty: nothing changed), or `full`.
   */
  push(c: C, full: readonly Uint8Array[]): readonly Uint8Array[] {
    const from = this.#sent.get(c);
    const to = this.#list(full);
    if (from === undefined || to === null) return this.#full(full);
    if (from === to) return [];
    let frames = to.deltas.get(from);
    if (frames === undefined) {
      frames = this.#delta(from, to);
      to.deltas.set(from, frames);
    }
    if (frames === null) return this.#full(full);
    this.#sent.set(c, to);
    this.counts.deltas++;
    return frames;
  }

  /**
   * The reply to a keepalive of `c` (its room's frames now `full`): the
   * delta from what `c` was last written, marked `"reply": true` (no
   * change: a delta with none), or `full` when there is no delta to make.
   */
  reply(c: C, full: readonly Uint8Array[]): readonly Uint8Array[] {
    const from = this.#sent.get(c);
    const to = this.#list(full);
    if (from === undefined || to === null || to.state === null) return this.#full(full);
    let frames = to.replies.get(from);
    if (frames === undefined) {
      frames = from === to
        ? membersDeltaFrames(
          {
            room: to.room,
            from: to.state.msid,
            msid: to.state.msid,
            added: [],
            removed: [],
            info: [],
          },
          undefined,
          true,
        )
        : this.#delta(from, to, true);
      to.replies.set(from, frames);
    }
    if (frames === null) return this.#full(full);
    this.#sent.set(c, to);
    this.counts.replies++;
    return frames;
  }

  /** `c` asked for the whole list (`members-full`): its next push is one. */
  forget(c: C): void {
    this.#sent.delete(c);
  }

  #full(full: readonly Uint8Array[]): readonly Uint8Array[] {
    this.counts.full++;
    return full;
  }

  #delta(from: Written, to: Written, reply = false): Uint8Array[] | null {
    if (from.state === null || to.state === null || from.room !== to.room) return null;
    const delta = membersDelta(to.room, from.state, to.state, to.left);
    if (delta === null) return null;
    // No change: nothing to push (a keepalive is answered with the empty delta).
    if (!reply && isEmptyDelta(delta)) return [];
    const frames = membersDeltaFrames(delta, undefined, reply);
    this.counts.built++;
    const bytes = frames.reduce((sum, f) => sum + f.length, 0);
    return bytes < to.bytes ? frames : null;
  }

  /** The list of `frames` (`M`, then member-info), read once; null when they are not such. */
  #list(frames: readonly Uint8Array[]): Written | null {
    const first = frames[1];
    if (frames[0]?.[0] !== 0x4d || first === undefined) return null;
    const known = this.#lists.get(first);
    if (known !== undefined) return known;
    const list = readList(frames);
    if (list !== null) this.#lists.set(first, list);
    return list;
  }
}

/** The state of an `M` and its member-info; null when they are not a room's list. */
function readList(frames: readonly Uint8Array[]): Written | null {
  let m;
  try {
    m = decodeFrame(frames[0]!);
  } catch {
    return null;
  }
  if (m.type !== "M") return null;
  const msid = m.msid.toString();
  const info = new Map<string, string | null>();
  let room: string | null = null;
  let left: LeftNote[] = [];
  let usable = true;
  for (const frame of frames.slice(1)) {
    let decoded;
    try {
      decoded = decodeFrame(frame);
    } catch {
      return null;
    }
    if (decoded.type !== "X") return null;
    // What follows the member-info (the answer to a members-full op) is not the list's.
    if (decoded.op !== "member-info") break;
    const body = decoded.body as {
      room: string;
      msid: string;
      members: (Member & { key?: string })[];
      left?: LeftNote[];
    };
    room ??= body.room;
    // Member-info of another list (read apart from its `M`): no delta from or to it.
    if (body.msid !== msid || body.room !== room) usable = false;
    for (const entry of body.members) info.set(memberKey(entry), entry.key ?? null);
    if (body.left !== undefined) left = body.left;
  }
  if (room === null) return null;
  const bytes = frames.reduce((sum, f) => sum + f.length, 0);
  const state: ListState | null = usable ? { msid, members: m.members, info } : null;
  return { state, left, room, bytes, deltas: new WeakMap(), replies: new WeakMap() };
}
