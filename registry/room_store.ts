/**
 * Where the registry keeps rooms and members, behind one interface so that
 * the request handlers never know which store runs (issue 15): the in-memory
 * {@linkcode Rooms} of `registry/rooms.ts` (one process, the default), or
 * {@linkcode RedisRoomStore} (`registry/room_store_redis.ts`), which N
 * registries share so that any of them answers any peer exactly as one would.
 *
 * Every method returns a promise, because a shared store is across the
 * network. Every request is one atomic step in the store: the checks a JOIN
 * makes (one membership per connection, the limits, a name in use) and the
 * JOIN itself cannot be split by another registry's request or sweep.
 *
 * The rules are those of `registry/rooms.ts` (PROTOCOL.md §5): `G` lists
 * rooms newest first, `M` members newest join first, a member is its HashID
 * within a room, a renewing JOIN does not move it, every member has one owner
 * (the connection that last JOINed as it), an empty room is destroyed at once.
 *
 * `Owner` identifies a client connection. A shared store needs it to be a
 * string unique across registries (the Redis store takes
 * `"<registry id>/<connection number>"`); the in-memory store may keep the
 * connection object itself.
 *
 * @module
 */

import type { Member } from "../lib/frames.ts";
import type { JoinOutcome, JoinRefusal, MemberRecord, Removal } from "./rooms.ts";
import type { SourceRefusal } from "./source_limits.ts";

export type { JoinOutcome, JoinRefusal, MemberRecord, Removal };

/**
 * Why a JOIN was refused: a limit or a name in use ({@linkcode JoinRefusal}),
 * or the connection already owns a member in another room (`"other-room"`,
 * `F:JOIN message - Already joined another chatroom!!`) or another member of
 * this room (`"other-member"`), or (when the JOIN claims, see
 * `registry/ownership.ts`) another live connection holds the member (`"held"`).
 */
export type JoinDenial = JoinRefusal | SourceRefusal | "other-room" | "other-member" | "held";

/** What a JOIN got: the member and the room's encoded `M` reply, or a denial. */
export type JoinAnswer<Owner> =
  | { readonly outcome: JoinOutcome<Owner>; readonly reply: Uint8Array }
  | { readonly denied: JoinDenial };

/** What a keepalive got: the member it renewed and its room's encoded `M` reply. */
export interface RenewAnswer {
  /** The member, its `lastSeen` now the keepalive's time. */
  readonly member: MemberRecord;
  /** `M:MSID:…::\r\n`, newest join first; do not modify. */
  readonly reply: Uint8Array;
}

/**
 * A change of membership, as every registry sharing the store hears it
 * (within milliseconds): drop cached replies of `room`, and of the room list
 * when `roomsChanged`; push the room's new `M` to its members (the room-life
 * issue).
 */
export interface RoomChange {
  /** The room whose member list changed. */
  readonly room: string;
  /** True when the room was created or destroyed, so `G` changed too. */
  readonly roomsChanged: boolean;
}

/** How many rooms and members the store holds, all registries together. */
export interface RoomCounts {
  /** Rooms that exist. */
  readonly rooms: number;
  /** Members of all rooms together. */
  readonly members: number;
}

/** The registry's rooms, wherever they are kept; see the module doc. */
export interface RoomStore<Owner> {
  /**
   * JOINs `member` into `room` (creating it) or renews it, making `owner` its
   * owner (taking it over from a previous owner), unless a rule denies it.
   */
  join(room: string, member: Member, owner: Owner, now: number): Promise<JoinAnswer<Owner>>;
  /**
   * The keepalive (a JOIN repeating the owner's last accepted JOIN byte for
   * byte): renews the member `owner` owns and answers its room's `M`, or
   * null when `owner` owns none any more (expired, or taken over elsewhere):
   * then answer the frame as a full JOIN. At most one store round trip.
   */
  renew(owner: Owner, now: number): Promise<RenewAnswer | null>;
  /** Removes the member of `room` with `member`'s identity, if listed and owned by `owner`. */
  depart(room: string, member: Member, owner: Owner): Promise<Removal<Owner> | null | "not-owner">;
  /** Removes the member `owner` owns, if any (its connection closed). */
  release(owner: Owner): Promise<Removal<Owner> | null>;
  /**
   * Removes every member not heard from for more than `expiryMs` before
   * `now`. However many registries sweep at once, each member is removed
   * (and reported) by exactly one of them.
   */
  sweep(now: number, expiryMs: number): Promise<Removal<Owner>[]>;
  /** The member `owner` owns, if any. */
  memberOf(owner: Owner): Promise<MemberRecord | undefined>;
  /** The members of `room`, newest join first (empty when there is no such room). */
  members(room: string): Promise<MemberRecord[]>;
  /** The encoded `M` reply of `room`, or null when there is no such room; do not modify. */
  membersReply(room: string): Promise<Uint8Array | null>;
  /** The encoded `G` reply, newest room first; do not modify. */
  roomsReply(): Promise<Uint8Array>;
  /** How many rooms and members exist. */
  counts(): Promise<RoomCounts>;
  /** Calls `listener` on every change, whichever registry made it; returns its unsubscribe. */
  onChange(listener: (change: RoomChange) => void): () => void;
  /** Releases the store's connections; further calls fail. */
  close(): Promise<void>;
}
