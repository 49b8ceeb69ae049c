/**
 * Each origin's texts shown in msgID order (docs/overlay.md §4, "Order"):
 * a ringchat/2 peer numbers its texts one after another (`MsgCounter`, one
 * msgID per `T`, a long text's parts consecutive), so when a text of such an
 * origin comes while an earlier msgID of it is still missing, the earlier one
 * is on another path: a pull of the tree's repair path, a catch-up answer, a
 * new link's replay, a signature being fetched. The later text waits for it
 * here, at most {@linkcode OriginOrderOptions.waitMs}, and is shown the
 * moment the gap is filled (or given up). A text with no gap before it is
 * shown at once: nothing waits unless an earlier text is known to be missing.
 *
 * What is known per origin is the next msgID expected: the one after the
 * highest shown (or passed: shown by the history, or not to be shown). The
 * first text seen of an origin is shown at once and sets it, so an earlier
 * one that comes after it is shown late (nothing told me to wait for it).
 * A gap of {@linkcode ORDER_GAP} or more is not waited for, except that an
 * origin that restarted (its counter starts again at a clock seed, a
 * multiple of 1,000: its first text ends in 001) has its texts from the
 * first after the seed waited for.
 *
 * Bounded whatever others send: at most {@linkcode OriginOrderOptions.maxHeld}
 * texts held over all origins (one more shows the origin's held texts that
 * have waited longest, in order, as if their time were up), each for at most
 * `waitMs`; per origin only msgIDs less than {@linkcode ORDER_GAP} ahead are
 * held; at most {@linkcode ORDER_ORIGINS} origins remembered (the one unused
 * longest is forgotten). A member that leaves gaps on purpose only delays its
 * own texts, by `waitMs` each at most.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { OriginOrder } from "./origin_order.ts";
 * const shown: string[] = [];
 * const order = new OriginOrder<string>((t) => shown.push(t), { waitMs: 1000, maxHeld: 8 });
 * order.offer("7", 10n, "a");
 * order.offer("7", 12n, "c"); // 11 is missing: c waits
 * order.offer("7", 11n, "b");
 * deepEqual(shown, ["a", "b", "c"]);
 * order.close();
 * ```
 *
 * @module
 */

import type { TextFrame } from "../lib/frames.ts";
import type { RingMember } from "../lib/ring.ts";
import type { Membership } from "./membership.ts";
import type { MessageEvent } from "./relay.ts";

/**
 * How far ahead of the next expected msgID a text is held, at most: the
 * repair path's horizon (`RecentIds`' window, peer/digest.ts), beyond which
 * a missing text is never pulled.
 */
export const ORDER_GAP = 64;
/** What a ringchat/2 peer's msgID counter starts at is a multiple of (flood.ts `clockSeed`). */
const SEED_STEP = 1000n;
/** Origins whose next msgID is remembered, at most. */
export const ORDER_ORIGINS = 4096;

/** A text as the peer holds it: the event the relay made for its frame. */
export interface OrderedText {
  event: MessageEvent;
  frame: TextFrame;
}

/**
 * Whose texts are held for order in a room of `members`: a member whose
 * HashID is the origin and that the member-info says speaks ringchat/2,
 * whose msgIDs so follow one another. Seed clients' are not (some count two
 * per text, PROTOCOL.md §8): theirs are shown as they come.
 */
export function countsInOrder(members: Membership): (originHid: string) => boolean {
  let byHid = new Map<string, RingMember>();
  let of: readonly RingMember[] | null = null;
  return (originHid) => {
    const listed = members.members;
    if (listed !== of) {
      of = listed;
      byHid = new Map(listed.map((m) => [m.hashId.toString(), m]));
    }
    const member = byHid.get(originHid);
    return member !== undefined && members.speaksRingchat(member) === true;
  };
}

/** Options of an {@linkcode OriginOrder}. */
export interface OriginOrderOptions {
  /** Longest a text waits for an earlier one of its origin, in ms; 0: none waits. */
  waitMs: number;
  /** Texts held at once over all origins, at most. */
  maxHeld: number;
  /** The clock, in ms (default `performance.now`). */
  now?: () => number;
}

/** A held text (or, without `item`, a msgID passed while a gap before it was open). */
interface Held<T> {
  msgId: bigint;
  item?: T;
  /** When it stops waiting (the clock of the options). */
  until: number;
}

/** One origin: the next msgID expected, and what waits for it, in msgID order. */
interface OriginState<T> {
  next: bigint;
  held: Held<T>[];
}

/** Holds texts that came before an earlier one of their origin; see the module doc. */
export class OriginOrder<T> {
  readonly #show: (item: T) => void;
  readonly #waitMs: number;
  readonly #maxHeld: number;
  readonly #now: () => number;
  /** By origin, least recently used first. */
  #origins = new Map<string, OriginState<T>>();
  /** The origins that hold texts now. */
  readonly #holding = new Set<OriginState<T>>();
  #held = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  /** Texts shown after waiting their whole time (the gap before them never filled). */
  expired = 0;

  /** Shows items with `show`, in each origin's msgID order as far as `options` allow. */
  constructor(show: (item: T) => void, options: OriginOrderOptions) {
    if (!(options.waitMs >= 0) || !(options.maxHeld >= 0)) {
      throw new RangeError("waitMs and maxHeld must be at least 0");
    }
    this.#show = show;
    this.#waitMs = options.waitMs;
    this.#maxHeld = options.maxHeld;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Texts held now. */
  get held(): number {
    return this.#held;
  }

  /** Origins remembered now. */
  get origins(): number {
    return this.#origins.size;
  }

  /** Text `item`, msgID `msgId` of `origin`, is to be shown: now, or once what comes before it has. */
  offer(origin: string, msgId: bigint, item: T): void {
    this.#take(origin, msgId, { item });
  }

  /**
   * `origin`'s `msgId` needs no showing here (the history showed it, or it is
   * not shown at all): a text after it waits no longer for it.
   */
  passed(origin: string, msgId: bigint): void {
    this.#take(origin, msgId, {});
  }

  /** Shows every held text now (per origin in msgID order) and forgets every origin. */
  flush(): void {
    const origins = this.#origins;
    this.#origins = new Map();
    this.#holding.clear();
    this.#held = 0;
    this.#stopTimer();
    for (const state of origins.values()) {
      for (const h of state.held) if ("item" in h) this.#show(h.item as T);
    }
  }

  /** Shows the texts whose time is up (the timer does; a test with its own clock may). */
  expire(): void {
    const now = this.#now();
    for (const state of [...this.#holding]) {
      let upTo: bigint | null = null;
      for (const h of state.held) {
        if (h.until <= now && (upTo === null || h.msgId > upTo)) upTo = h.msgId;
      }
      if (upTo !== null) this.#giveUp(state, upTo, true);
    }
    this.#schedule();
  }

  /** Stops the timer for good: held texts are dropped (the peer quits). */
  close(): void {
    this.#stopTimer();
    this.#origins.clear();
    this.#holding.clear();
    this.#held = 0;
  }

  #take(origin: string, msgId: bigint, what: { item?: T }): void {
    let state = this.#origins.get(origin);
    if (state !== undefined) {
      // Most recently used last.
      this.#origins.delete(origin);
      this.#origins.set(origin, state);
    }
    if (state === undefined || this.#waitMs === 0) {
      if (state === undefined) this.#remember(origin, state = { next: msgId + 1n, held: [] });
      else if (msgId >= state.next) state.next = msgId + 1n;
      return this.#emit(what);
    }
    if (msgId < state.next) return this.#emit(what);
    if (msgId === state.next) {
      state.next++;
      this.#emit(what);
      return this.#drain(state);
    }
    if (msgId - state.next >= BigInt(ORDER_GAP)) {
      // Too far ahead to be repaired: what waits is shown. A restarted origin's counter starts
      // again at a clock seed (flood.ts `clockSeed`, a multiple of SEED_STEP): its texts from
      // the first after the seed are waited for, the rest is not.
      if (state.held.length > 0) this.#giveUp(state, state.held.at(-1)!.msgId, false);
      const start = msgId - msgId % SEED_STEP + 1n;
      state.next = start > state.next && msgId - start < BigInt(ORDER_GAP) ? start : msgId;
      return this.#take(origin, msgId, what);
    }
    const held: Held<T> = { msgId, ...what, until: this.#now() + this.#waitMs };
    const at = state.held.findIndex((h) => h.msgId > msgId);
    state.held.splice(at < 0 ? state.held.length : at, 0, held);
    this.#held++;
    this.#holding.add(state);
    if (this.#held > this.#maxHeld) this.#evict();
    this.#schedule();
  }

  #emit(what: { item?: T }): void {
    if ("item" in what) this.#show(what.item as T);
  }

  /** Shows the held texts that follow on from `state.next`. */
  #drain(state: OriginState<T>): void {
    while (state.held.length > 0 && state.held[0]!.msgId <= state.next) {
      const h = state.held.shift()!;
      this.#held--;
      if (h.msgId === state.next) state.next++;
      this.#emit(h);
    }
    if (state.held.length === 0) this.#holding.delete(state);
  }

  /** The gap before `upTo` will not be waited for: everything up to it shown, in order. */
  #giveUp(state: OriginState<T>, upTo: bigint, expired: boolean): void {
    while (state.held.length > 0 && state.held[0]!.msgId <= upTo) {
      const h = state.held.shift()!;
      this.#held--;
      if (h.msgId >= state.next) state.next = h.msgId + 1n;
      if (expired && "item" in h) this.expired++;
      this.#emit(h);
    }
    this.#drain(state);
  }

  /** Too many held: the origin whose held text has waited longest shows what it holds. */
  #evict(): void {
    let oldest: OriginState<T> | undefined;
    let since = Infinity;
    for (const state of this.#holding) {
      for (const h of state.held) {
        if (h.until < since) {
          since = h.until;
          oldest = state;
        }
      }
    }
    if (oldest !== undefined) this.#giveUp(oldest, oldest.held.at(-1)!.msgId, false);
  }

  #remember(origin: string, state: OriginState<T>): void {
    this.#origins.set(origin, state);
    if (this.#origins.size <= ORDER_ORIGINS) return;
    const [first, forgotten] = this.#origins.entries().next().value!;
    this.#origins.delete(first);
    this.#holding.delete(forgotten);
    this.#held -= forgotten.held.length;
    for (const h of forgotten.held) this.#emit(h);
  }

  #schedule(): void {
    let next = Infinity;
    for (const state of this.#holding) {
      for (const h of state.held) next = Math.min(next, h.until);
    }
    if (next === this.#timerAt) return;
    this.#stopTimer();
    if (next === Infinity) return;
    this.#timerAt = next;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.expire();
    }, Math.max(0, next - this.#now()));
  }

  #stopTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }
}

/**
 * Keeps the interleaving of origins as it is and puts each origin's own
 * messages, within the places they hold, in msgID order (`msgId` reads a
 * message's, as a bigint). A prefix of the result so holds, per origin, the
 * lowest msgIDs: what makes paging by cursor in `History.since`
 * (history.ts) lose nothing; a pull asked and answered so brings a run of
 * lost texts in their own order (tree.ts).
 */
export function inOriginOrder<M extends { originHid: string }>(
  messages: readonly M[],
  msgId: (message: M) => bigint,
): M[] {
  const byOrigin = new Map<string, M[]>();
  for (const message of messages) {
    const list = byOrigin.get(message.originHid);
    if (list === undefined) byOrigin.set(message.originHid, [message]);
    else list.push(message);
  }
  for (const list of byOrigin.values()) {
    list.sort((a, b) => byMsgId({ msgId: msgId(a) }, { msgId: msgId(b) }));
  }
  const next = new Map<string, number>();
  return messages.map((slot) => {
    const index = next.get(slot.originHid) ?? 0;
    next.set(slot.originHid, index + 1);
    return byOrigin.get(slot.originHid)![index]!;
  });
}

function byMsgId(a: { msgId: bigint }, b: { msgId: bigint }): number {
  return a.msgId < b.msgId ? -1 : a.msgId > b.msgId ? 1 : 0;
}
