/**
 * The `members-delta` extension op (`docs/extensions.md`): a room's change
 * of membership and member information from one list (MSID `from`) to the
 * next (MSID `msid`), sent by a ringchat registry instead of a full `M` and
 * member-info to a hello'd connection that said it takes deltas. Pure: the
 * builder (registry side), the frames (split in parts like member-info), the
 * reader with its bounds and the applier (peer side).
 *
 * A delta holds what is needed to make the new list from the old one: the
 * members removed (with why, when the registry knows), the members added
 * (newest first: they go in front of the list, in that order), and the
 * listed members whose member-info changed (said hello, proved a key). The
 * registry makes one only when the kept members keep their order and the
 * added ones are the newest (else it sends the full `M`); the peer applies it
 * only to a list whose MSID is `from`, and takes the result only when it
 * hashes to `msid` (PROTOCOL.md §4): a broken chain is never trusted.
 *
 * @module
 */

import { encodeFrame, type ExtensionFrame, type Member } from "./frames.ts";
import { MAX_EXTENSION_JSON_BYTES } from "./limits.ts";
import { memberKey } from "./ring.ts";

/** The op's name, and the hello feature a connection says to take it. */
export const MEMBERS_DELTA = "members-delta";
/** The op a peer asks with for the whole list again (a delta did not apply to its list). */
export const MEMBERS_FULL = "members-full";

/** Entries (added, removed and info, over all parts) a reader takes at most. */
export const MAX_DELTA_ENTRIES = 100_000;
/** Parts of one delta a reader takes at most. */
export const MAX_DELTA_PARTS = 1024;

/** Why a member left (as member-info's `left`). */
export type DeltaReason = "left" | "lost" | "expired" | "renamed";

/** A member as a delta lists it: with its member-info (`ringchat`, `key`). */
export interface DeltaMember extends Member {
  /** It said hello (speaks ringchat/2); false or absent: a seed client. */
  ringchat?: boolean;
  /** Its proved key (base64url), when it proved one. */
  key?: string;
}

/** A removed member, with why when the registry knows. */
export interface DeltaRemoval extends Member {
  reason?: DeltaReason;
  /** For `renamed`: the new name. */
  to?: string;
}

/** One change from the list `from` to the list `msid` (decimal MSIDs). */
export interface MembersDelta {
  room: string;
  from: string;
  msid: string;
  /** Newest first: the new list starts with these, in this order. */
  added: DeltaMember[];
  removed: DeltaRemoval[];
  /** Listed members (before and after) whose member-info changed. */
  info: DeltaMember[];
}

/** A list as the registry sent it: its MSID, members (newest first) and member-info. */
export interface ListState {
  msid: string;
  members: readonly Member[];
  /** The hello'd members by key (`memberKey`): their proved key, or null. Others are seed clients. */
  info: ReadonlyMap<string, string | null>;
}

/** One removal a registry remembers, with its reason (member-info's `left`). */
export interface LeftNote extends Member {
  reason: DeltaReason;
  to?: string;
}

/** `member` with its member-info from `info`. */
function described(member: Member, info: ReadonlyMap<string, string | null>): DeltaMember {
  const out: DeltaMember = { name: member.name, ip: member.ip, port: member.port };
  const key = info.get(memberKey(member));
  if (key !== undefined) {
    out.ringchat = true;
    if (key !== null) out.key = key;
  }
  return out;
}

/**
 * The delta from `from` to `to` in `room`, reasons of removals taken from
 * `left` (newest first); null when it cannot be said as one (a kept member
 * moved, or an added one is not among the newest). No change: a delta with
 * empty lists ({@linkcode isEmptyDelta}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { membersDelta } from "./members_delta.ts";
 * const alice = { name: "alice", ip: "127.0.0.1", port: 50001 };
 * const bob = { name: "bob", ip: "127.0.0.1", port: 50002 };
 * const delta = membersDelta("room1", {
 *   msid: "6873446321337136987", members: [alice], info: new Map(),
 * }, {
 *   msid: "2909318189333896768", members: [bob, alice], info: new Map([["bob:127.0.0.1:50002", null]]),
 * });
 * assert.deepEqual(delta?.added, [{ ...bob, ringchat: true }]);
 * ```
 */
export function membersDelta(
  room: string,
  from: ListState,
  to: ListState,
  left: readonly LeftNote[] = [],
): MembersDelta | null {
  const before = new Set(from.members.map(memberKey));
  const afterKeys = to.members.map(memberKey);
  const after = new Set(afterKeys);
  let fresh = 0;
  while (fresh < afterKeys.length && !before.has(afterKeys[fresh]!)) fresh++;
  const removed: DeltaRemoval[] = [];
  const info: DeltaMember[] = [];
  let at = fresh;
  for (const m of from.members) {
    const key = memberKey(m);
    if (!after.has(key)) {
      const removal: DeltaRemoval = { name: m.name, ip: m.ip, port: m.port };
      const note = left.find((n) => memberKey(n) === key);
      if (note !== undefined) {
        removal.reason = note.reason;
        if (note.to !== undefined) removal.to = note.to;
      }
      removed.push(removal);
      continue;
    }
    // The kept members must follow the added ones, in their old order.
    if (afterKeys[at++] !== key) return null;
    if (from.info.get(key) !== to.info.get(key)) {
      const entry = described(m, to.info);
      entry.ringchat = to.info.has(key);
      info.push(entry);
    }
  }
  if (at !== afterKeys.length) return null;
  const added = to.members.slice(0, fresh).map((m) => described(m, to.info));
  return { room, from: from.msid, msid: to.msid, added, removed, info };
}

/**
 * The frames of `delta`: one, or parts (`part` from 0, `parts`) when one
 * frame's JSON would pass `maxJsonBytes`. Every part has the room and both
 * MSIDs; its lists are consecutive runs of the delta's (added, then
 * removed, then info). With `reply`, every part says `"reply": true`: it
 * answers a keepalive JOIN.
 */
export function membersDeltaFrames(
  delta: MembersDelta,
  maxJsonBytes = MAX_EXTENSION_JSON_BYTES,
  reply = false,
): Uint8Array[] {
  const { room, from, msid } = delta;
  const head = escapedLength(
    JSON.stringify({ op: MEMBERS_DELTA, room, from, msid, added: [], removed: [], info: [] }),
  );
  // Room for `,"part":N,"parts":N` with numbers of up to 10 digits.
  const budget = maxJsonBytes - head - 40;
  type Chunk = { added: DeltaMember[]; removed: DeltaRemoval[]; info: DeltaMember[] };
  const chunks: Chunk[] = [{ added: [], removed: [], info: [] }];
  let used = 0, count = 0;
  for (const list of ["added", "removed", "info"] as const) {
    for (const entry of delta[list]) {
      const size = escapedLength(JSON.stringify(entry)) + 1;
      if (used + size > budget && count > 0) {
        chunks.push({ added: [], removed: [], info: [] });
        used = 0;
        count = 0;
      }
      (chunks.at(-1)![list] as Member[]).push(entry);
      used += size;
      count++;
    }
  }
  return chunks.map((chunk, part) => {
    const body: Record<string, unknown> = { room, from, msid, ...chunk };
    if (chunks.length > 1) Object.assign(body, { part, parts: chunks.length });
    if (reply) body.reply = true;
    return encodeFrame({ type: "X", op: MEMBERS_DELTA, body });
  });
}

/** The length of `json` once every non-ASCII UTF-16 unit is escaped as `\uXXXX`. */
function escapedLength(json: string): number {
  let extra = 0;
  for (let i = 0; i < json.length; i++) if (json.charCodeAt(i) > 0x7f) extra += 5;
  return json.length + extra;
}

const MSID = /^(0|[1-9][0-9]{0,19})$/;
const PUBLIC_KEY = /^[A-Za-z0-9_-]{43}$/;
const REASONS: ReadonlySet<string> = new Set(["left", "lost", "expired", "renamed"]);

function isMsid(value: unknown): value is string {
  return typeof value === "string" && MSID.test(value) && BigInt(value) < 1n << 64n;
}

/** A member field of a list entry: name and ip strings without `:`, port 0–65535; else null. */
function readMember(value: unknown): (Member & Record<string, unknown>) | null {
  if (typeof value !== "object" || value === null) return null;
  const entry = value as Record<string, unknown>;
  const { name, ip, port } = entry;
  if (typeof name !== "string" || typeof ip !== "string" || name === "" || ip === "") return null;
  if (name.includes(":") || ip.includes(":")) return null;
  if (!Number.isInteger(port) || (port as number) < 0 || (port as number) > 65535) return null;
  return entry as Member & Record<string, unknown>;
}

function readDescribed(value: unknown): DeltaMember | null {
  const entry = readMember(value);
  if (entry === null) return null;
  const out: DeltaMember = { name: entry.name, ip: entry.ip, port: entry.port };
  if (entry.ringchat === true) {
    out.ringchat = true;
    if (typeof entry.key === "string" && PUBLIC_KEY.test(entry.key)) out.key = entry.key;
  } else if (entry.ringchat === false) {
    out.ringchat = false;
  }
  return out;
}

function readRemoval(value: unknown): DeltaRemoval | null {
  const entry = readMember(value);
  if (entry === null) return null;
  const out: DeltaRemoval = { name: entry.name, ip: entry.ip, port: entry.port };
  const { reason, to } = entry;
  if (typeof reason === "string" && REASONS.has(reason)) {
    // A rename without its new name is a removal without a known reason.
    if (reason !== "renamed") out.reason = reason as DeltaReason;
    else if (typeof to === "string") Object.assign(out, { reason, to });
  }
  return out;
}

function readList<T>(value: unknown, read: (v: unknown) => T | null): T[] | null {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_DELTA_ENTRIES) return null;
  const out: T[] = [];
  for (const item of value) {
    const entry = read(item);
    if (entry === null) return null;
    out.push(entry);
  }
  return out;
}

/**
 * One `members-delta` frame read; null when malformed (any bad entry makes
 * the whole frame bad: a delta applies whole or not at all).
 */
export function readMembersDelta(frame: ExtensionFrame): MembersDelta | null {
  if (frame.op !== MEMBERS_DELTA) return null;
  const { room, from, msid } = frame.body;
  if (typeof room !== "string" || !isMsid(from) || !isMsid(msid)) return null;
  const added = readList(frame.body.added, readDescribed);
  const removed = readList(frame.body.removed, readRemoval);
  const info = readList(frame.body.info, readDescribed);
  if (added === null || removed === null || info === null) return null;
  if (added.length + removed.length + info.length > MAX_DELTA_ENTRIES) return null;
  return { room, from, msid, added, removed, info };
}

/** True when `delta` changes nothing. */
export function isEmptyDelta(delta: MembersDelta): boolean {
  return delta.from === delta.msid && delta.added.length === 0 && delta.removed.length === 0 &&
    delta.info.length === 0;
}

/** True when `frame` (a `members-delta`) answers a keepalive JOIN (`"reply": true`). */
export function isDeltaReply(frame: ExtensionFrame): boolean {
  return frame.op === MEMBERS_DELTA && frame.body.reply === true;
}

/**
 * Joins the parts of `members-delta` frames: a whole delta is returned once
 * all its parts (one room, `from` and `msid`) arrived in order; a part out
 * of order, or of another delta, drops the run (the delta is then missed,
 * and the peer recovers with a full list). Malformed frames are dropped too.
 */
export class MembersDeltaAssembler {
  #parts: MembersDelta | null = null;
  #next = 0;
  #entries = 0;

  /** Takes one frame; the whole delta when complete, null otherwise, "bad" when it broke a run. */
  feed(frame: ExtensionFrame): MembersDelta | null | "bad" {
    const delta = readMembersDelta(frame);
    if (delta === null) {
      this.#parts = null;
      return "bad";
    }
    const { part, parts } = frame.body;
    if (part === undefined && parts === undefined) {
      const broke = this.#parts !== null;
      this.#parts = null;
      return broke ? "bad" : delta;
    }
    if (
      !Number.isInteger(part) || !Number.isInteger(parts) || (parts as number) < 2 ||
      (parts as number) > MAX_DELTA_PARTS || (part as number) < 0 ||
      (part as number) >= (parts as number)
    ) {
      this.#parts = null;
      return "bad";
    }
    const size = delta.added.length + delta.removed.length + delta.info.length;
    if (part === 0) {
      const broke = this.#parts !== null;
      this.#parts = delta;
      this.#next = 1;
      this.#entries = size;
      if (broke) return "bad";
    } else {
      const held = this.#parts;
      if (
        held === null || part !== this.#next || held.room !== delta.room ||
        held.from !== delta.from || held.msid !== delta.msid ||
        this.#entries + size > MAX_DELTA_ENTRIES
      ) {
        this.#parts = null;
        return "bad";
      }
      held.added.push(...delta.added);
      held.removed.push(...delta.removed);
      held.info.push(...delta.info);
      this.#entries += size;
      this.#next++;
    }
    if (this.#next < (parts as number)) return null;
    const whole = this.#parts;
    this.#parts = null;
    return whole;
  }
}

/**
 * The list `members` (newest first) with `delta` applied: the removed
 * members taken out, the added ones put in front (made by `make`). Null when
 * the delta does not fit the list: it removes a member not listed (or
 * twice), adds one still listed (or twice), or changes the info of one not
 * listed after it. `index` is `members` by key (`memberKey`), when the
 * caller keeps one. The MSID is the caller's to check (`MembersHash` of
 * lib/members_hash.ts, or `msidOf` of lib/frames.ts).
 */
export function applyMembersDelta<M extends Member>(
  members: readonly M[],
  delta: MembersDelta,
  make: (member: DeltaMember) => M,
  index?: ReadonlyMap<string, M>,
): M[] | null {
  const byKey = index ?? new Map(members.map((m) => [memberKey(m), m]));
  const gone = new Set<M>();
  for (const removal of delta.removed) {
    const m = byKey.get(memberKey(removal));
    if (m === undefined || gone.has(m)) return null;
    gone.add(m);
  }
  const listed = (key: string) => {
    const m = byKey.get(key);
    return m !== undefined && !gone.has(m);
  };
  const fresh = new Set<string>();
  const added: M[] = [];
  for (const m of delta.added) {
    const key = memberKey(m);
    if (listed(key) || fresh.has(key)) return null;
    fresh.add(key);
    added.push(make(m));
  }
  for (const m of delta.info) {
    const key = memberKey(m);
    if (!listed(key) && !fresh.has(key)) return null;
  }
  const kept = gone.size === 0 ? members : members.filter((m) => !gone.has(m));
  return added.length === 0 ? [...kept] : [...added, ...kept];
}
