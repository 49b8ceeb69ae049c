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
 * @module
 */

import { type Member, type MembersFrame, membersPayload } from "../lib/frames.ts";
import { memberKey, type RingMember, withHashIds } from "../lib/ring.ts";
import { hashId } from "../lib/sdbm.ts";
import type { MemberInfo } from "./events.ts";
import type { MemberInfo as RingchatInfo, RingchatMember } from "./member_info.ts";

/** Departed members remembered at most (the oldest are dropped first). */
export const MAX_DEPARTED = 4096;
/** Unknown origins looked up at most between two member list changes. */
export const MAX_LOOKED_UP = 1024;

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
  /** Unknown origins already looked up since the list last changed. */
  readonly #lookedUp = new Set<string>();
  /** Members missing from the list (by HashID), and since when. */
  readonly #departed = new Map<string, { name: string; since: number }>();
  /** Linked members (by key) missing from the list, and since when. */
  readonly #absentSince = new Map<string, number>();

  /** The members our registry says speak ringchat/2 (by memberKey), from its member-info. */
  #ringchat = new Map<string, RingchatMember>();
  /** Proved keys by the member's HashID (decimal). */
  #keys = new Map<string, string>();
  /** The parts of a split member-info received so far. */
  #parts: RingchatMember[] = [];

  /** A view that forgets members absent for `graceMs`. */
  constructor(graceMs: number) {
    this.#graceMs = graceMs;
  }

  /** The members as last listed (newest first). */
  get members(): readonly RingMember[] {
    return this.#members;
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
    const next = changed ? withHashIds(frame.members) : this.#members;
    if (changed) {
      this.#lookedUp.clear();
      this.#originKeys = new Set(next.flatMap((m) => [m.hashId.toString(), m.name]));
    }
    const forget = this.#forgetDeparted(next, now);
    this.#members = next;
    this.#payload = payload;
    this.#msid = frame.msid;
    return { changed, forget };
  }

  /**
   * Takes our registry's member-info (CONTRACTS2.md): it replaces the last
   * one whole (a split one once its last part arrived). True when a member's
   * ringchat status or key changed.
   */
  setMemberInfo(info: RingchatInfo): boolean {
    let members = info.members;
    if (info.parts !== undefined && info.parts > 1) {
      if (info.part === 0) this.#parts = [];
      this.#parts.push(...members);
      if (info.part !== info.parts - 1) return false;
      members = this.#parts;
      this.#parts = [];
    }
    const next = new Map(members.map((m) => [memberKey(m), m]));
    const old = this.#ringchat;
    const same = next.size === old.size &&
      [...next].every(([k, m]) => old.has(k) && old.get(k)!.key === m.key);
    this.#ringchat = next;
    this.#keys = new Map(
      members.flatMap((m) =>
        m.key === undefined ? [] : [[hashId(m.name, m.ip, m.port).toString(), m.key]]
      ),
    );
    return !same;
  }

  /** What the member-info says of `member`: ringchat, and its proved key; undefined for a seed client. */
  infoOf(member: Member): { ringchat: true; key: string | undefined } | undefined {
    const m = this.#ringchat.get(memberKey(member));
    return m === undefined ? undefined : { ringchat: true, key: m.key };
  }

  /** The proved key of the member whose HashID is `originHid`, if it proved one. */
  keyOfOrigin(originHid: string): string | undefined {
    return this.#keys.get(originHid);
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

  /**
   * True the first time an unknown origin is seen since the list changed:
   * look it up then (it may have joined after my last list), not at every message.
   */
  shouldLookUp(originHid: string): boolean {
    if (this.knownOrigin(originHid) || this.#lookedUp.has(originHid)) return false;
    if (this.#lookedUp.size >= MAX_LOOKED_UP) this.#lookedUp.clear();
    this.#lookedUp.add(originHid);
    return true;
  }

  /** The members as events show them. */
  infos(): MemberInfo[] {
    return this.#members.map((m) => ({
      name: m.name,
      ip: m.ip,
      port: m.port,
      hashId: m.hashId.toString(),
    }));
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
    const listed = new Set(next.map((m) => m.hashId.toString()));
    for (const m of this.#members) {
      const hid = m.hashId.toString();
      if (!listed.has(hid) && !this.#departed.has(hid)) {
        this.#departed.set(hid, { name: m.name, since: now });
      }
    }
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
    while (this.#departed.size > MAX_DEPARTED) {
      this.#departed.delete(this.#departed.keys().next().value!);
    }
    return forget;
  }
}
