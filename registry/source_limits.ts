/**
 * Limits per source address (issue 16: one host must not take every
 * connection, fill a room with fakes or create every room). Pure counting:
 * the registry asks before it accepts a connection or a JOIN, and reports
 * what it did.
 *
 * - Connections: at most `maxConnectionsPerSource` open from one address.
 * - Members: at most `maxMembersPerSource` members of one room whose owning
 *   connection comes from one address.
 * - Rooms: a JOIN that would create a room is refused when its address
 *   already has members in `maxRoomsPerSource` rooms (joining an existing
 *   room is not limited by this).
 *
 * Addresses of the `trusted` list are not limited (by default the loopback
 * addresses the tests, the cluster tool and the fault scenarios use).
 *
 * @module
 */

import { type AddressList, normalAddress } from "./source_address.ts";

/** Options of {@linkcode SourceLimits}. */
export interface SourceLimitsOptions {
  /** Most connections open from one address. */
  maxConnectionsPerSource: number;
  /** Most members of one room from one address. */
  maxMembersPerSource: number;
  /** Most rooms one address may have members in and still create another. */
  maxRoomsPerSource: number;
  /** Addresses none of these limits apply to. */
  trusted: AddressList;
}

/** Why a JOIN is refused by a per-source limit. */
export type SourceRefusal = "members-per-source" | "rooms-per-source";

/** One address's counts. */
class Source {
  connections = 0;
  /** Members of each room owned from this address. */
  readonly rooms = new Map<string, number>();
}

/**
 * The counts per source address. `Member` is whatever identifies a member
 * (the registry passes its member records).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AddressList } from "./source_address.ts";
 * import { SourceLimits } from "./source_limits.ts";
 * const limits = new SourceLimits<string>({
 *   maxConnectionsPerSource: 1,
 *   maxMembersPerSource: 1,
 *   maxRoomsPerSource: 1,
 *   trusted: new AddressList("127.0.0.1"),
 * });
 * assert.ok(limits.open("10.0.0.1"));
 * assert.ok(!limits.open("10.0.0.1"));
 * assert.ok(limits.open("127.0.0.1") && limits.open("127.0.0.1"));
 * limits.added("alice", "10.0.0.1", "room1");
 * assert.equal(limits.joinRefusal("10.0.0.1", "room1", true), "members-per-source");
 * assert.equal(limits.joinRefusal("10.0.0.1", "room2", false), "rooms-per-source");
 * assert.equal(limits.joinRefusal("10.0.0.1", "room2", true), null);
 * ```
 */
export class SourceLimits<Member> {
  readonly #options: SourceLimitsOptions;
  readonly #sources = new Map<string, Source>();
  /** The source and room each counted member is counted under. */
  readonly #members = new Map<Member, { source: Source; address: string; room: string }>();
  /** Trust of each address seen (the list is matched once per address). */
  readonly #trusted = new Map<string, boolean>();

  constructor(options: SourceLimitsOptions) {
    this.#options = options;
  }

  /** True when no per-source limit (and no ip check) applies to `address`. */
  trusts(address: string): boolean {
    let trusted = this.#trusted.get(address);
    if (trusted === undefined) {
      trusted = this.#options.trusted.has(address);
      if (this.#trusted.size > 10_000) this.#trusted.clear();
      this.#trusted.set(address, trusted);
    }
    return trusted;
  }

  /** Counts a connection from `address`; false (and not counted) when it is one too many. */
  open(address: string): boolean {
    if (this.trusts(address)) return true;
    const source = this.#source(normalAddress(address));
    if (source.connections >= this.#options.maxConnectionsPerSource) {
      this.#forgetIfIdle(normalAddress(address), source);
      return false;
    }
    source.connections++;
    return true;
  }

  /** Uncounts a connection that {@linkcode open} counted. */
  close(address: string): void {
    if (this.trusts(address)) return;
    const key = normalAddress(address);
    const source = this.#sources.get(key);
    if (source === undefined) return;
    source.connections--;
    this.#forgetIfIdle(key, source);
  }

  /**
   * Why a JOIN adding a member to `room` from `address` is refused, or null.
   * `roomExists`: false when the JOIN would create the room.
   */
  joinRefusal(address: string, room: string, roomExists: boolean): SourceRefusal | null {
    if (this.trusts(address)) return null;
    const source = this.#sources.get(normalAddress(address));
    if (source === undefined) return null;
    if (!roomExists) {
      return source.rooms.size >= this.#options.maxRoomsPerSource ? "rooms-per-source" : null;
    }
    return (source.rooms.get(room) ?? 0) >= this.#options.maxMembersPerSource
      ? "members-per-source"
      : null;
  }

  /** Counts `member` of `room` as owned from `address` (it was added, or taken over). */
  added(member: Member, address: string, room: string): void {
    this.removed(member);
    if (this.trusts(address)) return;
    const key = normalAddress(address);
    const source = this.#source(key);
    source.rooms.set(room, (source.rooms.get(room) ?? 0) + 1);
    this.#members.set(member, { source, address: key, room });
  }

  /** Uncounts `member` (it was removed); nothing when it was not counted. */
  removed(member: Member): void {
    const counted = this.#members.get(member);
    if (counted === undefined) return;
    this.#members.delete(member);
    const { source, address, room } = counted;
    const left = source.rooms.get(room)! - 1;
    if (left === 0) source.rooms.delete(room);
    else source.rooms.set(room, left);
    this.#forgetIfIdle(address, source);
  }

  /** How many addresses are counted (for tests: nothing is kept of an address with nothing). */
  get sourceCount(): number {
    return this.#sources.size;
  }

  #source(key: string): Source {
    let source = this.#sources.get(key);
    if (source === undefined) {
      source = new Source();
      this.#sources.set(key, source);
    }
    return source;
  }

  #forgetIfIdle(key: string, source: Source): void {
    if (source.connections === 0 && source.rooms.size === 0) this.#sources.delete(key);
  }
}
