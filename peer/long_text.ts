/**
 * Long texts in rooms that may hold seed clients. A seed client reads 1,024
 * bytes per `recv()` and takes one read as one frame, so a text longer than
 * 500 bytes (the seed's limit) goes out as several ordinary `T` frames of at
 * most 500 content bytes each, cut at UTF-8 character boundaries
 * ({@linkcode splitText}). Seed clients show the parts in order, as separate
 * lines; nothing is added to the text they see.
 *
 * Ringchat peers put the parts back together: the sender gives the parts
 * consecutive msgIDs and, before the parts, sends the `parts` op
 * (`docs/extensions.md`) on its ringchat/2 links only, naming the origin, the
 * first msgID, the number of parts, their total bytes and the sdbm digest of
 * the whole text ({@linkcode partsGroup}, {@linkcode partsOpBody}). Ringchat
 * peers forward the op like a `T` (to ringchat/2 links only), ahead of the
 * parts. A {@linkcode Reassembler} then holds the announced parts until all
 * are there and delivers one message; everything else passes straight
 * through.
 *
 * It degrades: the parts are ordinary `T` frames with ordinary msgIDs, so the
 * flood's exactly-once rule covers each of them. An op that is lost (it
 * crossed a seed client, or arrived after the first part) means the parts show
 * as separate messages; a group that does not complete in time, a digest that
 * does not match, or a reassembler that is full, too. Nothing is ever lost or
 * delivered twice: every part handed to the reassembler comes out exactly
 * once, alone or inside its whole.
 *
 * @example
 * ```ts
 * import { deepEqual, equal } from "node:assert/strict";
 * import { partsGroup, Reassembler, splitText } from "./long_text.ts";
 * const parts = splitText("x".repeat(1200));
 * deepEqual(parts.map((p) => p.length), [500, 500, 200]);
 * const reassembler = new Reassembler();
 * reassembler.announce("1419600254385803609", partsGroup(parts, 10n)); // msgIDs 10, 11, 12
 * const out = parts.flatMap((text, i) =>
 *   reassembler.part({
 *     originHid: "1419600254385803609",
 *     originName: "alice",
 *     msgId: 10n + BigInt(i),
 *     text,
 *   })
 * );
 * equal(out.length, 1);
 * equal(out[0]!.text, "x".repeat(1200));
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { MAX_TEXT_BYTES } from "../lib/limits.ts";
import { sdbmHash } from "../lib/sdbm.ts";
import { decimalUint64, opError } from "./op_fields.ts";

const logger = getLogger(["ringchat", "peer", "long_text"]);
const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The most content bytes a seed client takes in one `T` frame. */
export const SEED_TEXT_BYTES = 500;

/** The smallest part size: the longest UTF-8 character. */
const MIN_PART_BYTES = 4;
const MAX_MSG_ID = (1n << 64n) - 1n;

/**
 * Cuts a text into parts of at most `maxPartBytes` UTF-8 bytes, never inside
 * a character; joined, the parts are the text. A cut prefers to fall just
 * after a space or a line break in the part's second half, so seed clients
 * show whole words; otherwise the part is as long as it can be. A text that
 * fits is one part; an empty text is no part.
 *
 * @throws {RangeError} when `maxPartBytes` is not an integer of at least 4
 * @throws {TypeError} when the bytes are not UTF-8, or the string holds a lone surrogate
 */
export function splitText(text: string | Uint8Array, maxPartBytes = SEED_TEXT_BYTES): string[] {
  if (!Number.isSafeInteger(maxPartBytes) || maxPartBytes < MIN_PART_BYTES) {
    throw new RangeError(`A part must hold at least ${MIN_PART_BYTES} bytes, got ${maxPartBytes}`);
  }
  let bytes: Uint8Array;
  if (typeof text === "string") {
    if (!text.isWellFormed()) throw new TypeError("The text holds a lone surrogate");
    bytes = encoder.encode(text);
  } else {
    bytes = text;
    strictDecoder.decode(bytes); // throws TypeError on bytes that are not UTF-8
  }
  const parts: string[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = Math.min(start + maxPartBytes, bytes.length);
    if (end < bytes.length) {
      // Back off over continuation bytes (10xxxxxx) to a character's first byte.
      while ((bytes[end]! & 0xc0) === 0x80) end--;
      const half = start + Math.floor(maxPartBytes / 2);
      for (let i = end - 1; i >= half; i--) {
        if (bytes[i] === 0x20 || bytes[i] === 0x0a) {
          end = i + 1;
          break;
        }
      }
    }
    parts.push(strictDecoder.decode(bytes.subarray(start, end)));
    start = end;
  }
  return parts;
}

/** How a long text was cut, as the `parts` op announces it. */
export interface PartsGroup {
  /** The msgID of the first part; the others follow it one by one. */
  first: bigint;
  /** How many parts (at least 2). */
  count: number;
  /** The UTF-8 bytes of the whole text. */
  bytes: number;
  /** The sdbm hash of the whole text's UTF-8 bytes. */
  digest: bigint;
}

/** The group of `parts` sent under the msgIDs `first`, `first + 1`, …. */
export function partsGroup(parts: readonly string[], first: bigint): PartsGroup {
  const whole = encoder.encode(parts.join(""));
  return { first, count: parts.length, bytes: whole.length, digest: sdbmHash(whole) };
}

/** What a `parts` op says: in which room, from which origin, which group. */
export interface PartsAnnouncement {
  /** The room as on the wire (a private room's derived name). */
  room: string;
  /** The origin's HashID, decimal. */
  originHid: string;
  group: PartsGroup;
}

/**
 * The body of the `parts` op (the JSON object without `op`), for an `X`
 * frame `{ type: "X", op: "parts", body }`. msgIDs and the digest are
 * decimal strings: JSON numbers cannot hold 64 bits.
 */
export function partsOpBody(announcement: PartsAnnouncement): Record<string, unknown> {
  const { room, originHid, group } = announcement;
  return { room, origin: originHid, ...groupFields(group) };
}

/**
 * Reads the body of a `parts` op. It checks the shape only; whether the group
 * is acceptable (sizes, overlaps) is the {@linkcode Reassembler}'s to say.
 *
 * @throws {ProtocolError} when a field is missing or of the wrong kind
 */
export function parsePartsOp(body: Record<string, unknown>): PartsAnnouncement {
  const { room, origin } = body;
  if (typeof room !== "string" || typeof origin !== "string") {
    throw opError("parts op needs string room and origin");
  }
  return { room, originHid: origin, group: parseGroupFields(body, "parts op") };
}

/** A group's fields as the ops write them: msgID and digest as decimal strings. */
export function groupFields(group: PartsGroup): Record<string, unknown> {
  return {
    first: group.first.toString(),
    count: group.count,
    bytes: group.bytes,
    digest: group.digest.toString(),
  };
}

/**
 * Reads a group's fields (`first`, `count`, `bytes`, `digest`) from an op's object.
 *
 * @throws {ProtocolError} naming `what` when one is missing or of the wrong kind
 */
export function parseGroupFields(fields: Record<string, unknown>, what: string): PartsGroup {
  const { first, count, bytes, digest } = fields;
  if (!Number.isSafeInteger(count) || !Number.isSafeInteger(bytes)) {
    throw opError(`${what} needs integer count and bytes`);
  }
  return {
    first: decimalUint64(first, `${what} first`),
    count: count as number,
    bytes: bytes as number,
    digest: decimalUint64(digest, `${what} digest`),
  };
}

/** A `T` frame's text as the reassembler takes it; callers may add fields of their own. */
export interface TextPart {
  originHid: string;
  originName: string;
  msgId: bigint;
  text: string;
}

/**
 * What the reassembler hands back: one message to deliver. `grouped` when
 * it is a long text put back together (then `parts` are its parts in msgID
 * order and `text` their join); otherwise `parts` is the one part given.
 */
export interface Delivery<P extends TextPart = TextPart> {
  parts: P[];
  text: string;
  grouped: boolean;
}

/** Bounds and clock of a {@linkcode Reassembler}. */
export interface ReassemblerOptions {
  /** Groups held at once; an announcement beyond is refused. @default {32} */
  maxGroups?: number;
  /** Groups held at once per origin. @default {4} */
  maxGroupsPerOrigin?: number;
  /** Text bytes held in all groups; beyond, the oldest group is let go. @default {1048576} */
  maxHeldBytes?: number;
  /** Parts in one group. @default {256} */
  maxParts?: number;
  /** Bytes of one whole text. @default {MAX_TEXT_BYTES} (64 KiB) */
  maxMessageBytes?: number;
  /** How long a group waits for its parts after its announcement, in ms. @default {3000} */
  timeoutMs?: number;
  /** Origins whose last delivered msgID is remembered (to spot a late announcement). @default {1024} */
  maxOrigins?: number;
  /** The clock, in ms. @default {Date.now} */
  now?: () => number;
}

interface PendingGroup<P extends TextPart> {
  originHid: string;
  group: PartsGroup;
  deadline: number;
  /** msgID → part, for the parts arrived so far. */
  held: Map<bigint, P>;
  heldBytes: number;
}

/**
 * Puts announced long texts back together, in bounded memory; see the module
 * doc. Feed it every new (deduplicated) `T` in arrival order with
 * {@linkcode Reassembler.part}, every accepted `parts` op with
 * {@linkcode Reassembler.announce}, and call {@linkcode Reassembler.expire}
 * at {@linkcode Reassembler.nextDeadline}. It holds at most `maxGroups`
 * groups and `maxHeldBytes` of text, each for at most `timeoutMs`: forged
 * announcements can delay an origin's messages by that long and make long
 * texts show as parts, never lose or repeat a message, nor grow memory.
 */
export class Reassembler<P extends TextPart = TextPart> {
  readonly #maxGroups: number;
  readonly #maxGroupsPerOrigin: number;
  readonly #maxHeldBytes: number;
  readonly #maxParts: number;
  readonly #maxMessageBytes: number;
  readonly #timeoutMs: number;
  readonly #maxOrigins: number;
  readonly #now: () => number;
  /** Pending groups, oldest announcement first. */
  readonly #groups: PendingGroup<P>[] = [];
  /** The highest msgID delivered per origin, least recently updated first. */
  readonly #delivered = new Map<string, bigint>();
  #heldBytes = 0;

  /** Creates an empty reassembler. */
  constructor(options: ReassemblerOptions = {}) {
    this.#maxGroups = options.maxGroups ?? 32;
    this.#maxGroupsPerOrigin = options.maxGroupsPerOrigin ?? 4;
    this.#maxHeldBytes = options.maxHeldBytes ?? 1024 * 1024;
    this.#maxParts = options.maxParts ?? 256;
    this.#maxMessageBytes = options.maxMessageBytes ?? MAX_TEXT_BYTES;
    this.#timeoutMs = options.timeoutMs ?? 3_000;
    this.#maxOrigins = options.maxOrigins ?? 1024;
    this.#now = options.now ?? Date.now;
  }

  /** Groups waiting for parts. */
  get pending(): number {
    return this.#groups.length;
  }

  /** Text bytes held in waiting groups. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /**
   * Takes an announcement of `originHid`'s group and returns true if it will
   * wait for its parts. Refused (false): fewer than 2 parts or more than
   * `maxParts`, more bytes than `maxMessageBytes` or fewer than parts, msgIDs
   * past 2^64 − 1, a range that overlaps a waiting group of the origin, a
   * first msgID not above what was already delivered from the origin (the
   * announcement came late: its parts go out as they are), or no room left.
   */
  announce(originHid: string, group: PartsGroup): boolean {
    const last = group.first + BigInt(group.count) - 1n;
    const refuse = (why: string) => {
      logger.debug("parts announcement refused ({why}): {originHid} {first}", {
        why,
        originHid,
        first: group.first,
      });
      return false;
    };
    if (
      !Number.isSafeInteger(group.count) || group.count < 2 || group.count > this.#maxParts ||
      !Number.isSafeInteger(group.bytes) || group.bytes < group.count ||
      group.bytes > this.#maxMessageBytes || group.first < 0n || last > MAX_MSG_ID
    ) return refuse("out of bounds");
    const delivered = this.#delivered.get(originHid);
    if (delivered !== undefined && group.first <= delivered) return refuse("late");
    const mine = this.#groups.filter((g) => g.originHid === originHid);
    if (mine.some((g) => group.first <= lastOf(g.group) && g.group.first <= last)) {
      return refuse("overlaps a waiting group");
    }
    if (mine.length >= this.#maxGroupsPerOrigin || this.#groups.length >= this.#maxGroups) {
      return refuse("full");
    }
    this.#groups.push({
      originHid,
      group,
      deadline: this.#now() + this.#timeoutMs,
      held: new Map(),
      heldBytes: 0,
    });
    return true;
  }

  /**
   * Takes a new `T` and returns what to deliver now, in order: nothing while
   * its group still waits for parts, the whole text when it completes it,
   * the group's parts one by one when the group cannot complete (a part
   * under a taken msgID, another origin name, more bytes than announced, a
   * digest that does not match),
   * the part alone when it belongs to no group, and before any of that the
   * oldest groups' parts when holding it would pass `maxHeldBytes`.
   */
  part(part: P): Delivery<P>[] {
    const out = this.expire();
    const index = this.#groups.findIndex((g) =>
      g.originHid === part.originHid && part.msgId >= g.group.first &&
      part.msgId <= lastOf(g.group)
    );
    if (index < 0) {
      out.push(this.#single(part));
      return out;
    }
    const pending = this.#groups[index]!;
    const first = pending.held.values().next().value;
    if (
      pending.held.has(part.msgId) ||
      (first !== undefined && first.originName !== part.originName)
    ) {
      out.push(...this.#release(pending), this.#single(part));
      return out;
    }
    const size = encoder.encode(part.text).length;
    pending.held.set(part.msgId, part);
    pending.heldBytes += size;
    this.#heldBytes += size;
    if (pending.heldBytes > pending.group.bytes) {
      // More than announced: it cannot match; let the parts go now.
      out.push(...this.#release(pending));
      return out;
    }
    if (pending.held.size === pending.group.count) {
      this.#remove(pending);
      const parts = [...pending.held.values()].sort(byMsgId);
      const text = parts.map((p) => p.text).join("");
      const whole = encoder.encode(text);
      if (whole.length === pending.group.bytes && sdbmHash(whole) === pending.group.digest) {
        this.#noteDelivered(part.originHid, lastOf(pending.group));
        out.push({ parts, text, grouped: true });
      } else {
        logger.debug("parts of {originHid} {first} do not match their digest", {
          originHid: part.originHid,
          first: pending.group.first,
        });
        out.push(...parts.map((p) => this.#single(p)));
      }
      return out;
    }
    while (this.#heldBytes > this.#maxHeldBytes) out.push(...this.#release(this.#groups[0]!));
    return out;
  }

  /** Lets go of the groups past their deadline: their parts, one by one, in msgID order. */
  expire(): Delivery<P>[] {
    const now = this.#now();
    const out: Delivery<P>[] = [];
    for (const pending of this.#groups.filter((g) => g.deadline <= now)) {
      out.push(...this.#release(pending));
    }
    return out;
  }

  /** When the next group's wait ends (call {@linkcode Reassembler.expire} then), or null. */
  nextDeadline(): number | null {
    let next: number | null = null;
    for (const g of this.#groups) if (next === null || g.deadline < next) next = g.deadline;
    return next;
  }

  /** Lets go of every group (leaving the room, closing): their parts, one by one. */
  flush(): Delivery<P>[] {
    return [...this.#groups].flatMap((g) => this.#release(g));
  }

  #release(pending: PendingGroup<P>): Delivery<P>[] {
    this.#remove(pending);
    return [...pending.held.values()].sort(byMsgId).map((p) => this.#single(p));
  }

  #remove(pending: PendingGroup<P>): void {
    const index = this.#groups.indexOf(pending);
    if (index >= 0) this.#groups.splice(index, 1);
    this.#heldBytes -= pending.heldBytes;
    pending.heldBytes = 0;
  }

  #single(part: P): Delivery<P> {
    this.#noteDelivered(part.originHid, part.msgId);
    return { parts: [part], text: part.text, grouped: false };
  }

  #noteDelivered(originHid: string, msgId: bigint): void {
    const previous = this.#delivered.get(originHid);
    this.#delivered.delete(originHid);
    this.#delivered.set(originHid, previous === undefined || msgId > previous ? msgId : previous);
    if (this.#delivered.size > this.#maxOrigins) {
      this.#delivered.delete(this.#delivered.keys().next().value!);
    }
  }
}

function lastOf(group: PartsGroup): bigint {
  return group.first + BigInt(group.count) - 1n;
}

function byMsgId(a: TextPart, b: TextPart): number {
  return a.msgId < b.msgId ? -1 : a.msgId > b.msgId ? 1 : 0;
}
