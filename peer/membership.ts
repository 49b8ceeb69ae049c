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
import { memberKey, type RingMember, ringOrder, withHashIds } from "../lib/ring.ts";
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

/** What a new member list changed. */
export interface MembersUpdate {
  /** The list differs from the last one (MSID or members). */
  changed: boolean;
  /** Origin keys (HashIDs, names) whose messages are to be forgotten: gone for `graceMs`. */
  forget: string[];
}

/** True when `a` and `b` are the same member (name, ip and port). */
export function sameMember(a: Member, b: Member): boolean {
  return a.name === b.name && a.port === b.port && a.ip === b.ip;
}

/** The membership view; see the module doc. */
export class Membership {
  readonly #graceMs: number;
  #members: RingMember[] = [];
  /** The payload of the last list, to tell an unchanged list without hashing it. */
  #payload = "";
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
    const changed = frame.msid !== this.#msid || payload !== this.#payload;
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
  }

  /**
   * Whether the registry says `member` speaks ringchat/2: true or false from
   * a ringchat registry's member info, undefined when none is known (a plain
   * registry).
   */
  speaksRingchat(member: Member): boolean | undefined {
    return this.#ringchat === null ? undefined : this.#ringchat.has(memberKey(member));
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
    return this.#members.find((m) => sameMember(m, member)) ??
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
    const ringchat = this.#ringchat;
    return this.#members.map((m) => {
      const info: MemberInfo = {
        name: m.name,
        ip: m.ip,
        port: m.port,
        hashId: hidOf(m),
      };
      if (ringchat !== null) info.ringchat = ringchat.has(memberKey(m));
      return info;
    });
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

  /** Members of my list missing from the `next` one (by key) depart from `now`. */
  #noteDeparted(next: ReadonlyMap<string, RingMember>, now: number): void {
    for (const [key, m] of this.#byKey) {
      if (next.has(key)) continue;
      const hid = hidOf(m);
      if (!this.#listedHids.has(hid) && !this.#departed.has(hid)) {
        this.#departed.set(hid, { name: m.name, since: now });
      }
    }
    while (this.#departed.size > MAX_DEPARTED) {
      this.#departed.delete(this.#departed.keys().next().value!);
    }
  }
}
