/**
 * The sdbm-hash ring linker of PROTOCOL.md §6, as pure functions: the order in
 * which a peer tries members for its one forward link.
 *
 * @example
 * ```ts
 * import { forwardCandidates } from "./ring.ts";
 * const alice = { name: "alice", ip: "127.0.0.1", port: 50001 };
 * const bob = { name: "bob", ip: "127.0.0.1", port: 50002 };
 * const carol = { name: "carol", ip: "127.0.0.1", port: 50003 };
 * // HashIDs: alice < bob < carol, so alice tries bob first, then carol.
 * forwardCandidates([carol, bob, alice], alice, () => false).map((m) => m.name); // ["bob", "carol"]
 * ```
 *
 * @module
 */

import type { Member } from "./frames.ts";
import { hashId } from "./sdbm.ts";

/** A member with its HashID. */
export interface RingMember extends Member {
  /** `sdbmHash(name + ip + port)`. */
  hashId: bigint;
}

/** The member's identity key (`name:ip:port`), unique within a room. */
export function memberKey(member: Member): string {
  return `${member.name}:${member.ip}:${member.port}`;
}

/**
 * Adds each member's HashID. A member that is a {@linkcode RingMember}
 * already keeps its HashID (not hashed again: rings are ordered on every
 * member list, and hashing is most of that work).
 */
export function withHashIds(members: readonly Member[]): RingMember[] {
  return members.map((m) => ({
    name: m.name,
    ip: m.ip,
    port: m.port,
    hashId: (m as Partial<RingMember>).hashId ?? hashId(m.name, m.ip, m.port),
  }));
}

/** The ring's order: ascending HashID, ties broken on the key. */
export function compareRing(a: RingMember, b: RingMember): number {
  if (a.hashId !== b.hashId) return a.hashId < b.hashId ? -1 : 1;
  // Equal HashIDs need distinct strings that concatenate alike; break the tie
  // on the key so every peer sees one order.
  const ka = memberKey(a), kb = memberKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * The members sorted ascending by HashID (the ring), duplicates of one
 * identity removed, `me` included even if the list lacks it.
 */
export function ringOrder(members: readonly Member[], me: Member): RingMember[] {
  const byKey = new Map<string, RingMember>();
  for (const m of withHashIds([...members, me])) byKey.set(memberKey(m), m);
  return [...byKey.values()].sort(compareRing);
}

/**
 * The members in the order `me` tries them for a forward link: starting just
 * after `me` on the ring and wrapping around, never `me` itself, skipping every
 * member for which `linksBack` is true (it already has a backward link to me).
 */
export function forwardCandidates(
  members: readonly Member[],
  me: Member,
  linksBack: (member: RingMember) => boolean,
): RingMember[] {
  const ring = ringOrder(members, me);
  const myKey = memberKey(me);
  const x = ring.findIndex((m) => memberKey(m) === myKey);
  const out: RingMember[] = [];
  for (let step = 1; step < ring.length; step++) {
    const m = ring[(x + step) % ring.length]!;
    if (!linksBack(m)) out.push(m);
  }
  return out;
}

/**
 * A function giving the successor on the ring of `members` of any of them
 * (the first of `forwardCandidates(members, member, () => false)`), the ring
 * sorted once at its first call: asking for many members costs one sort.
 * Undefined for a member not listed, or alone.
 */
export function successors(
  members: readonly RingMember[],
): (member: Member) => RingMember | undefined {
  let ring: RingMember[] | null = null;
  let at: Map<string, number> | null = null;
  return (member) => {
    if (ring === null || at === null) {
      ring = members.length === 0 ? [] : ringOrder(members, members[0]!);
      at = new Map(ring.map((m, i) => [memberKey(m), i]));
    }
    const i = at.get(memberKey(member));
    if (i === undefined || ring.length < 2) return undefined;
    return ring[(i + 1) % ring.length];
  };
}

/**
 * Where `member` is, or would be, in `ring` (members sorted by
 * {@linkcode compareRing}, as `ringOrder` makes them): the index of the
 * first member not before it. A binary search: no sort, no copy.
 */
export function ringIndex(ring: readonly RingMember[], member: RingMember): number {
  let lo = 0, hi = ring.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareRing(ring[mid]!, member) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The members of `ring` (sorted, as `ringOrder` makes it) in the order
 * `me` walks them for a forward link: from just after `me`, wrapping
 * around, never `me` itself. What `forwardCandidates` lists, without
 * `linksBack`, one at a time: a walk that stops early costs only its steps.
 */
export function* ringWalk(ring: readonly RingMember[], me: RingMember): Generator<RingMember> {
  const at = ringIndex(ring, me);
  const listed = at < ring.length && compareRing(ring[at]!, me) === 0;
  const start = listed ? at + 1 : at;
  const steps = listed ? ring.length - 1 : ring.length;
  for (let step = 0; step < steps; step++) yield ring[(start + step) % ring.length]!;
}

/** The member after `member` on `ring` (sorted); undefined when it is not listed, or alone. */
export function ringSuccessor(
  ring: readonly RingMember[],
  member: RingMember,
): RingMember | undefined {
  const at = ringIndex(ring, member);
  if (ring.length < 2 || at >= ring.length || compareRing(ring[at]!, member) !== 0) {
    return undefined;
  }
  return ring[(at + 1) % ring.length];
}
