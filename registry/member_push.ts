/**
 * Pushed membership and member information (`docs/extensions.md`:
 * `member-info`, and the pushed `M`): what a hello'd connection is sent after
 * every `M`, and the pushes of a room's fresh `M` to its hello'd members when
 * its membership changes.
 *
 * - **member-info** lists the members of a room whose connection said hello,
 *   with `key` for those that proved theirs; seed members are absent (they are
 *   in the `M`). Split into parts when one frame's JSON would pass
 *   `MAX_EXTENSION_JSON_BYTES`. Cached per room until its `M` changes or a
 *   member proves a key.
 * - **Pushes**: {@linkcode MemberPush.changed} after a join, depart, close or
 *   expiry. The first change after a quiet spell is pushed on the next turn of
 *   the event loop (so a sweep that removes many members pushes once); after
 *   a push the room waits {@linkcode PUSH_INTERVAL_MS} (longer for rooms whose
 *   pushes are large: at most {@linkcode PUSH_BYTES_PER_MS} bytes a ms over
 *   all its connections, and {@linkcode PUSH_MEMBERS_PER_MS} members), and
 *   what changed meanwhile goes in one push. A connection that takes deltas
 *   is written the change only (`delta_push.ts`). A push
 *   is a mark in each connection's {@linkcode Outbox}: its frames are made
 *   when written, so a slow reader gets the latest state, never a backlog.
 * - **Who left and why**: {@linkcode MemberPush.removed} notes each removal
 *   (DEPART, close, expiry, rename) and member-info carries the room's last
 *   {@linkcode LEFT_KEPT} of them, none older than {@linkcode LEFT_KEPT_MS},
 *   as `left`: state, not a stream, so a push that is skipped or merged with
 *   the next loses no reason.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { encodeFrame } from "../lib/frames.ts";
import { MAX_EXTENSION_JSON_BYTES } from "../lib/limits.ts";
import type { HelloSession } from "./hello.ts";
import type { Outbox } from "./outbox.ts";
import type { Rooms } from "./rooms.ts";

const logger = getLogger(["ringchat", "registry", "member_push"]);

/** Least time between two pushes of one room, in ms. */
export const PUSH_INTERVAL_MS = 20;
/** Bytes a room's pushes may write per ms, over all its connections, before they are spaced out more. */
export const PUSH_BYTES_PER_MS = 64 * 1024;

/**
 * Members a room's pushes may make its members take in per ms (a push of a
 * room of N members to its C connections counts N × C: each member's peer
 * takes in the whole list, or a delta and then the list it makes), before
 * they are spaced out more. The pushes of a room of 1,000 hello'd members
 * are so at least 977 ms apart (its whole lists were about as far apart by
 * their bytes), of a room of 200 39 ms, of 144 or fewer 20 ms
 * (`PUSH_INTERVAL_MS`).
 */
export const PUSH_MEMBERS_PER_MS = 1024;

/**
 * How long a room waits after a push (ms): at least `PUSH_INTERVAL_MS`, and
 * as long as its bytes take at `PUSH_BYTES_PER_MS` (`frames`, the whole
 * list, to `whole` connections: those that take no deltas) and its members
 * at `PUSH_MEMBERS_PER_MS` (`members` to each of `connections`).
 */
export function pushSpacingMs(
  frames: readonly Uint8Array[],
  members: number,
  connections: number,
  whole: number,
): number {
  const bytes = frames.reduce((sum, f) => sum + f.length, 0) * whole;
  return Math.max(
    PUSH_INTERVAL_MS,
    bytes / PUSH_BYTES_PER_MS,
    members * connections / PUSH_MEMBERS_PER_MS,
  );
}

/** Removals a member-info names at most (the newest). */
export const LEFT_KEPT = 32;
/** How long a removal stays in the member-info, in ms. */
export const LEFT_KEPT_MS = 10_000;

/**
 * Why a member left its room: a DEPART (`left`), its connection's close
 * (`lost`), the expiry sweep (`expired`), or a `rename` op (`renamed`).
 */
export type LeftReason = "left" | "lost" | "expired" | "renamed";

/** One removal as member-info's `left` lists it. */
export interface LeftEntry {
  name: string;
  ip: string;
  port: number;
  reason: LeftReason;
  /** For `renamed`: the member's new name. */
  to?: string;
}

/** One member as member-info lists it. */
export interface MemberInfoEntry {
  name: string;
  ip: string;
  port: number;
  ringchat: true;
  /** The member's proved key (base64url); absent when it proved none. */
  key?: string;
}

/** What the pushes need of the registry. */
export interface PushHost<C> {
  /** The rooms, to list members and their connections. */
  readonly rooms: Rooms<C>;
  /** The hello of connection `c`, or null when it said none. */
  session(c: C): HelloSession | null;
  /** The outbox of connection `c` (hello'd connections have one). */
  outbox(c: C): Outbox | null;
}

interface InfoCache {
  /** The `M` reply it was made for (cached bytes: the same object while the room is unchanged). */
  m: Uint8Array;
  version: number;
  frames: Uint8Array[];
  /** The removals it names. */
  left: number;
}

interface Removed {
  entry: LeftEntry;
  /** performance.now() of the removal. */
  at: number;
}

/** The pushes of every room; see the module doc. */
export class MemberPush<C> {
  readonly #host: PushHost<C>;
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  /** When each room may next be pushed (performance.now() ms). */
  readonly #next = new Map<string, number>();
  readonly #info = new Map<string, InfoCache>();
  /** Per room: bumped whenever a member's hello or proof changes what its member-info says. */
  readonly #versions = new Map<string, number>();
  /** Per room: its last removals, newest first. */
  readonly #left = new Map<string, Removed[]>();
  #closed = false;

  /** Pushes for `host`'s rooms. */
  constructor(host: PushHost<C>) {
    this.#host = host;
  }

  /** `room`'s membership changed: push it soon to its hello'd members. */
  changed(room: string): void {
    if (this.#closed || this.#timers.has(room)) return;
    const wait = Math.max(0, (this.#next.get(room) ?? 0) - performance.now());
    this.#timers.set(room, setTimeout(() => this.#flush(room), wait));
  }

  /** A member of `room` said hello or proved its key: its member-info changed. */
  infoChanged(room: string): void {
    this.#versions.set(room, (this.#versions.get(room) ?? 0) + 1);
    this.changed(room);
  }

  /**
   * A member of `room` was removed for `reason` (`to`: its new name, for a
   * rename); the room is pushed soon, its member-info naming the removal.
   */
  removed(
    room: string,
    member: { name: string; ip: string; port: number },
    reason: LeftReason,
    to?: string,
  ): void {
    const entry: LeftEntry = { name: member.name, ip: member.ip, port: member.port, reason };
    if (to !== undefined) entry.to = to;
    const log = this.#left.get(room) ?? [];
    log.unshift({ entry, at: performance.now() });
    if (log.length > LEFT_KEPT) log.length = LEFT_KEPT;
    this.#left.set(room, log);
    this.changed(room);
  }

  /** `room` was destroyed: forget what is kept for it. */
  forget(room: string): void {
    clearTimeout(this.#timers.get(room));
    this.#timers.delete(room);
    this.#next.delete(room);
    this.#info.delete(room);
    this.#versions.delete(room);
    this.#left.delete(room);
  }

  /**
   * `room`'s `M` and its member-info frames, as a hello'd connection of the
   * room is sent them; null when there is no such room.
   */
  frames(room: string): Uint8Array[] | null {
    const { rooms } = this.#host;
    if (rooms.msid(room) === null) return null;
    const m = rooms.membersReply(room);
    return [m, ...this.#memberInfo(room, m)];
  }

  /** Stops every pending push. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  #flush(room: string): void {
    this.#timers.delete(room);
    try {
      const frames = this.frames(room);
      if (frames === null) return this.forget(room);
      let members = 0, connections = 0, whole = 0;
      for (const owner of this.#host.rooms.owners(room)) {
        members++;
        const outbox = this.#host.outbox(owner);
        if (outbox === null) continue;
        outbox.push();
        connections++;
        if (this.#host.session(owner)?.membersDelta !== true) whole++;
      }
      this.#next.set(room, performance.now() + pushSpacingMs(frames, members, connections, whole));
    } catch (error) {
      logger.error("Pushing {room} failed: {error}", { room, error });
    }
  }

  #memberInfo(room: string, m: Uint8Array): Uint8Array[] {
    const cached = this.#info.get(room);
    const version = this.#versions.get(room) ?? 0;
    const left = this.#recentLeft(room);
    if (
      cached !== undefined && cached.m === m && cached.version === version &&
      cached.left === left.length
    ) {
      return cached.frames;
    }
    const entries: MemberInfoEntry[] = [];
    for (const [member, owner] of this.#host.rooms.holders(room)) {
      const session = this.#host.session(owner);
      if (session === null) continue;
      const entry: MemberInfoEntry = {
        name: member.name,
        ip: member.ip,
        port: member.port,
        ringchat: true,
      };
      const key = session.provedKey;
      if (key !== null) entry.key = key;
      entries.push(entry);
    }
    const msid = this.#host.rooms.msid(room)!.toString();
    const frames = memberInfoFrames(room, msid, entries, MAX_EXTENSION_JSON_BYTES, left);
    this.#info.set(room, { m, version, frames, left: left.length });
    return frames;
  }

  /** `room`'s removals of the last {@linkcode LEFT_KEPT_MS}, newest first (older ones dropped). */
  #recentLeft(room: string): LeftEntry[] {
    const log = this.#left.get(room);
    if (log === undefined) return [];
    const since = performance.now() - LEFT_KEPT_MS;
    while (log.length > 0 && log.at(-1)!.at < since) log.pop();
    if (log.length === 0) this.#left.delete(room);
    return log.map((removed) => removed.entry);
  }
}

/**
 * The member-info frames of `room` at `msid` listing `entries` in order: one
 * frame, or parts (`"part"` from 0, `"parts"`) when one would pass
 * `MAX_EXTENSION_JSON_BYTES`. The room's recent removals (`left`, newest
 * first) go in the first frame, when there are any.
 */
export function memberInfoFrames(
  room: string,
  msid: string,
  entries: readonly MemberInfoEntry[],
  maxJsonBytes = MAX_EXTENSION_JSON_BYTES,
  left: readonly LeftEntry[] = [],
): Uint8Array[] {
  const withLeft = left.length === 0 ? {} : { left };
  const head = escapedLength(
    JSON.stringify({ op: "member-info", room, msid, members: [], ...withLeft }),
  );
  // Room for `,"part":N,"parts":N` with numbers of up to 10 digits.
  const budget = maxJsonBytes - head - 40;
  const chunks: MemberInfoEntry[][] = [[]];
  let used = 0;
  for (const entry of entries) {
    const size = escapedLength(JSON.stringify(entry)) + 1;
    if (used + size > budget && chunks.at(-1)!.length > 0) {
      chunks.push([]);
      used = 0;
    }
    chunks.at(-1)!.push(entry);
    used += size;
  }
  return chunks.map((members, part) => {
    const body: Record<string, unknown> = { room, msid, members };
    if (part === 0) Object.assign(body, withLeft);
    if (chunks.length > 1) Object.assign(body, { part, parts: chunks.length });
    return encodeFrame({ type: "X", op: "member-info", body });
  });
}

/** The length of `json` once every non-ASCII UTF-16 unit is escaped as `\uXXXX`. */
function escapedLength(json: string): number {
  let extra = 0;
  for (let i = 0; i < json.length; i++) if (json.charCodeAt(i) > 0x7f) extra += 5;
  return json.length + extra;
}
