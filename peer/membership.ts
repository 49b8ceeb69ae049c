/**
 * A peer's view of its room's members, kept from the registry's `M` lists:
 * who is listed (with HashIDs), which origins of messages I know, which
 * members departed and when, and which linked members stopped being listed.
 * Pure state: the time is an argument (ms), nothing here does I/O or sets a
 * timer, as in `registry/rooms.ts`.
 *
 * A member missing from the lists is not forgotten at once: a registry that
 * just restarted lists members as they re-register. Only after `graceMs` of
 * absence are its messages forgotten ({@linkcode MembersUpdate.forget}) or its
 * links closed ({@linkcode Membership.absentLinks}).
 *
 * From a ringchat registry it also keeps the member information of the
 * current list (`member-info`, matched by MSID): which members speak
 * ringchat/2 ({@linkcode Membership.speaksRingchat}) and their proved keys
 * ({@linkcode Membership.keyOf}). Only the registry's word counts for these.
 *
 * @module
 */

import { type Member, type MembersFrame, membersPayload } from "../lib/frames.ts";
import { applyMembersDelta, type MembersDelta } from "../lib/members_delta.ts";
import { compareRing, memberKey, type RingMember, ringOrder, withHashIds } from "../lib/ring.ts";
import { MembersReply } from "../registry/members_reply.ts";
import type { MemberInfo } from "./events.ts";
import type { RegistryMemberInfo } from "./registry_hello.ts";
import type { LeftNotice } from "./room_life.ts";

/** Departed members remembered at most (the oldest are dropped first). */
export const MAX_DEPARTED = 4096;

/** Decimal HashIDs of members, made once per member (lists repeat their members). */
const hids = new WeakMap<RingMember, string>();

function hidOf(member: RingMember): string {
  let hid = hids.get(member);
  if (hid === undefined) {
    hid = member.hashId.toString();
    hids.set(member, hid);
  }
  return hid;
}

/** Member keys (`memberKey`), made once per member object. */
const keys = new WeakMap<Member, string>();

function keyOf(member: Member): string {
  let key = keys.get(member);
  if (key === undefined) {
    key = memberKey(member);
    keys.set(member, key);
  }
  return key;
}

/**
 * The member infos of `infos()`, one per member object and `ringchat`
 * value: a list shown again (every delta shows the whole list) makes no new
 * objects for members it showed before. Frozen: events share them.
 */
const shown = new WeakMap<RingMember, MemberInfo>();

/** What a new member list changed. */
export interface MembersUpdate {
  /** The list differs from the last one (MSID or members). */
  changed: boolean;
  /** Origin keys (HashIDs, names) whose messages are to be forgotten: gone for `graceMs`. */
  forget: string[];
}

/** What a delta changed ({@linkcode Membership.applyDelta}): also which origins came and went. */
export interface DeltaUpdate extends MembersUpdate {
  /** Origin keys now listed that were not. */
  originsAdded: string[];
  /** Origin keys no longer listed. */
  originsRemoved: string[];
}

/** True when `a` and `b` are the same member (name, ip and port). */
export function sameMember(a: Member, b: Member): boolean {
  return a.name === b.name && a.port === b.port && a.ip === b.ip;
}

/** The membership view; see the module doc. */
export class Membership {
  readonly #graceMs: number;
  #members: RingMember[] = [];
  /** The payload of the last list, to tell an unchanged list without hashing it (null: to make). */
  #payload: string | null = "";
  #msid: bigint | null = null;
  /** HashIDs (decimal) and names of the listed members: the origins I know. */
  #originKeys = new Set<string>();
  /** Members missing from the list (by HashID), and since when. */
  readonly #departed = new Map<string, { name: string; since: number }>();
  /** Linked members (by key) missing from the list, and since when. */
  readonly #absentSince = new Map<string, number>();
  /** The member info of the current list (by member key: its key or null); null: none known. */
  #ringchat: Map<string, string | null> | null = null;
  /** The MSID the member info applies to (null: none yet), and the removals it names. */
  #infoMsid: bigint | null = null;
  #left: readonly LeftNotice[] = [];
  /** Member info for a list not taken yet (its `M` is on its way), kept for {@linkcode set}. */
  #pendingInfo: RegistryMemberInfo | null = null;
  /** Listed members (by key) that a list after my first brought, and when. */
  #listedAt = new Map<string, number>();
  /** My list's members by key: a member listed again keeps its object (and HashID). */
  #byKey = new Map<string, RingMember>();
  /** The HashIDs (decimal) of my list. */
  #listedHids = new Set<string>();
  /** My list in ring order, made when first asked for (null: to make). */
  #ring: RingMember[] | null = null;
  /** The last ring made (the next is made from it). */
  #lastRing: RingMember[] = [];
  /** Proved keys by HashID, made from the list and its info when asked for (null: to make). */
  #keysByHid: Map<string, string> | null = null;
  /** The infos of my list, as `infos()` last made them (null: to make). */
  #infos: MemberInfo[] | null = null;
  /** My list's MSID, kept per member to check deltas in O(log n) (null: to make from the list). */
  #hash: MembersReply<string> | null = null;
  /**
   * How many listed members the member info says speak ringchat/2 (null: to
   * count): kept through deltas member by member, so the mode of a message
   * (lib/overlay_mode.ts) costs no scan of the list.
   */
  #speakers: number | null = null;

  /** A view that forgets members absent for `graceMs`. */
  constructor(graceMs: number) {
    this.#graceMs = graceMs;
  }

  /** The members as last listed (newest first). */
  get members(): readonly RingMember[] {
    return this.#members;
  }

  /**
   * The members in ring order (`ringOrder` of lib/ring.ts), sorted once per
   * list: rings made from it (`forwardCandidates`) find it sorted already.
   */
  get ring(): readonly RingMember[] {
    if (this.#ring === null) {
      const first = this.#members[0];
      // The last ring's members still listed first, in order, then the new
      // ones: the sort merges one short run into a sorted one.
      const kept = this.#lastRing.filter((m) => this.#byKey.has(memberKey(m)));
      const keys = new Set(kept.map(memberKey));
      const added = this.#members.filter((m) => !keys.has(memberKey(m)));
      this.#ring = first === undefined ? [] : ringOrder([...kept, ...added], first);
      this.#lastRing = this.#ring;
    }
    return this.#ring;
  }

  /** The MSID of the last list (0 before any). */
  get msid(): bigint {
    return this.#msid ?? 0n;
  }

  /** Takes a new member list at time `now`. */
  set(frame: MembersFrame, now: number): MembersUpdate {
    const payload = membersPayload(frame.members);
    const changed = frame.msid !== this.#msid ||
      payload !== (this.#payload ??= membersPayload(this.#members));
    // A keepalive's reply is usually the same list: hash its members only when it is not.
    let next = this.#members;
    if (changed) {
      const byKey = new Map<string, RingMember>();
      next = frame.members.map((m) => {
        const key = memberKey(m);
        const member = this.#byKey.get(key) ?? byKey.get(key) ?? withHashIds([m])[0]!;
        byKey.set(key, member);
        return member;
      });
      this.#originKeys = new Set();
      this.#listedHids = new Set();
      for (const m of next) {
        this.#originKeys.add(hidOf(m)).add(m.name);
        this.#listedHids.add(hidOf(m));
      }
      this.#listedAt = this.#newcomers(byKey, now);
      this.#noteDeparted(byKey, now);
      this.#byKey = byKey;
      this.#ring = null;
      this.#hash = null;
      this.#infos = null;
      this.#speakers = null;
    }
    const forget = this.#forgetDeparted(next, now);
    this.#members = next;
    if (changed) this.#keysByHid = null;
    this.#payload = payload;
    this.#msid = frame.msid;
    const pending = this.#pendingInfo;
    if (pending !== null && pending.msid === frame.msid) this.setInfo(pending);
    return { changed, forget };
  }

  /**
   * Takes a `members-delta` at time `now` (lib/members_delta.ts): applied
   * only to the list it starts from (its MSID `from`, with that list's
   * member info known), and taken only when the list it makes hashes to its
   * `msid`. Null when it is not taken: nothing changed, the caller recovers
   * with a full list.
   */
  applyDelta(delta: MembersDelta, now: number): DeltaUpdate | null {
    const msid = this.#msid;
    const info = this.#ringchat;
    if (msid === null || info === null || this.#infoMsid !== msid) return null;
    if (delta.from !== msid.toString()) return null;
    const next = applyMembersDelta(
      this.#members,
      delta,
      (m) => withHashIds([{ name: m.name, ip: m.ip, port: m.port }])[0]!,
      this.#byKey,
    );
    if (next === null) return null;
    const target = BigInt(delta.msid);
    const hash = this.#hash ?? this.#listHash();
    for (const m of delta.removed) hash.remove(memberKey(m));
    for (let i = delta.added.length - 1; i >= 0; i--) {
      const m = delta.added[i]!;
      hash.add(memberKey(m), `${m.name}:${m.ip}:${m.port}:`);
    }
    if (hash.msid !== target) {
      // Not the list the registry has: my list stays as it was, its hash is made again.
      this.#hash = null;
      return null;
    }
    this.#hash = hash;
    const byKey = this.#byKey;
    // The members whose count of speakers may change: taken out as they were, put back as they are.
    const touched = new Set<string>();
    for (const list of [delta.removed, delta.added, delta.info]) {
      for (const m of list) touched.add(memberKey(m));
    }
    let speakers = this.#speakers;
    if (speakers !== null) {
      for (const key of touched) if (byKey.has(key) && info.has(key)) speakers--;
    }
    const removed: RingMember[] = [];
    for (const m of delta.removed) {
      const key = memberKey(m);
      removed.push(byKey.get(key)!);
      byKey.delete(key);
    }
    const added = next.slice(0, delta.added.length);
    for (const m of added) byKey.set(memberKey(m), m);
    const before = this.#originKeys;
    const originsAdded: string[] = [];
    const originsRemoved: string[] = [];
    if (removed.length > 0) {
      this.#originKeys = new Set();
      this.#listedHids = new Set();
      for (const m of next) {
        this.#originKeys.add(hidOf(m)).add(m.name);
        this.#listedHids.add(hidOf(m));
      }
      for (const m of removed) {
        for (const key of [hidOf(m), m.name]) {
          if (!this.#originKeys.has(key)) originsRemoved.push(key);
        }
      }
    }
    for (const m of added) {
      for (const key of [hidOf(m), m.name]) {
        if (!before.has(key)) originsAdded.push(key);
        this.#originKeys.add(key);
      }
      this.#listedHids.add(hidOf(m));
    }
    for (const m of added) this.#listedAt.set(memberKey(m), now);
    for (const m of delta.removed) this.#listedAt.delete(memberKey(m));
    this.#departing(removed, now);
    this.#ring = this.#ringAfter(removed, added);
    const forget = this.#forgetDeparted(next, now);
    this.#members = next;
    this.#payload = null;
    this.#msid = target;
    this.#infoMsid = target;
    this.#keysByHid = null;
    // The member info of the new list: the old one's, with the delta's changes.
    for (const m of delta.removed) info.delete(memberKey(m));
    for (const m of [...delta.added, ...delta.info]) {
      if (m.ringchat === true) info.set(memberKey(m), m.key ?? null);
      else info.delete(memberKey(m));
    }
    if (speakers !== null) {
      for (const key of touched) if (byKey.has(key) && info.has(key)) speakers++;
    }
    this.#speakers = speakers;
    this.#left = delta.removed.filter((m): m is LeftNotice => m.reason !== undefined);
    this.#pendingInfo = null;
    this.#infos = this.#infosAfter(removed, added.length, delta.info.length > 0);
    return { changed: true, forget, originsAdded, originsRemoved };
  }

  /** A hash of my list, member by member (oldest first). */
  #listHash(): MembersReply<string> {
    const hash = new MembersReply<string>();
    const entries: [string, string][] = [];
    for (let i = this.#members.length - 1; i >= 0; i--) {
      const m = this.#members[i]!;
      entries.push([memberKey(m), `${m.name}:${m.ip}:${m.port}:`]);
    }
    hash.addAll(entries);
    return hash;
  }

  /**
   * The ring after a delta, made from the last one without sorting it
   * again: the `removed` members cut out, the `added` ones put in their
   * places. Null (made when asked for) when there is no ring yet.
   */
  #ringAfter(removed: readonly RingMember[], added: readonly RingMember[]): RingMember[] | null {
    const ring = this.#ring;
    if (ring === null) return null;
    let next: RingMember[];
    if (removed.length > 0) {
      // The ring's members are objects of their own (ringOrder copies them): by key.
      const gone = new Set(removed.map(keyOf));
      next = ring.filter((m) => !gone.has(keyOf(m)));
    } else {
      next = [...ring];
    }
    for (const m of added) {
      let lo = 0, hi = next.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (compareRing(next[mid]!, m) < 0) lo = mid + 1;
        else hi = mid;
      }
      next.splice(lo, 0, m);
    }
    this.#lastRing = next;
    return next;
  }

  /**
   * Takes the registry's member information. It applies to the list of the
   * same MSID: the current one (then true when it changed what is known), or
   * the next list taken (kept until then; false).
   */
  setInfo(info: RegistryMemberInfo): boolean {
    if (this.#msid !== info.msid) {
      this.#pendingInfo = info;
      return false;
    }
    this.#pendingInfo = null;
    this.#infoMsid = info.msid;
    this.#left = info.left ?? [];
    const next = new Map<string, string | null>();
    for (const m of info.members) next.set(memberKey(m), m.key);
    const before = this.#ringchat;
    this.#ringchat = next;
    this.#keysByHid = null;
    this.#infos = null;
    this.#speakers = null;
    if (before === null || before.size !== next.size) return true;
    for (const [key, value] of next) if (before.get(key) !== value) return true;
    return false;
  }

  /**
   * The removals the member info of the current list names (newest first),
   * or null when no member info applies to it (a plain registry).
   */
  leftNotices(): readonly LeftNotice[] | null {
    return this.#msid !== null && this.#infoMsid === this.#msid ? this.#left : null;
  }

  /** Forgets everything: I left the room (the next list is a first one). */
  reset(): void {
    this.#members = [];
    this.#payload = "";
    this.#msid = null;
    this.#originKeys = new Set();
    this.#departed.clear();
    this.#absentSince.clear();
    this.#ringchat = null;
    this.#infoMsid = null;
    this.#left = [];
    this.#pendingInfo = null;
    this.#listedAt = new Map();
    this.#byKey = new Map();
    this.#listedHids = new Set();
    this.#ring = null;
    this.#lastRing = [];
    this.#keysByHid = null;
    this.#hash = null;
    this.#infos = null;
    this.#speakers = null;
  }

  /**
   * Whether the registry says `member` speaks ringchat/2: true or false from
   * a ringchat registry's member info, undefined when none is known (a plain
   * registry).
   */
  speaksRingchat(member: Member): boolean | undefined {
    return this.#ringchat === null ? undefined : this.#ringchat.has(keyOf(member));
  }

  /**
   * How many listed members the member info says speak ringchat/2
   * (`speaksRingchat` true; 0 without member info): counted once per full
   * list or info, then kept through deltas, so asking costs O(1).
   */
  speakers(): number {
    const info = this.#ringchat;
    if (info === null) return 0;
    if (this.#speakers === null) {
      let count = 0;
      for (const m of this.#members) if (info.has(keyOf(m))) count++;
      this.#speakers = count;
    }
    return this.#speakers;
  }

  /** The proved key of the member whose HashID (decimal) is `originHid`, if it proved one. */
  keyOfOrigin(originHid: string): string | undefined {
    if (this.#keysByHid === null) {
      this.#keysByHid = new Map();
      for (const m of this.#members) {
        const key = this.keyOf(m);
        if (key !== null) this.#keysByHid.set(m.hashId.toString(), key);
      }
    }
    return this.#keysByHid.get(originHid);
  }

  /** `member`'s proved key (base64url) as the registry announced it, or null. */
  keyOf(member: Member): string | null {
    return this.#ringchat?.get(memberKey(member)) ?? null;
  }

  /**
   * When a list after my first one brought `member` (ms), or null: it was on
   * my first list, or is not listed. Who joined after me is told apart from
   * who was there.
   */
  listedSince(member: Member): number | null {
    return this.#listedAt.get(memberKey(member)) ?? null;
  }

  /** The listed members that a list after my first brought (`next`, by key), and when. */
  #newcomers(next: ReadonlyMap<string, RingMember>, now: number): Map<string, number> {
    const listedAt = new Map<string, number>();
    for (const key of next.keys()) {
      const since = this.#listedAt.get(key) ??
        (this.#msid === null || this.#byKey.has(key) ? null : now);
      if (since !== null) listedAt.set(key, since);
    }
    return listedAt;
  }

  /** The listed member a handshake names: exactly, or by name and port (liberal about the ip). */
  find(member: Member): RingMember | undefined {
    return this.#byKey.get(memberKey(member)) ??
      this.#members.find((m) => m.name === member.name && m.port === member.port);
  }

  /** The first listed member named `name`. */
  named(name: string): RingMember | undefined {
    return this.#members.find((m) => m.name === name);
  }

  /** True when a member listens on `port` at `ip`, or on `port` under `name`. */
  hasAddress(ip: string, port: number, name: string): boolean {
    return this.#members.some((m) => m.port === port && (m.ip === ip || m.name === name));
  }

  /** True when a member other than `me` is listed. */
  hasOthers(me: Member): boolean {
    return this.#members.some((m) => !sameMember(m, me));
  }

  /** True when `originHid` is a listed member's HashID or name. */
  knownOrigin(originHid: string): boolean {
    return this.#originKeys.has(originHid);
  }

  /** The HashIDs (decimal) and names of the listed members: the origins whose texts are shown. */
  get originKeys(): ReadonlySet<string> {
    return this.#originKeys;
  }

  /** The members as events show them. */
  infos(): MemberInfo[] {
    this.#infos ??= this.#members.map((m) => this.#info(m));
    return [...this.#infos];
  }

  /**
   * The infos after a delta, from the last ones: the `removed` members' cut
   * out, the `added` (the first of my list) put in front. Null (made when
   * asked for) when none were made, or the member info changed (`info`).
   */
  #infosAfter(removed: readonly RingMember[], added: number, info: boolean): MemberInfo[] | null {
    const last = this.#infos;
    if (last === null || info) return null;
    const gone = new Set<MemberInfo>();
    for (const m of removed) {
      const known = shown.get(m);
      if (known === undefined) return null;
      gone.add(known);
    }
    const kept = gone.size === 0 ? last : last.filter((i) => !gone.has(i));
    if (kept.length !== last.length - gone.size) return null;
    const fresh = this.#members.slice(0, added).map((m) => this.#info(m));
    return [...fresh, ...kept];
  }

  /** `member`'s info as events show it, made once per member and `ringchat`. */
  #info(m: RingMember): MemberInfo {
    const ringchat = this.#ringchat;
    const speaks = ringchat === null ? undefined : ringchat.has(keyOf(m));
    const known = shown.get(m);
    if (known !== undefined && known.ringchat === speaks) return known;
    const info: MemberInfo = { name: m.name, ip: m.ip, port: m.port, hashId: hidOf(m) };
    if (speaks !== undefined) info.ringchat = speaks;
    shown.set(m, Object.freeze(info));
    return info;
  }

  /**
   * Of the members I link with (`linked`), those missing from the list for
   * `graceMs` at `now`: a member that is hung (or cut off) stops renewing and
   * expires while its sockets stay open. Their links are to be closed.
   */
  absentLinks<M extends Member>(linked: readonly M[], now: number): M[] {
    const absent = new Set<string>();
    const gone: M[] = [];
    for (const member of linked) {
      if (this.find(member) !== undefined) continue;
      const key = memberKey(member);
      absent.add(key);
      const since = this.#absentSince.get(key);
      if (since === undefined) {
        this.#absentSince.set(key, now);
      } else if (now - since >= this.#graceMs) {
        this.#absentSince.delete(key);
        gone.push(member);
      }
    }
    for (const key of this.#absentSince.keys()) {
      if (!absent.has(key)) this.#absentSince.delete(key);
    }
    return gone;
  }

  /**
   * The origins of members missing from lists for `graceMs` (they may come
   * back restarted, counting their msgIDs from 1). Not at once: forgetting a
   * live origin would let a late copy of one of its messages through twice.
   */
  #forgetDeparted(next: readonly RingMember[], now: number): string[] {
    const listed = this.#listedHids;
    const forget: string[] = [];
    for (const [hid, { name, since }] of this.#departed) {
      if (listed.has(hid)) {
        this.#departed.delete(hid);
      } else if (now - since >= this.#graceMs) {
        this.#departed.delete(hid);
        forget.push(hid);
        if (!next.some((m) => m.name === name)) forget.push(name);
      }
    }
    return forget;
  }

  /** The `removed` members of my list (a delta's) depart from `now`. */
  #departing(removed: readonly RingMember[], now: number): void {
    for (const m of removed) {
      const hid = hidOf(m);
      if (!this.#listedHids.has(hid) && !this.#departed.has(hid)) {
        this.#departed.set(hid, { name: m.name, since: now });
      }
    }
    while (this.#departed.size > MAX_DEPARTED) {
      this.#departed.delete(this.#departed.keys().next().value!);
    }
  }

  /** Members of my list missing from the `next` one (by key) depart from `now`. */
  #noteDeparted(next: ReadonlyMap<string, RingMember>, now: number): void {
    const gone: RingMember[] = [];
    for (const [key, m] of this.#byKey) if (!next.has(key)) gone.push(m);
    this.#departing(gone, now);
  }
}
