/**
 * The tree's acknowledgements (docs/overlay.md §3): which tree copies each
 * child has confirmed, and which child has gone silent, as pure state with
 * the clock passed in.
 *
 * A peer that receives a `tree` op answers on that link, within `ackMs`, with
 * a `digest` of the origins that link brought (`./tree.ts`). The sender keeps
 * every copy it handed a child until the child's digest shows it held. A
 * child that has said nothing for `suspectMs` since a copy was handed to it
 * (or for twice as long as its confirmations came late lately, if longer, at
 * most four times `suspectMs`: a loaded machine) is **silent**: hung (its
 * links still up, nothing read) or cut off. Its
 * parent then counts it as dead for the tree, so the next member of its part
 * takes the part over (`handOn`), and hands the copies it never confirmed to
 * that member again: the lost subtree is repaired from the top, in one hop
 * plus the subtree's depth, whatever its size. A child whose link drops
 * ({@linkcode ChildWatch.lost}) is handled the same way at once.
 *
 * A child heard from again is not silent any more. A live child whose
 * digest still lacks a copy `suspectMs` after it was handed over (it was lost
 * on a link that closed meanwhile, or refused) is not suspected for it: the
 * copy is handed to it once more, then forgotten (the ring's digests repair
 * it if anything does).
 *
 * Bounds: at most `maxPerChild` copies kept per child (the oldest
 * forgotten), `maxChildren` children (the least recently sent to forgotten;
 * as many silent ones at most),
 * each copy handed on again at most once per child: a child that never
 * answers costs its parent one more copy per message, to the member that
 * takes its part over.
 *
 * @example
 * ```ts
 * import { deepEqual, equal } from "node:assert/strict";
 * import { ChildWatch } from "./child_watch.ts";
 * let now = 0;
 * const watch = new ChildWatch({ suspectMs: 400, now: () => now });
 * const bob = { name: "bob", ip: "127.0.0.1", port: 50002 };
 * const end = { name: "carol", ip: "127.0.0.1", port: 50003 };
 * watch.sent(bob, { originHid: "7", msgId: 1n, end, hops: 1 });
 * now = 399;
 * deepEqual(watch.due(), []);
 * now = 400;
 * equal(watch.due()[0]?.copies[0]?.msgId, 1n);
 * equal(watch.isSilent(bob), true);
 * ```
 *
 * @module
 */

import type { Member } from "../lib/frames.ts";
import { memberKey } from "../lib/ring.ts";
import type { Holdings } from "./digest.ts";

/** Options of a {@linkcode ChildWatch}. */
export interface ChildWatchOptions {
  /** Silence after a copy that makes a child silent, in ms (default 400). */
  suspectMs?: number;
  /** Copies kept per child while unconfirmed (default 256). */
  maxPerChild?: number;
  /** Children watched at once (default 1024). */
  maxChildren?: number;
  /** The clock, in ms (default `Date.now`). */
  now?: () => number;
}

/** A tree copy handed to a child. */
export interface HandedCopy {
  originHid: string;
  msgId: bigint;
  /** Where the child's part of the ring ends (exclusive). */
  end: Member;
  /** The copy's `hops`. */
  hops: number;
}

/** A copy kept, with when it was handed over. */
export interface KeptCopy extends HandedCopy {
  at: number;
  /** True for a copy handed to this child a second time (it is not handed a third). */
  again: boolean;
}

/** A child that went silent and the copies it never confirmed, oldest first. */
export interface SilentChild {
  child: Member;
  copies: KeptCopy[];
}

interface Child {
  member: Member;
  copies: Map<string, KeptCopy>;
  /** When its last digest came (−∞: never). */
  heardAt: number;
  /** How late its confirmations came lately (ms; decays by a quarter per digest). */
  lag: number;
}

/** The children of my tree copies; see the module doc. */
export class ChildWatch {
  readonly #suspectMs: number;
  readonly #maxPerChild: number;
  readonly #maxChildren: number;
  readonly #now: () => number;
  readonly #children = new Map<string, Child>();
  /** Silent children, and when the copy they never confirmed was handed over. */
  readonly #silent = new Map<string, number>();

  /** Watches no child yet. */
  constructor(options: ChildWatchOptions = {}) {
    this.#suspectMs = options.suspectMs ?? 400;
    this.#maxPerChild = options.maxPerChild ?? 256;
    this.#maxChildren = options.maxChildren ?? 1024;
    this.#now = options.now ?? Date.now;
    if (!(this.#suspectMs > 0 && this.#maxPerChild >= 1 && this.#maxChildren >= 1)) {
      throw new RangeError("ChildWatch bounds must be positive");
    }
  }

  /** The silence that makes a child silent (ms). */
  get suspectMs(): number {
    return this.#suspectMs;
  }

  /** Copies kept, over all children. */
  get size(): number {
    let total = 0;
    for (const c of this.#children.values()) total += c.copies.size;
    return total;
  }

  /** True while `member` is silent: its part goes to the next member. */
  isSilent(member: Member): boolean {
    return this.#silent.size > 0 && this.#silent.has(memberKey(member));
  }

  /** I handed `copy` to `member` (`again`: a second time, see {@linkcode heard}). */
  sent(member: Member, copy: HandedCopy, again = false): void {
    const child = memberKey(member);
    let c = this.#children.get(child);
    if (c === undefined) {
      if (this.#children.size >= this.#maxChildren) {
        const oldest = this.#children.keys().next().value!;
        this.#children.delete(oldest);
      }
      c = { member, copies: new Map(), heardAt: -Infinity, lag: 0 };
    } else {
      this.#children.delete(child);
    }
    this.#children.set(child, c);
    const key = `${copy.originHid}/${copy.msgId}`;
    c.copies.delete(key);
    if (c.copies.size >= this.#maxPerChild) c.copies.delete(c.copies.keys().next().value!);
    c.copies.set(key, { ...copy, at: this.#now(), again });
  }

  /**
   * A digest came from `member`: it is live. The copies it shows held are
   * confirmed. Those it still lacks `suspectMs` after they were handed over
   * (lost on a link that closed meanwhile, say) are returned, forgotten
   * here, to be handed to it once more; a copy it lacks after that second
   * time is forgotten (the ring's digests repair it, if anything does).
   */
  heard(member: Member, holds: Holdings): KeptCopy[] {
    const child = memberKey(member);
    const now = this.#now();
    const silentSince = this.#silent.get(child);
    this.#silent.delete(child);
    const c = this.#children.get(child);
    if (c === undefined) return [];
    c.heardAt = now;
    const again: KeptCopy[] = [];
    // Silent, yet heard again: only slow. It is given twice as long as it took, next time.
    let lag = Math.max(c.lag * 0.75, silentSince === undefined ? 0 : now - silentSince);
    for (const [key, copy] of c.copies) {
      if (holds.has(copy.originHid, copy.msgId)) {
        c.copies.delete(key);
        lag = Math.max(lag, now - copy.at);
      } else if (now - copy.at >= this.#suspectMs) {
        c.copies.delete(key);
        if (!copy.again) again.push(copy);
      }
    }
    c.lag = lag;
    return again;
  }

  /**
   * The children that went silent by now: nothing heard from them for
   * `suspectMs` since a copy was handed to them. Each is marked silent and
   * returned with every copy it has not confirmed (forgotten here: they are
   * the caller's to hand on).
   */
  due(): SilentChild[] {
    const now = this.#now();
    const out: SilentChild[] = [];
    for (const [child, c] of this.#children) {
      const since = this.#firstUnheard(c);
      if (since === undefined || now - since < this.#patience(c)) continue;
      if (this.#silent.size >= this.#maxChildren) {
        this.#silent.delete(this.#silent.keys().next().value!);
      }
      this.#silent.set(child, since);
      out.push({ child: c.member, copies: [...c.copies.values()] });
      c.copies.clear();
    }
    return out;
  }

  /** My last link with `member` dropped: the copies it never confirmed (forgotten here). */
  lost(member: Member): KeptCopy[] {
    const child = memberKey(member);
    const c = this.#children.get(child);
    this.#children.delete(child);
    this.#silent.delete(child);
    return c === undefined ? [] : [...c.copies.values()];
  }

  /** When the next child may turn silent, or null if none can. */
  nextDueAt(): number | null {
    let next: number | null = null;
    for (const c of this.#children.values()) {
      const since = this.#firstUnheard(c);
      if (since !== undefined && (next === null || since + this.#patience(c) < next)) {
        next = since + this.#patience(c);
      }
    }
    return next;
  }

  /** Forgets every child (I left the room). */
  clear(): void {
    this.#children.clear();
    this.#silent.clear();
  }

  /**
   * The silence after a copy that makes `c` silent: `suspectMs`, or twice
   * how late its confirmations came lately if that is longer (a loaded
   * machine), at most four times `suspectMs`.
   */
  #patience(c: Child): number {
    return Math.min(4 * this.#suspectMs, Math.max(this.#suspectMs, 2 * c.lag));
  }

  /** When the oldest copy handed over since the child's last digest went, if any. */
  #firstUnheard(c: Child): number | undefined {
    // Copies are kept in the order they were handed over.
    for (const copy of c.copies.values()) if (copy.at >= c.heardAt) return copy.at;
    return undefined;
  }
}
