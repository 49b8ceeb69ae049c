/**
 * Exactly-once delivery for the flooded `T` frames of PROTOCOL.md §6, in a
 * form one hostile link cannot poison (issue 16).
 *
 * The seed remembers only the last msgID per origin, which drops a message that
 * overtook an older one on another path and everything from a peer restarted
 * under the same HashID. {@linkcode SeenWindow} instead remembers, per member,
 * the messages seen lately, each as a keyed 53-bit digest of its msgID, origin
 * name and content bytes: a message is new unless its digest is remembered.
 * So an overtaking message is delivered, a restarted peer whose msgIDs start
 * again at 1 (or reuse an id with other text) is delivered, and a true
 * duplicate (same bytes, another path) is dropped.
 *
 * What makes it hold against a hostile link:
 * - **Members only.** State exists only for the origins the caller declares
 *   members ({@linkcode SeenWindow.setMembers}); a `T` from any other origin
 *   is answered `"stranger"` and stores nothing. Rotating forged origins cost
 *   no memory and evict nothing.
 * - **Per member, bounded.** Each member's window holds at most `perMember`
 *   entries for at most `ttlMs`; a flood under one member's origin only ever
 *   evicts that member's own entries.
 * - **No floor.** Nothing is ever dropped because of a msgID seen before: a
 *   forged msgID 2^64−1 silences nobody, and a member restarted with lower
 *   msgIDs is heard at once.
 * - **Provisional origins, only when the members cannot be checked.** While
 *   the registry is unreachable, a member that joined after my last member
 *   list cannot be looked up; the caller may then admit its origin
 *   provisionally ({@linkcode SeenWindow.provisional}): at most
 *   `maxProvisional` such origins, each with the normal bounded window, and
 *   a full set takes a new one only once its oldest is `minAgeMs` old (the
 *   oldest then goes), so rotating forged origins die out as copies do. The
 *   next member list makes them members, or departed members if it does not
 *   list them (a registry just back lists members as they re-register).
 * - **Minimum residency.** An entry is never pushed out by the count bound
 *   before it is `minAgeMs` old: a window that is full of younger entries
 *   answers `"full"` and the caller drops the message (neither shown nor
 *   forwarded). So every copy that comes back to a peer within `minAgeMs` of
 *   its admission there is dropped, whatever was injected meanwhile: a storm
 *   dies out as long as no copy takes longer than `minAgeMs` to travel the
 *   ring (docs/security.md, "Why a storm dies out").
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { SeenWindow } from "./flood.ts";
 * const seen = new SeenWindow();
 * seen.setMembers(["1419600254385803609", "alice"]); // HashIDs and names
 * const hi = new TextEncoder().encode("hi");
 * equal(seen.check("1419600254385803609", "alice", 1n, hi), "new"); // then rate-limit, then:
 * equal(seen.admit("1419600254385803609", "alice", 1n, hi), "new");
 * equal(seen.admit("1419600254385803609", "alice", 1n, hi), "seen");
 * equal(seen.admit("666", "mallory", 1n, hi), "stranger");
 * ```
 *
 * {@linkcode MsgCounter} is my own msgID counter, seeded from the clock so it
 * never goes back across restarts: peers that still use the seed's
 * last-msgID rule keep delivering my messages after I restart.
 *
 * @module
 */

import { parseTextHeader } from "../lib/frames.ts";

/** Options of a {@linkcode SeenWindow}. */
export interface SeenWindowOptions {
  /**
   * Messages remembered per member origin. To never refuse a member that
   * keeps within a per-origin rate limit, at least `burst + rate × minAgeMs`.
   * @default {2048}
   */
  perMember?: number;
  /**
   * How long a message is remembered, in ms. A replay older than this is
   * admitted again, and so is a copy delayed longer than this.
   * @default {120000}
   */
  ttlMs?: number;
  /**
   * Least time an entry stays before the count bound may push it out, in ms.
   * It must exceed the longest time a copy can take to come back around the
   * ring; a window full of younger entries refuses new messages (`"full"`).
   * At most `ttlMs`.
   * @default {5000}
   */
  minAgeMs?: number;
  /**
   * How long an origin stays a member (admitted, its state kept) after it
   * left the member list, in ms: its last messages still circulate, and a
   * registry that restarts lists members again only as they re-register.
   * @default {20000}
   */
  departedMs?: number;
  /**
   * Departed members whose state is kept at most; the earliest departed is
   * forgotten first.
   * @default {4096}
   */
  maxDeparted?: number;
  /**
   * Origins admitted provisionally at most (see
   * {@linkcode SeenWindow.provisional}).
   * @default {64}
   */
  maxProvisional?: number;
  /**
   * The clock, in ms; monotonic, so that a step of the wall clock cannot pin
   * entries (default `performance.now`).
   */
  now?: () => number;
}

/**
 * What {@linkcode SeenWindow.admit} decided:
 * - `"new"`: first time seen: show it and forward it;
 * - `"seen"`: a copy of a remembered message: drop it;
 * - `"stranger"`: its origin is not a member (nor departed less than
 *   `departedMs` ago): drop it (nothing stored);
 * - `"full"`: the member's window is full of entries younger than
 *   `minAgeMs` (a flood under its origin): drop it (nothing stored).
 */
export type Admission = "new" | "seen" | "stranger" | "full";

/** One member origin's messages: digest (see `digestOf`) → when seen, oldest first. */
interface Window {
  seen: Map<number, number>;
  highest: bigint;
}

const U64 = (1n << 64n) - 1n;
const U32 = 0xffffffffn;

/** One round of MurmurHash3 (x86, 32-bit): mixes the word `k` into `h`. */
function round(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3's finalizer. */
function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The identity of a message within a member's window, as a 53-bit number:
 * two MurmurHash3 lanes seeded from a secret of this window over the msgID,
 * the origin name and the content bytes (with their lengths). A number, not
 * a `bigint`, because V8 hashes a map's `bigint` keys by their low digit
 * only, so keys that differ above 2^64 all collide; and keyed, so that
 * nobody without the secret can craft two messages with one identity, or
 * keys that crowd one bucket of the map.
 */
function digestOf(
  seeds: Uint32Array,
  msgId: bigint,
  originName: string,
  content: Uint8Array,
): number {
  let a = seeds[0]! | 0, b = seeds[1]! | 0;
  const lo = Number(msgId & U32) | 0, hi = Number(msgId >> 32n) | 0;
  a = round(round(a, lo), hi);
  b = round(round(b, hi), lo);
  for (let i = 0; i < originName.length; i++) {
    const c = originName.charCodeAt(i);
    a = round(a, c);
    b = round(b, c ^ 0x5bd1e995);
  }
  a = round(a, originName.length);
  b = round(b, ~originName.length);
  const whole = content.length & ~3;
  for (let i = 0; i < whole; i += 4) {
    const k = content[i]! | (content[i + 1]! << 8) | (content[i + 2]! << 16) |
      (content[i + 3]! << 24);
    a = round(a, k);
    b = round(b, k ^ 0x27d4eb2f);
  }
  let tail = 0;
  for (let i = whole; i < content.length; i++) tail = (tail << 8) | content[i]!;
  a = round(round(a, tail), content.length);
  b = round(round(b, tail ^ 0x165667b1), ~content.length);
  return finish(a) * 2 ** 21 + (finish(b) >>> 11);
}

/** Bounded, time-limited, per-member windows of seen messages; see the module doc. */
export class SeenWindow {
  readonly #perMember: number;
  readonly #ttlMs: number;
  readonly #minAgeMs: number;
  readonly #departedMs: number;
  readonly #maxDeparted: number;
  readonly #maxProvisional: number;
  readonly #now: () => number;
  #members = new Set<string>();
  /** Members that left the list, and since when (ms), earliest first. */
  readonly #departed = new Map<string, number>();
  /** Origins admitted provisionally, and since when (ms), earliest first. */
  readonly #provisional = new Map<string, number>();
  readonly #windows = new Map<string, Window>();
  /** The msgID of each member's last handshake. */
  readonly #handshakes = new Map<string, bigint>();
  /** The secret of {@linkcode digestOf}. */
  readonly #seeds = crypto.getRandomValues(new Uint32Array(2));
  #entries = 0;

  /**
   * Creates an empty window with no members.
   *
   * @throws {RangeError} when a bound is not positive or `minAgeMs` exceeds `ttlMs`
   */
  constructor(options: SeenWindowOptions = {}) {
    this.#perMember = options.perMember ?? 2048;
    this.#ttlMs = options.ttlMs ?? 120_000;
    this.#minAgeMs = options.minAgeMs ?? 5_000;
    this.#departedMs = options.departedMs ?? 20_000;
    this.#maxDeparted = options.maxDeparted ?? 4096;
    this.#maxProvisional = options.maxProvisional ?? 64;
    this.#now = options.now ?? (() => performance.now());
    if (!Number.isInteger(this.#perMember) || this.#perMember < 1) {
      throw new RangeError(`perMember must be an integer of at least 1, got ${this.#perMember}`);
    }
    if (!(this.#ttlMs > 0)) throw new RangeError(`ttlMs must be positive, got ${this.#ttlMs}`);
    if (!(this.#minAgeMs >= 0 && this.#minAgeMs <= this.#ttlMs)) {
      throw new RangeError(`minAgeMs must be between 0 and ttlMs, got ${this.#minAgeMs}`);
    }
    if (!(this.#departedMs >= 0)) {
      throw new RangeError(`departedMs must not be negative, got ${this.#departedMs}`);
    }
    if (!Number.isInteger(this.#maxDeparted) || this.#maxDeparted < 0) {
      throw new RangeError(`maxDeparted must be a non-negative integer, got ${this.#maxDeparted}`);
    }
    if (!Number.isInteger(this.#maxProvisional) || this.#maxProvisional < 0) {
      throw new RangeError(
        `maxProvisional must be a non-negative integer, got ${this.#maxProvisional}`,
      );
    }
  }

  /** Origins admitted provisionally now (at most `maxProvisional`). */
  get provisionals(): number {
    return this.#provisional.size;
  }

  /** Member origins that have a window now (members and departed ones kept). */
  get origins(): number {
    return this.#windows.size;
  }

  /** Messages remembered now, over all origins: at most (members + departed + provisional) × `perMember`. */
  get entries(): number {
    return this.#entries;
  }

  /**
   * Declares the member origins: the keys a `T`'s originHID may take to be
   * admitted (our peers put the decimal HashID there, some clients the name;
   * pass both). A member missing from `keys` stays a member for `departedMs`
   * more (at most `maxDeparted` of them, the earliest departed dropped
   * first): its last messages still circulate, and a registry that just
   * restarted lists members again only as they re-register. Then it is
   * forgotten. Provisional origins become members if listed, else departed
   * members (kept for `departedMs` like any member that left the list). Also
   * drops expired entries everywhere.
   */
  setMembers(keys: Iterable<string>): void {
    const now = this.#now();
    const next = new Set(keys);
    this.#endProvisional(next, now);
    for (const key of this.#members) {
      if (!next.has(key) && !this.#departed.has(key)) this.#departed.set(key, now);
    }
    for (const key of next) this.#departed.delete(key);
    this.#members = next;
    this.#expireDeparted(now);
  }

  /**
   * The member origins changed by `added` and `removed` keys: as
   * {@linkcode setMembers} with the last keys so changed, in the time of the
   * change, not of the whole list.
   */
  changeMembers(added: Iterable<string>, removed: Iterable<string>): void {
    const now = this.#now();
    for (const key of removed) {
      if (this.#members.delete(key) && !this.#departed.has(key)) this.#departed.set(key, now);
    }
    for (const key of added) {
      this.#members.add(key);
      this.#departed.delete(key);
    }
    this.#endProvisional(this.#members, now);
    this.#expireDeparted(now);
  }

  /** Provisional origins end: the members among them are `members`, the others departed. */
  #endProvisional(members: ReadonlySet<string>, now: number): void {
    for (const key of this.#provisional.keys()) {
      if (!members.has(key) && !this.#departed.has(key)) this.#departed.set(key, now);
    }
    this.#provisional.clear();
  }

  /** Forgets the origins departed for `departedMs` (or past `maxDeparted`), and old entries. */
  #expireDeparted(now: number): void {
    for (const [key, since] of this.#departed) {
      if (now - since < this.#departedMs && this.#departed.size <= this.#maxDeparted) break;
      this.#departed.delete(key);
      this.forget(key);
      this.#handshakes.delete(key);
    }
    for (const [key, window] of this.#windows) {
      this.#expire(window, now);
      if (window.seen.size === 0) this.#windows.delete(key);
    }
  }

  /**
   * True when `originHid` is a declared member, departed less than
   * `departedMs` ago, or admitted provisionally.
   */
  isMember(originHid: string): boolean {
    if (this.#members.has(originHid) || this.#provisional.has(originHid)) return true;
    const since = this.#departed.get(originHid);
    return since !== undefined && this.#now() - since < this.#departedMs;
  }

  /**
   * What {@linkcode admit} would answer, without storing anything: lets the
   * caller drop copies and strangers before spending rate-limit tokens, and
   * rate-limit the rest before anything is stored.
   */
  check(originHid: string, originName: string, msgId: bigint, content: Uint8Array): Admission {
    return this.#admit(originHid, originName, msgId, content, false);
  }

  /**
   * Records a message and tells what to do with it; see {@linkcode Admission}.
   * `content` is the message's content bytes exactly as on the wire (see
   * {@linkcode textContent}). Only a `"new"` message is stored.
   *
   * @throws {RangeError} when `msgId` is not a u64
   */
  admit(originHid: string, originName: string, msgId: bigint, content: Uint8Array): Admission {
    return this.#admit(originHid, originName, msgId, content, true);
  }

  /**
   * Admits an origin that is not a member until the next member list, for
   * when the members cannot be checked (the registry is unreachable): true
   * if it is a member now. A full set (`maxProvisional`) takes a new origin
   * only once its oldest is `minAgeMs` old, forgetting that one; until then
   * it answers false, so copies of a rotating-origin storm die out.
   */
  provisional(originHid: string): boolean {
    if (this.isMember(originHid)) return true;
    if (this.#maxProvisional === 0) return false;
    const now = this.#now();
    if (this.#provisional.size >= this.#maxProvisional) {
      const [oldest, since] = this.#provisional.entries().next().value!;
      if (now - since < this.#minAgeMs) return false;
      this.#provisional.delete(oldest);
      this.forget(oldest);
    }
    this.#provisional.set(originHid, now);
    return true;
  }

  /** The highest msgID remembered from an origin, if it has a window. */
  highest(originHid: string): bigint | undefined {
    return this.#windows.get(originHid)?.highest;
  }

  /** Forgets every message seen from an origin (its handshake msgID stays). */
  forget(originHid: string): void {
    const window = this.#windows.get(originHid);
    if (window === undefined) return;
    this.#entries -= window.seen.size;
    this.#windows.delete(originHid);
  }

  /**
   * A member handshook (`P` or `S`) with `msgId` as its last msgID. A counter
   * never goes back, so a msgID lower than the one of its previous handshake
   * means it restarted: forget what it sent before. (Not lower than the
   * highest message seen: its newer messages may overtake the handshake on
   * other paths.) Returns true if forgotten. Ignores non-members.
   */
  handshake(originHid: string, msgId: bigint): boolean {
    if (!this.isMember(originHid)) return false;
    const previous = this.#handshakes.get(originHid);
    this.#handshakes.set(originHid, msgId);
    if (previous === undefined || msgId >= previous) return false;
    this.forget(originHid);
    return true;
  }

  #admit(
    originHid: string,
    originName: string,
    msgId: bigint,
    content: Uint8Array,
    store: boolean,
  ): Admission {
    if (!this.isMember(originHid)) return "stranger";
    if (msgId < 0n || msgId > U64) throw new RangeError(`msgID ${msgId} is not a u64`);
    const now = this.#now();
    let window = this.#windows.get(originHid);
    if (window !== undefined) this.#expire(window, now);
    const key = digestOf(this.#seeds, msgId, originName, content);
    if (window?.seen.has(key)) return "seen";
    if (window !== undefined && window.seen.size >= this.#perMember) {
      const [oldest, at] = window.seen.entries().next().value!;
      if (now - at < this.#minAgeMs) return "full";
      if (!store) return "new";
      window.seen.delete(oldest);
      this.#entries--;
    }
    if (!store) return "new";
    if (window === undefined) {
      window = { seen: new Map(), highest: msgId };
      this.#windows.set(originHid, window);
    }
    window.seen.set(key, now);
    this.#entries++;
    if (msgId > window.highest) window.highest = msgId;
    return "new";
  }

  #expire(window: Window, now: number): void {
    for (const [key, at] of window.seen) {
      if (now - at <= this.#ttlMs) break;
      window.seen.delete(key);
      this.#entries--;
    }
  }
}

/**
 * The content bytes of an encoded `T` frame (a view, not a copy), for
 * {@linkcode SeenWindow.admit}.
 *
 * @throws {ProtocolError} when its header is malformed
 * @throws {RangeError} when it is not one whole `T` frame
 */
export function textContent(frame: Uint8Array): Uint8Array {
  const header = parseTextHeader(frame, frame.length + 1);
  const end = header === null ? -1 : header.contentStart + header.contentLength;
  if (header === null || end + 4 !== frame.length) {
    throw new RangeError("Not a whole T frame");
  }
  return frame.subarray(header.contentStart, end);
}

/**
 * The first msgID base of a peer: the clock in ms times 1000, so a peer
 * restarted later starts above everything it sent before unless it sent more
 * than 1000 messages per millisecond of its life.
 */
export function clockSeed(now: number = Date.now()): bigint {
  return BigInt(Math.floor(now)) * 1000n;
}

/** My msgID counter: never goes back, not even across restarts. */
export class MsgCounter {
  #last: bigint;

  /** Starts at `seed` (default {@linkcode clockSeed}). */
  constructor(seed: bigint = clockSeed()) {
    this.#last = seed;
  }

  /** The last msgID used (the seed before the first send), as sent in `P` and `S`. */
  get last(): bigint {
    return this.#last;
  }

  /** The msgID of my next message. */
  next(): bigint {
    this.#last += 1n;
    return this.#last;
  }
}

/** Options of a {@linkcode RecentFrames}. */
export interface RecentFramesOptions {
  /**
   * Frames kept at most.
   * @default {256}
   */
  max?: number;
  /**
   * Bytes kept at most, over all frames kept.
   * @default {262144}
   */
  maxBytes?: number;
  /** The clock, in ms (default `Date.now`). */
  now?: () => number;
}

/**
 * The frames a peer sent or forwarded lately, to send again over a link that
 * comes up: a frame written into a link whose other end had just gone (a
 * peer that hung, then resumed) is lost, and a peer cut off for a moment
 * missed what was flooded meanwhile. Sending them once more is harmless
 * because every receiver drops what it has seen. Bounded by age, count and
 * bytes: whatever is pushed, it holds at most `max` frames and `maxBytes`
 * bytes (a single frame larger than `maxBytes` is not kept), none older
 * than `windowMs`.
 */
export class RecentFrames {
  readonly #windowMs: number;
  readonly #max: number;
  readonly #maxBytes: number;
  readonly #now: () => number;
  readonly #frames: { at: number; bytes: Uint8Array }[] = [];
  #bytes = 0;

  /**
   * Keeps at most `max` frames and `maxBytes` bytes, none older than `windowMs`.
   *
   * @throws {RangeError} when `windowMs` is negative or a bound is below 1
   */
  constructor(windowMs: number, options: RecentFramesOptions = {}) {
    this.#windowMs = windowMs;
    this.#max = options.max ?? 256;
    this.#maxBytes = options.maxBytes ?? 256 * 1024;
    this.#now = options.now ?? Date.now;
    if (!(windowMs >= 0)) throw new RangeError(`windowMs must not be negative, got ${windowMs}`);
    if (!(this.#max >= 1) || !(this.#maxBytes >= 1)) {
      throw new RangeError(
        `RecentFrames bounds must be at least 1, got ${this.#max}, ${this.#maxBytes}`,
      );
    }
  }

  /** Frames held now. */
  get size(): number {
    return this.#frames.length;
  }

  /** Drops every frame (I left the room: they are not for the next one). */
  clear(): void {
    this.#frames.length = 0;
    this.#bytes = 0;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Remembers a frame just sent. */
  push(bytes: Uint8Array): void {
    this.#frames.push({ at: this.#now(), bytes });
    this.#bytes += bytes.length;
    this.#prune();
    while (this.#frames.length > this.#max || this.#bytes > this.#maxBytes) {
      this.#bytes -= this.#frames.shift()!.bytes.length;
    }
  }
  /** The frames still within the window, oldest first. */
  frames(): Uint8Array[] {
    this.#prune();
    return this.#frames.map((f) => f.bytes);
  }

  #prune(): void {
    const oldest = this.#now() - this.#windowMs;
    while (this.#frames.length > 0 && this.#frames[0]!.at < oldest) {
      this.#bytes -= this.#frames.shift()!.bytes.length;
    }
  }
}
