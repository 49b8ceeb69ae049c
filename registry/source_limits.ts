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
 * - New connections: at most `connectsPerSecond` a second from one address,
 *   `connectBurst` at once (a token bucket per address, ../peer/rate_limit.ts).
 *   A client that opens and closes connections as fast as it can holds few
 *   of them open, so the count above never stops it; this rate does. The
 *   buckets are kept for at most `maxRatedSources` addresses, the least
 *   recently seen forgotten first: an attacker with more addresses than that
 *   can have a forgotten address start again with a full burst, which is
 *   what a new address of its own would give it anyway.
 *
 * Addresses of the `trusted` list are not limited (by default the loopback
 * addresses the tests, the cluster tool and the fault scenarios use).
 *
 * @module
 */

import { RateLimiter, type Verdict } from "../peer/rate_limit.ts";
import { type AddressList, normalAddress } from "./source_address.ts";

/** Addresses whose new-connection rate is remembered at once, by default. */
export const MAX_RATED_SOURCES = 16_384;

/** Options of {@linkcode SourceLimits}. */
export interface SourceLimitsOptions {
  /** Most connections open from one address. */
  maxConnectionsPerSource: number;
  /** Most members of one room from one address. */
  maxMembersPerSource: number;
  /** Most rooms one address may have members in and still create another. */
  maxRoomsPerSource: number;
  /** New connections from one address a second, sustained (`Infinity`: no limit). Default `Infinity`. */
  connectsPerSecond?: number;
  /** New connections from one address at once above that rate. Default 1. */
  connectBurst?: number;
  /** Addresses whose rate is remembered (least recently seen forgotten first). Default {@linkcode MAX_RATED_SOURCES}. */
  maxRatedSources?: number;
  /** Addresses none of these limits apply to. */
  trusted: AddressList;
  /** The clock of the connect rate, in ms (default `performance.now`). */
  now?: () => number;
}

const CONNECT_ALLOWED: Verdict = Object.freeze({
  allowed: true,
  first: false,
  ended: 0,
  skipped: 0,
});

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
 * const rated = new SourceLimits<string>({
 *   maxConnectionsPerSource: 64,
 *   maxMembersPerSource: 4,
 *   maxRoomsPerSource: 16,
 *   connectsPerSecond: 1,
 *   connectBurst: 2,
 *   trusted: new AddressList("127.0.0.1"),
 * });
 * assert.ok(rated.connect("10.0.0.1").allowed && rated.connect("10.0.0.1").allowed);
 * assert.ok(!rated.connect("10.0.0.1").allowed);
 * assert.ok(rated.connect("127.0.0.1").allowed);
 * ```
 */
export class SourceLimits<Member> {
  readonly #options: SourceLimitsOptions;
  readonly #sources = new Map<string, Source>();
  /** The source and room each counted member is counted under. */
  readonly #members = new Map<Member, { source: Source; address: string; room: string }>();
  /** Trust of each address seen (the list is matched once per address). */
  readonly #trusted = new Map<string, boolean>();
  /** New connections per address; null when their rate is not limited. */
  readonly #connects: RateLimiter | null;

  constructor(options: SourceLimitsOptions) {
    this.#options = options;
    const rate = options.connectsPerSecond ?? Infinity;
    this.#connects = rate === Infinity ? null : new RateLimiter({
      ratePerSecond: rate,
      burst: options.connectBurst ?? 1,
      maxKeys: options.maxRatedSources ?? MAX_RATED_SOURCES,
      now: options.now,
    });
  }

  /**
   * Takes one new connection from `address` out of its rate. Not allowed:
   * close it before reading anything. `first` marks the first refusal of a
   * burst of refusals and `ended` (on an allowed one) how many the burst
   * refused, so that a storm is logged twice, not once per connection.
   */
  connect(address: string): Verdict {
    if (this.#connects === null || this.trusts(address)) return CONNECT_ALLOWED;
    return this.#connects.take(normalAddress(address));
  }

  /** How many addresses' new-connection rates are remembered (at most `maxRatedSources`). */
  get ratedSourceCount(): number {
    return this.#connects?.keys ?? 0;
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
