/**
 * Rooms and their members, as the registry keeps them (PROTOCOL.md §5). Pure:
 * no sockets, no timers, time comes in as a number of milliseconds.
 *
 * - Rooms are kept in creation order; the `G` reply lists them newest first.
 * - Members are kept in join order; the `M` reply lists them newest first.
 * - A member's identity within a room is its HashID (`sdbmHash(name + ip +
 *   port)`), as in the reference server: a JOIN of a listed identity renews
 *   its timestamp and does not move it.
 * - Every member has one owner (the registry's connection that last JOINed
 *   as it); an owner owns at most one member. A second owner JOINing as a
 *   listed member takes it over, so the first owner leaving removes nothing.
 *   (The registry lets that happen only for a connection that proved the
 *   holder's key: registry/ownership.ts.)
 * - An empty room is destroyed at once.
 * - Names: a JOIN of a name that another member of the room holds (at
 *   another ip or port, so another HashID) is refused, unless
 *   `allowDuplicateNames` restores the reference's behaviour of listing both.
 * - Limits: at most `maxRooms` rooms and `maxMembersPerRoom` members in a
 *   room. A JOIN that would create a room or add a member over them is
 *   refused ({@linkcode Rooms.refusal}); renewing a listed member never is.
 * - The encoded `M` reply of each room is kept up to date per membership
 *   change at O(log members) hashing and a copy of its bytes
 *   (./members_reply.ts), and the encoded `G` reply is cached until a room
 *   is created or destroyed, so a keepalive costs a map lookup and a
 *   timestamp store whatever the room's size.
 *
 * @module
 */

import type { Member } from "../lib/frames.ts";
import { hashId } from "../lib/sdbm.ts";
import { MembersReply } from "./members_reply.ts";

const encoder = new TextEncoder();

/** A member as the registry holds it. */
export interface MemberRecord extends Member {
  /** The room the member is in. */
  readonly room: string;
  /** `sdbmHash(name + ip + port)`, the member's identity within its room. */
  readonly hashId: bigint;
  /** When the member was last heard from, in milliseconds. */
  readonly lastSeen: number;
}

/** What a {@linkcode Rooms.join} did. */
export interface JoinOutcome<Owner> {
  /** The member, new or renewed. */
  member: MemberRecord;
  /** True when the member was not listed before. */
  added: boolean;
  /** True when the room was created for this member. */
  roomCreated: boolean;
  /** The member's previous owner when this JOIN took it over from another owner. */
  takenFrom: Owner | null;
}

/**
 * Why a JOIN is refused: it would create a room past `maxRooms`, add a member
 * past `maxMembersPerRoom`, or add a second member of one name (unless
 * `allowDuplicateNames`).
 */
export type JoinRefusal = "too-many-rooms" | "room-full" | "name-in-use";

/** Options of {@linkcode Rooms}. */
export interface RoomsOptions {
  /** Most rooms at once. Default `Infinity`. */
  maxRooms?: number;
  /** Most members in one room. Default `Infinity`. */
  maxMembersPerRoom?: number;
  /**
   * List a member whose name another member of the room holds at another ip
   * or port, as the reference server does. Default false: such a JOIN is
   * refused (`"name-in-use"`).
   */
  allowDuplicateNames?: boolean;
}

/** A member removed by {@linkcode Rooms.sweep}, {@linkcode Rooms.depart} or {@linkcode Rooms.release}. */
export interface Removal<Owner> {
  /** The member that was removed. */
  member: MemberRecord;
  /** Its owner at the time, if it had one. */
  owner: Owner | null;
  /** True when its room became empty and was destroyed. */
  roomDestroyed: boolean;
}

class Entry implements MemberRecord {
  readonly room: string;
  readonly name: string;
  readonly ip: string;
  readonly port: number;
  readonly hashId: bigint;
  /** `name:ip:port:`, this member's part of the `M` payload. */
  readonly segment: string;
  /** Its room's `M` reply, so a keepalive needs no lookup of the room by name. */
  readonly reply: MembersReply<Entry>;
  lastSeen: number;

  constructor(room: string, reply: MembersReply<Entry>, member: Member, id: bigint, now: number) {
    this.room = room;
    this.reply = reply;
    this.name = member.name;
    this.ip = member.ip;
    this.port = member.port;
    this.hashId = id;
    this.segment = `${member.name}:${member.ip}:${member.port}:`;
    this.lastSeen = now;
  }
}

class Room<Owner> {
  readonly name: string;
  /** Members by HashID, in join order (a `Map` keeps insertion order). */
  readonly members = new Map<bigint, Entry>();
  /** The owner of each member. */
  readonly owners = new Map<Entry, Owner>();
  /** How many members hold each name (more than one only with `allowDuplicateNames`). */
  readonly names = new Map<string, number>();
  /** The `M` reply, updated per membership change (./members_reply.ts). */
  readonly reply = new MembersReply<Entry>();

  constructor(name: string) {
    this.name = name;
  }
}

/**
 * The registry's rooms. `Owner` is whatever identifies a client connection;
 * the registry passes its connection objects.
 *
 * @example
 * ```ts
 * import { Rooms } from "./rooms.ts";
 * const rooms = new Rooms<string>();
 * rooms.join("room1", { name: "alice", ip: "127.0.0.1", port: 50001 }, "conn-a", Date.now());
 * new TextDecoder().decode(rooms.membersReply("room1"));
 * // "M:6873446321337136987:alice:127.0.0.1:50001::\r\n"
 * ```
 */
export class Rooms<Owner> {
  readonly #maxRooms: number;
  readonly #maxMembersPerRoom: number;
  readonly #allowDuplicateNames: boolean;
  /** Rooms by name, in creation order. */
  readonly #rooms = new Map<string, Room<Owner>>();
  /** The member each owner owns. */
  readonly #owned = new Map<Owner, Entry>();
  #roomsReply: Uint8Array | null = null;
  #memberCount = 0;

  /**
   * Creates an empty set of rooms with the given limits.
   *
   * @throws {RangeError} when a limit is below 1
   */
  constructor(options: RoomsOptions = {}) {
    this.#maxRooms = options.maxRooms ?? Infinity;
    this.#maxMembersPerRoom = options.maxMembersPerRoom ?? Infinity;
    this.#allowDuplicateNames = options.allowDuplicateNames ?? false;
    if (!(this.#maxRooms >= 1)) {
      throw new RangeError(`maxRooms must be at least 1, got ${this.#maxRooms}`);
    }
    if (!(this.#maxMembersPerRoom >= 1)) {
      throw new RangeError(`maxMembersPerRoom must be at least 1, got ${this.#maxMembersPerRoom}`);
    }
  }

  /** How many rooms exist. */
  get roomCount(): number {
    return this.#rooms.size;
  }

  /** How many members all rooms hold together. */
  get memberCount(): number {
    return this.#memberCount;
  }

  /** True when `room` exists. */
  hasRoom(room: string): boolean {
    return this.#rooms.has(room);
  }

  /** The member of `room` with `member`'s identity (name, ip, port), if listed. */
  lookup(room: string, member: Member): MemberRecord | undefined {
    return this.#rooms.get(room)?.members.get(hashId(member.name, member.ip, member.port));
  }

  /** The member `owner` owns, if any. */
  memberOf(owner: Owner): MemberRecord | undefined {
    return this.#owned.get(owner);
  }

  /**
   * Why a JOIN of `member` into `room` would be refused, or null when it
   * would be accepted. Renewing a listed member is never refused.
   */
  refusal(room: string, member: Member): JoinRefusal | null {
    const r = this.#rooms.get(room);
    if (r === undefined) return this.#rooms.size >= this.#maxRooms ? "too-many-rooms" : null;
    const holders = r.names.get(member.name) ?? 0;
    if (holders === 0 && r.members.size < this.#maxMembersPerRoom) return null;
    const listed = r.members.get(hashId(member.name, member.ip, member.port));
    if (listed !== undefined) return null;
    if (holders > 0 && !this.#allowDuplicateNames) return "name-in-use";
    return r.members.size < this.#maxMembersPerRoom ? null : "room-full";
  }

  /**
   * Adds `member` to `room` (creating the room) or renews it, and makes
   * `owner` its owner, taking it over from a previous owner.
   *
   * @throws {RangeError} when `owner` already owns another member (one
   * membership per owner: check {@linkcode memberOf} first), or when a limit
   * refuses the JOIN (check {@linkcode refusal} first)
   */
  join(room: string, member: Member, owner: Owner, now: number): JoinOutcome<Owner> {
    const id = hashId(member.name, member.ip, member.port);
    const mine = this.#owned.get(owner);
    if (mine !== undefined && (mine.room !== room || mine.hashId !== id)) {
      throw new RangeError(`Owner already owns ${mine.segment} in ${JSON.stringify(mine.room)}`);
    }
    const refused = this.refusal(room, member);
    if (refused !== null) {
      throw new RangeError(`JOIN of ${id} into ${JSON.stringify(room)} refused: ${refused}`);
    }
    let r = this.#rooms.get(room);
    let roomCreated = false;
    if (r === undefined) {
      r = new Room<Owner>(room);
      this.#rooms.set(room, r);
      this.#roomsReply = null;
      roomCreated = true;
    }
    let entry = r.members.get(id);
    let added = false;
    let takenFrom: Owner | null = null;
    if (entry === undefined) {
      entry = new Entry(room, r.reply, member, id, now);
      r.members.set(id, entry);
      r.names.set(entry.name, (r.names.get(entry.name) ?? 0) + 1);
      r.reply.add(entry, entry.segment);
      this.#memberCount++;
      added = true;
    } else {
      entry.lastSeen = now;
      const previous = r.owners.get(entry);
      if (previous !== undefined && previous !== owner) {
        takenFrom = previous;
        this.#owned.delete(previous);
      }
    }
    if (mine !== entry) {
      this.#owned.set(owner, entry);
      r.owners.set(entry, owner);
    }
    return { member: entry, added, roomCreated, takenFrom };
  }

  /**
   * Renews the member `owner` owns (a keepalive that repeats its JOIN) and
   * returns it, or returns undefined when `owner` owns none.
   */
  renew(owner: Owner, now: number): MemberRecord | undefined {
    const entry = this.#owned.get(owner);
    if (entry !== undefined) entry.lastSeen = now;
    return entry;
  }

  /**
   * Renews the member `owner` owns, as {@linkcode renew}, and returns its
   * room's encoded `M` reply (as {@linkcode membersReply}), or null when
   * `owner` owns none: a keepalive's whole work, with one map lookup.
   */
  renewReply(owner: Owner, now: number): Uint8Array | null {
    const entry = this.#owned.get(owner);
    if (entry === undefined) return null;
    entry.lastSeen = now;
    return entry.reply.bytes();
  }

  /** Removes the member of `room` with `member`'s identity, if listed. */
  depart(room: string, member: Member, owner: Owner): Removal<Owner> | null | "not-owner" {
    const r = this.#rooms.get(room);
    if (r === undefined) return null;
    const entry = r.members.get(hashId(member.name, member.ip, member.port));
    if (entry === undefined) return null;
    // Only the connection that owns a membership may end it.
    if (r.owners.get(entry) !== owner) return "not-owner";
    return this.#remove(r, entry);
  }

  /** Removes the member `owner` owns, if any (its connection closed). */
  release(owner: Owner): Removal<Owner> | null {
    const entry = this.#owned.get(owner);
    if (entry === undefined) return null;
    const r = this.#rooms.get(entry.room);
    if (r === undefined) {
      this.#owned.delete(owner);
      return null;
    }
    return this.#remove(r, entry);
  }

  /** Removes every member not heard from for more than `expiryMs` before `now`. */
  sweep(now: number, expiryMs: number): Removal<Owner>[] {
    const removed: Removal<Owner>[] = [];
    for (const r of [...this.#rooms.values()]) {
      for (const entry of [...r.members.values()]) {
        if (now - entry.lastSeen > expiryMs) removed.push(this.#remove(r, entry));
      }
    }
    return removed;
  }

  /** The members of `room`, newest join first (empty when there is no such room). */
  members(room: string): MemberRecord[] {
    const r = this.#rooms.get(room);
    return r === undefined ? [] : [...r.members.values()].reverse();
  }

  /** The connection holding each member of `room`, newest join first. */
  holders(room: string): [MemberRecord, Owner][] {
    const r = this.#rooms.get(room);
    if (r === undefined) return [];
    const out: [MemberRecord, Owner][] = [];
    for (const entry of r.members.values()) {
      const owner = r.owners.get(entry);
      if (owner !== undefined) out.push([entry, owner]);
    }
    return out.reverse();
  }

  /** The owners of `room`'s members (in join order). */
  owners(room: string): IterableIterator<Owner> {
    const r = this.#rooms.get(room);
    return (r === undefined ? new Map<Entry, Owner>() : r.owners).values();
  }

  /** The owner of the member of `room` with `member`'s identity, if it is listed. */
  ownerOf(room: string, member: Member): Owner | undefined {
    const r = this.#rooms.get(room);
    const entry = r?.members.get(hashId(member.name, member.ip, member.port));
    return entry === undefined ? undefined : r!.owners.get(entry);
  }

  /** The room names, newest first. */
  roomNames(): string[] {
    return [...this.#rooms.keys()].reverse();
  }

  /**
   * The encoded `M` reply for `room`:
   * `M:MSID:nameA:ipA:portA:…::\r\n`, newest member first. Cached until the
   * room's membership changes; do not modify the returned bytes.
   *
   * @throws {RangeError} when there is no such room
   */
  membersReply(room: string): Uint8Array {
    const r = this.#rooms.get(room);
    if (r === undefined) throw new RangeError(`No room ${JSON.stringify(room)}`);
    return r.reply.bytes();
  }

  /** The MSID of `room`'s member list, or null when there is no such room. */
  msid(room: string): bigint | null {
    const r = this.#rooms.get(room);
    if (r === undefined) return null;
    return r.reply.msid;
  }

  /**
   * The encoded `G` reply: `G:room1:room2::\r\n`, newest room first, or
   * `G::\r\n`. Cached until a room is created or destroyed; do not modify the
   * returned bytes.
   */
  roomsReply(): Uint8Array {
    if (this.#roomsReply === null) {
      const names = this.roomNames();
      this.#roomsReply = encoder.encode(
        names.length === 0 ? "G::\r\n" : `G:${names.join(":")}::\r\n`,
      );
    }
    return this.#roomsReply;
  }

  #remove(r: Room<Owner>, entry: Entry): Removal<Owner> {
    const owner = r.owners.get(entry) ?? null;
    r.owners.delete(entry);
    if (owner !== null && this.#owned.get(owner) === entry) this.#owned.delete(owner);
    r.members.delete(entry.hashId);
    const holders = r.names.get(entry.name)! - 1;
    if (holders === 0) r.names.delete(entry.name);
    else r.names.set(entry.name, holders);
    r.reply.remove(entry);
    this.#memberCount--;
    let roomDestroyed = false;
    if (r.members.size === 0) {
      this.#rooms.delete(r.name);
      this.#roomsReply = null;
      roomDestroyed = true;
    }
    return { member: entry, owner, roomDestroyed };
  }
}
