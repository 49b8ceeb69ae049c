/**
 * Who comes and goes (issue 11, item 2): the `member-joined`, `member-left`
 * and `nick` events, made from the member lists the registry sends and, from
 * a ringchat registry, the reasons its member-info gives (`left`,
 * docs/extensions.md). Pure state: the time is an argument (ms), nothing here
 * does I/O or sets a timer, as in `membership.ts`.
 *
 * Each list is compared with the members already announced (not with the
 * last list), so lists that are skipped or merged announce each change once.
 * The members of the list I joined with are not announced, nor am I.
 *
 * - A member that a list brings is `member-joined`, unless it is the new
 *   name of a member whose rename was just announced, or a member that
 *   came back before its leave was announced.
 * - A member that a list drops is `member-left` with the reason member-info
 *   gives for it (`left`, `lost`, `expired`), or `nick` when it was
 *   `renamed` (and if no list brings the new name within
 *   {@linkcode RENAME_EXPECTED_MS}, that name is `member-left` `lost`). On a ringchat registry a member dropped with no reason given
 *   (the registry restarted and members re-register one by one) is held for
 *   `graceMs`: back within it, nothing is said; else `member-left` `lost`
 *   with the first list after. Without member-info (a plain registry) the
 *   reason is unknown: `lost`, at once.
 *
 * @module
 */

import type { Member } from "../lib/frames.ts";
import { memberKey } from "../lib/ring.ts";
import type { PeerEvent } from "./events.ts";

/** Why a member left, as `member-left` says. */
export type LeftReason = "left" | "lost" | "expired";

/** A removal as the registry's member-info `left` names it. */
export interface LeftNotice {
  name: string;
  ip: string;
  port: number;
  reason: LeftReason | "renamed";
  /** For `renamed`: the new name. */
  to?: string;
}

/** The events this module makes. */
export type LifeEvent = Extract<PeerEvent, { type: "member-joined" | "member-left" | "nick" }>;

/** Removals one member-info may name, read at most. */
const MAX_NOTICES = 256;
/** How long the new name of a renamed member is expected, in ms. */
export const RENAME_EXPECTED_MS = 30_000;

const REASONS = new Set(["left", "lost", "expired", "renamed"]);

/** The removals of a member-info's `left` (malformed entries skipped); [] when absent. */
export function readLeft(value: unknown): LeftNotice[] {
  if (!Array.isArray(value)) return [];
  const out: LeftNotice[] = [];
  for (const item of value.slice(0, MAX_NOTICES)) {
    if (typeof item !== "object" || item === null) continue;
    const { name, ip, port, reason, to } = item as Record<string, unknown>;
    if (typeof name !== "string" || typeof ip !== "string" || !Number.isInteger(port)) continue;
    if (typeof reason !== "string" || !REASONS.has(reason)) continue;
    if (reason === "renamed" && typeof to !== "string") continue;
    const notice: LeftNotice = {
      name,
      ip,
      port: port as number,
      reason: reason as LeftNotice["reason"],
    };
    if (reason === "renamed") notice.to = to as string;
    out.push(notice);
  }
  return out;
}

/** The comings and goings of one room; see the module doc. */
export class RoomLife {
  readonly #graceMs: number;
  /** The members announced (or on my first list), by key; null: not in a room. */
  #announced: Map<string, Member> | null = null;
  #me: Member | null = null;
  /** New names of renamed members (by key) expected until a time (ms). */
  readonly #expected = new Map<string, { name: string; until: number }>();
  /** Members dropped with no reason given (by key), and since when. */
  readonly #held = new Map<string, { member: Member; since: number }>();

  /** Members dropped with no reason are held `graceMs` on a ringchat registry. */
  constructor(graceMs: number) {
    this.#graceMs = graceMs;
  }

  /** I joined as `me` with `members` listed: none of them is announced. */
  start(members: readonly Member[], me: Member): void {
    this.#me = me;
    this.#announced = this.#others(members);
    this.#expected.clear();
    this.#held.clear();
  }

  /** I left the room: nothing more is announced until the next {@linkcode start}. */
  stop(): void {
    this.#announced = null;
    this.#me = null;
    this.#expected.clear();
    this.#held.clear();
  }

  /**
   * Takes a member list at `now` with the removals its member-info names
   * (null: no member-info, a plain registry), and returns what to announce,
   * leaves and renames first. With `change` (what a `members-delta` added
   * and removed: the list is the last one with that change) only the change
   * is looked at, not the whole list.
   */
  update(
    members: readonly Member[],
    left: readonly LeftNotice[] | null,
    now: number,
    change?: { added: readonly Member[]; removed: readonly Member[] },
  ): LifeEvent[] {
    const announced = this.#announced;
    if (announced === null) return [];
    const gone: [string, Member][] = [];
    const come: [string, Member][] = [];
    let current: Map<string, Member>;
    if (change === undefined) {
      current = this.#others(members);
      for (const entry of announced) if (!current.has(entry[0])) gone.push(entry);
      for (const entry of current) if (!announced.has(entry[0])) come.push(entry);
    } else {
      // The announced members with the change: the map is the new list's.
      current = announced;
      const me = this.#me === null ? null : memberKey(this.#me);
      for (const m of change.removed) {
        const key = memberKey(m);
        const member = current.get(key);
        if (member === undefined) continue;
        gone.push([key, member]);
        current.delete(key);
      }
      for (const m of change.added) {
        const key = memberKey(m);
        if (key === me || current.has(key)) continue;
        come.push([key, m]);
        current.set(key, m);
      }
    }
    const at = new Date(now).toISOString();
    const events: LifeEvent[] = [];
    for (const [key, { name, until }] of this.#expected) {
      if (until > now || current.has(key)) continue;
      // The nick was announced, the new name never came: it left.
      this.#expected.delete(key);
      events.push({ type: "member-left", name, reason: "lost", at });
    }
    for (const [key, member] of gone) {
      if (left === null) {
        events.push({ type: "member-left", name: member.name, reason: "lost", at });
        continue;
      }
      const notice = left.find((n) => memberKey(n) === key);
      if (notice === undefined) {
        this.#held.set(key, { member, since: now });
      } else if (notice.reason === "renamed") {
        const to = notice.to!;
        this.#expected.set(memberKey({ ...member, name: to }), {
          name: to,
          until: now + RENAME_EXPECTED_MS,
        });
        events.push({ type: "nick", from: member.name, to, at });
      } else {
        events.push({ type: "member-left", name: member.name, reason: notice.reason, at });
      }
    }
    for (const [key, member] of come) {
      if (this.#expected.delete(key) || this.#held.delete(key)) continue;
      events.push({ type: "member-joined", name: member.name, at });
    }
    for (const [key, { member, since }] of this.#held) {
      if (current.has(key)) {
        this.#held.delete(key);
      } else if (now - since >= this.#graceMs) {
        this.#held.delete(key);
        events.push({ type: "member-left", name: member.name, reason: "lost", at });
      }
    }
    this.#announced = current;
    return events;
  }

  /** `members` but me, by key. */
  #others(members: readonly Member[]): Map<string, Member> {
    const me = this.#me === null ? null : memberKey(this.#me);
    const out = new Map<string, Member>();
    for (const m of members) {
      const key = memberKey(m);
      if (key !== me) out.set(key, m);
    }
    return out;
  }
}
