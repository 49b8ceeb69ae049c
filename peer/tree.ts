/**
 * The broadcast tree and its repair path, wired (docs/overlay.md): which
 * mode my messages take (`lib/overlay_mode.ts`), sending a message down my
 * share of the ring (`lib/tree_shares.ts`) with a `tree` op before it on
 * each child's link, the digests of recent msgIDs on the ring links while
 * the room is active (`./digest.ts`), and the pulls they lead to
 * (`./repair_queue.ts`), answered from the messages kept
 * (`./pull_store.ts`).
 *
 * A text heads down the tree only when its `tree` op arrived before it on
 * the same link; the relay asks {@linkcode TreeRouter.take} for it. A text
 * without one is a ring message and floods as PROTOCOL.md §6 says.
 *
 * Bounds against a hostile member: at most {@linkcode MAX_HEADERS_PER_LINK}
 * `tree` ops wait for their text per link (the oldest dropped); a link's
 * digests are read at most {@linkcode DIGEST_RATE} a second and its pulls
 * answered at most {@linkcode PULL_RATE} a second, each of at most 64
 * messages; a digest only makes me pull (at most 1,024 wants held), never
 * hold more. A forged share's end makes me hand a message I forward once to
 * more members, never twice: each peer forwards a message only on its first
 * copy.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { encodeFrame, type ExtensionFrame, type Member, type TextFrame } from "../lib/frames.ts";
import { countedMode, type OverlayMode } from "../lib/overlay_mode.ts";
import { memberKey, type RingMember } from "../lib/ring.ts";
import {
  fingerApart,
  handOn,
  limitPosition,
  pullerShare,
  shareIndexes,
} from "../lib/tree_shares.ts";
import { ProtocolError } from "../lib/errors.ts";
import { ChildWatch, type KeptCopy } from "./child_watch.ts";
import {
  diff,
  type Digest,
  digestBody,
  digestHoldings,
  MAX_DIGEST_ORIGINS,
  parseDigest,
  RecentIds,
} from "./digest.ts";
import type { Link } from "./links.ts";
import type { Membership } from "./membership.ts";
import { DueTimer } from "./due_timer.ts";
import { PullStore } from "./pull_store.ts";
import { RateLimiter } from "./rate_limit.ts";
import { RepairQueue } from "./repair_queue.ts";
import { inOriginOrder } from "./origin_order.ts";
import type { Place } from "./state.ts";
import {
  DIGEST_OP,
  MAX_TREE_HOPS,
  parsePull,
  parseTreeHeader,
  PULL_OP,
  pullOp,
  TREE_OP,
  treeHeader,
  type TreeRoute,
} from "./tree_ops.ts";

export type { TreeRoute } from "./tree_ops.ts";

/** The share a hand-over passes on (`TreeRoute.part`). */
type PartRoute = NonNullable<TreeRoute["part"]>;

const logger = getLogger(["ringchat", "peer", "tree"]);

/** `tree` ops kept per link while their text has not arrived, at most. */
export const MAX_HEADERS_PER_LINK = 64;
/** Digests read per link and second, at most (one every 200 ms is the norm). */
export const DIGEST_RATE = 20;
/** Pulls answered per link and second, at most. */
export const PULL_RATE = 20;
/** How long a member whose last link dropped counts as dead (ms). */
export const DEAD_MS = 10_000;
/** Hand-overs of a text I hold already passed on per link and second, at most. */
export const HANDOVER_RATE = 128;
/** Hand-overs remembered (by message and part), so each is passed on once. */
export const MAX_PASSED = 1024;
/** Bare hand-overs of texts I do not hold yet, kept until they arrive, at most (oldest dropped). */
export const MAX_WAITING_HANDOVERS = 256;
/** Longest my texts go on flooding the ring after one of mine flooded it (ms). */
export const SETTLE_MAX_MS = 2_000;

/** What the tree needs from its peer. */
export interface TreeHost {
  place(): Place | null;
  readonly members: Membership;
  /** True for a peer that speaks plain P2PChat only, or floods the ring by choice. */
  readonly ringOnly: boolean;
  /** My ring links (forward and backward). */
  ringLinks(): Link[];
  /** An open link to `member` whose other side speaks ringchat/2 (a ring or finger link). */
  linkTo(member: Member): Link | undefined;
  speaksRingchat(link: Link): boolean;
  /** The bytes of the text `raw` for `link` (text_guard.ts). */
  bytesFor(link: Link, raw: Uint8Array): Uint8Array;
  /** True when `originHid` is a member (my dedup window's view). */
  isMember(originHid: string): boolean;
  report(key: string, type: "info" | "error", message: string): void;
}

/** The timings of the tree. */
export interface TreeOptions {
  /** A hop's time as the pull grace counts it, in ms (default 50). */
  hopMs?: number;
  /** How often a digest goes on each ring link while the room is active, in ms (default 200). */
  digestMs?: number;
  /** How soon a link that brought tree copies gets my digest of their origins, in ms (default 100). */
  ackMs?: number;
  /** Silence after a tree copy that makes its child silent, in ms (default 400, above `ackMs`). */
  suspectMs?: number;
  /** The clock, in ms (default `Date.now`). */
  now?: () => number;
}

/** What the tree did. */
export interface TreeCounts {
  /** Copies sent down the tree (mine and forwarded). */
  sent: number;
  digests: number;
  /** Pulls sent, and messages asked for in them. */
  pulls: number;
  /** Messages sent in answer to pulls. */
  answered: number;
  /** Messages that reached me by a pull first. */
  repaired: number;
  /** Digests sent as acknowledgements of tree copies. */
  acks: number;
  /** Children that went silent (hung) with copies unconfirmed. */
  silent: number;
  /** Copies handed again to the member that took a silent or dead child's part over. */
  resent: number;
  /** Parts I could not reach, handed over on another child's copy. */
  handedOver: number;
  /** Hand-overs I passed on. */
  passedOn: number;
  /** Copies written as `T` to ring links not known to speak ringchat/2 (the safety net). */
  net: number;
}

/** The tree of my room; see the module doc. */
export class TreeRouter {
  readonly counts: TreeCounts = {
    sent: 0,
    digests: 0,
    pulls: 0,
    answered: 0,
    repaired: 0,
    acks: 0,
    silent: 0,
    resent: 0,
    handedOver: 0,
    passedOn: 0,
    net: 0,
  };
  readonly #host: TreeHost;
  readonly #hopMs: number;
  readonly #digestMs: number;
  readonly #ackMs: number;
  readonly #now: () => number;
  #recent: RecentIds;
  #queue: RepairQueue;
  readonly #store: PullStore;
  readonly #watch: ChildWatch;
  /**
   * Members whose links brought tree copies since my last acknowledgement:
   * the link, and the origins. The acknowledgement goes on that link, or on
   * my link with the member now if it closed meanwhile.
   */
  readonly #acks = new Map<string, { link: Link; origins: Set<string> }>();
  #ackTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #watchTimer: DueTimer;
  /** `tree` ops waiting for their text, per link, by `origin/msgId`. */
  readonly #headers = new WeakMap<Link, Map<string, TreeRoute>>();
  readonly #linkIds = new WeakMap<Link, string>();
  readonly #linksById = new Map<string, Link>();
  #nextLinkId = 0;
  readonly #digestRate = new RateLimiter({ ratePerSecond: DIGEST_RATE, burst: DIGEST_RATE });
  readonly #pullRate = new RateLimiter({ ratePerSecond: PULL_RATE, burst: PULL_RATE });
  readonly #handOverRate = new RateLimiter({
    ratePerSecond: HANDOVER_RATE,
    burst: HANDOVER_RATE,
  });
  /** Hand-overs passed on, by `origin/msgId/from`. */
  readonly #passed = new Set<string>();
  /** Bare hand-overs whose text I do not hold yet, by `origin/msgId`. */
  readonly #waitingParts = new Map<string, { part: PartRoute; hops: number }[]>();
  /** Members whose last link with me dropped, and when. */
  readonly #dead = new Map<string, number>();
  #digestTimer: ReturnType<typeof setInterval> | undefined;
  readonly #pullTimer: DueTimer;
  /** Until when my texts flood the ring because one of mine did (`#flooded`). */
  #floodingUntil = -Infinity;
  #closed = false;
  /** Where each member sits in a ring list (by key and by HashID), made once per list. */
  readonly #places = new WeakMap<
    readonly RingMember[],
    { byKey: Map<string, number>; byHid: Map<string, number> }
  >();

  /** A tree for `host`'s room. */
  constructor(host: TreeHost, options: TreeOptions = {}) {
    this.#host = host;
    this.#hopMs = options.hopMs ?? 50;
    this.#digestMs = options.digestMs ?? 200;
    this.#ackMs = options.ackMs ?? 100;
    this.#now = options.now ?? Date.now;
    const suspectMs = options.suspectMs ?? 400;
    if (!(this.#ackMs > 0 && suspectMs > this.#ackMs)) {
      throw new RangeError("The tree's ackMs must be positive and below suspectMs");
    }
    this.#watch = new ChildWatch({ suspectMs, now: this.#now });
    this.#watchTimer = new DueTimer(() => this.#checkSilent(), this.#now);
    this.#pullTimer = new DueTimer(() => this.#pull(), this.#now);
    this.#recent = new RecentIds({ now: this.#now });
    this.#queue = this.#newQueue(2);
    this.#store = new PullStore({ now: this.#now });
  }

  /**
   * The mode of the message I send now: `"tree"` when every member is known
   * to speak ringchat/2 (docs/overlay.md §4), else `"ring"`.
   */
  mode(): OverlayMode {
    const host = this.#host;
    if (host.ringOnly || host.place() === null) return "ring";
    // `messageMode` of the list, from the count Membership keeps through deltas (O(1)).
    return countedMode(host.members.members.length, host.members.speakers());
  }

  /** A `tree`, `digest` or `pull` op on `link`; false for any other op. */
  onOp(link: Link, frame: ExtensionFrame): boolean {
    try {
      if (frame.op === TREE_OP) this.#onHeader(link, frame.body);
      else if (frame.op === DIGEST_OP) this.#onDigest(link, frame.body);
      else if (frame.op === PULL_OP) this.#onPull(link, frame.body);
      else return false;
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.#host.report(
        `${frame.op} ${memberKey(link.peer)}`,
        "error",
        `Dropped a ${frame.op} op from ${link.peer.name}: ${error.message}`,
      );
    }
    return true;
  }

  /**
   * The route of the text `frame` that came on `link`, if a `tree` op headed
   * it (taken once). A hand-over of a text I hold already is passed on here
   * (at most {@linkcode HANDOVER_RATE} a second per link): the relay drops
   * the copy as seen; one I do not hold yet is passed on by `forward`.
   */
  take(link: Link, frame: TextFrame): TreeRoute | undefined {
    const waiting = this.#headers.get(link);
    const key = `${frame.originHid}/${frame.msgId}`;
    const route = waiting?.get(key);
    if (route !== undefined) waiting!.delete(key);
    if (route?.part !== undefined) {
      const stored = this.#store.get(frame.originHid, frame.msgId);
      if (stored !== undefined && this.#handOverRate.take(this.#linkId(link)).allowed) {
        this.#passOn(frame.room, frame.originHid, frame.msgId, stored.raw, route.part, route.hops);
      }
    }
    return route;
  }

  /**
   * Sends my message down the tree when the room is in tree mode and a
   * child is reachable (else false: it floods), and as `T` to ring links not
   * known to speak ringchat/2. Returns the copies sent, or false.
   */
  originate(frame: TextFrame, raw: Uint8Array): number | false {
    const place = this.#host.place();
    if (place === null) return false;
    if (this.mode() !== "tree") return this.#flooded();
    // One of mine flooded the ring a moment ago: this one follows it there, not past it.
    if (this.#now() < this.#floodingUntil) return false;
    const ring = this.#host.members.ring;
    const me = this.#indexOf(ring, place.me);
    if (me < 0) return this.#flooded();
    const down = this.#sendShare(
      frame,
      raw,
      ring,
      me,
      me,
      place.me,
      1,
    );
    // No link reaches a child yet (finger links still coming up): flooded instead.
    if (down === 0) return this.#flooded();
    return down + this.#net(raw);
  }

  /**
   * My text floods the ring: my next ones flood it too for as long as a
   * flood takes to go round (half the ring at `hopMs` a hop, at most
   * {@linkcode SETTLE_MAX_MS}), so that none of them overtakes it down the
   * tree when the room switches to tree mode meanwhile (a newcomer's
   * member-info came, a finger link came up): each origin's texts then
   * reach every member in order, the newcomer that knows nothing of the
   * origin's earlier msgIDs too (origin_order.ts).
   */
  #flooded(): false {
    const n = this.#host.members.ring.length;
    this.#floodingUntil = this.#now() + Math.min(SETTLE_MAX_MS, Math.ceil(n / 2) * this.#hopMs);
    return false;
  }

  /**
   * Forwards a message that came down the tree (`route`) over my share;
   * returns the copies sent. A pulled copy goes on only if I took over the
   * share of a dead member (docs/overlay.md §3).
   */
  forward(frame: TextFrame, raw: Uint8Array, route: TreeRoute): number {
    const place = this.#host.place();
    if (place === null) return 0;
    const ring = this.#host.members.ring;
    const n = ring.length;
    const me = this.#indexOf(ring, place.me);
    const origin = this.#placesOf(ring).byHid.get(frame.originHid) ?? -1;
    if (me < 0) return 0;
    let sent = this.#net(raw);
    if (route.part !== undefined) {
      sent += this.#passOn(frame.room, frame.originHid, frame.msgId, raw, route.part, route.hops);
    }
    const hops = route.hops + 1;
    if (route.pulled) {
      if (origin < 0) return sent;
      const share = pullerShare(n, origin, me, (i) => this.#isDead(ring[i]!));
      if (share === null || !share.took) return sent;
      const limit = ring[share.limit]!;
      sent += this.#sendShare(
        frame,
        raw,
        ring,
        me,
        share.limit,
        limit,
        hops,
      );
      return sent;
    }
    if (route.limit === null) return sent;
    const limitPos = limitPosition(ring, route.limit);
    // An end at my own place would make my share the whole ring: only an origin has that.
    if (limitPos % n === me) return sent;
    sent += this.#sendShare(
      frame,
      raw,
      ring,
      me,
      limitPos,
      route.limit,
      hops,
    );
    return sent;
  }

  /**
   * A message was delivered (by any path, in either mode; `hops` 0 for mine):
   * recorded for digests and kept for pulls; a pull of it is no longer wanted.
   * `pulled`: it came by a pull.
   */
  delivered(frame: TextFrame, raw: Uint8Array, hops: number, pulled: boolean): void {
    if (pulled) this.counts.repaired++;
    this.#recent.add(frame.originHid, frame.msgId);
    this.#store.add(frame.originHid, frame.msgId, raw, hops);
    this.#queue.received(frame.originHid, frame.msgId);
    const key = `${frame.originHid}/${frame.msgId}`;
    const parts = this.#waitingParts.get(key);
    if (parts !== undefined) {
      this.#waitingParts.delete(key);
      for (const { part, hops } of parts) {
        this.#passOn(frame.room, frame.originHid, frame.msgId, raw, part, hops);
      }
    }
    if (this.#digestTimer === undefined && !this.#closed && this.mode() === "tree") {
      this.#digestTimer = setInterval(() => this.#sendDigests(), this.#digestMs);
    }
  }

  /** A link came up: its member is not dead. */
  linkUp(link: Link): void {
    this.#dead.delete(memberKey(link.peer));
  }

  /**
   * A link went down (`lost`: the other side closed it or it failed): its
   * member counts as dead if I have no other link with it.
   */
  linkDown(link: Link, lost: boolean): void {
    const id = this.#linkIds.get(link);
    if (id !== undefined) this.#linksById.delete(id);
    if (lost && this.#host.linkTo(link.peer) === undefined) {
      this.#dead.set(memberKey(link.peer), this.#now());
      // What it never confirmed goes to the member that takes its part over.
      this.#resend(link.peer, this.#watch.lost(link.peer));
    }
  }

  /** I left the room (or changed my name): forget its messages and wants. */
  left(): void {
    this.#stopTimers();
    this.#recent = new RecentIds({ now: this.#now });
    this.#queue = this.#newQueue(2);
    this.#store.clear();
    this.#dead.clear();
    this.#watch.clear();
    this.#acks.clear();
    this.#passed.clear();
    this.#waitingParts.clear();
    this.#floodingUntil = -Infinity;
  }

  /** Stops the timers for good. */
  close(): void {
    this.#closed = true;
    this.#stopTimers();
  }

  #stopTimers(): void {
    clearInterval(this.#digestTimer);
    this.#digestTimer = undefined;
    this.#pullTimer.clear();
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    this.#watchTimer.clear();
  }

  /** A repair queue whose grace is the tree's depth in a ring of `n`, plus two hops. */
  #newQueue(n: number): RepairQueue {
    const graceMs = (Math.ceil(Math.log2(Math.max(n, 2))) + 2) * this.#hopMs;
    return new RepairQueue({ graceMs, now: this.#now });
  }

  #indexOf(ring: readonly RingMember[], member: Member): number {
    return this.#placesOf(ring).byKey.get(memberKey(member)) ?? -1;
  }

  #placesOf(ring: readonly RingMember[]) {
    let places = this.#places.get(ring);
    if (places === undefined) {
      places = { byKey: new Map(), byHid: new Map() };
      for (const [i, m] of ring.entries()) {
        places.byKey.set(memberKey(m), i);
        places.byHid.set(m.hashId.toString(), i);
      }
      this.#places.set(ring, places);
    }
    return places;
  }

  #isDead(member: Member): boolean {
    const since = this.#dead.get(memberKey(member));
    if (since === undefined) return false;
    if (this.#now() - since < DEAD_MS) return true;
    this.#dead.delete(memberKey(member));
    return false;
  }

  /** True for a member dead (its last link dropped lately) or silent (`./child_watch.ts`). */
  #gone(member: Member): boolean {
    return this.#isDead(member) || this.#watch.isSilent(member);
  }

  /**
   * Sends `frame` down my share (from `me` up to `limitPos`), whose end is
   * `limit`. Each part goes to its first member that is not gone
   * ({@linkcode TreeRouter.#inward}); a part none of whose members I have a
   * link with rides as a hand-over on the copy of another child that is a
   * finger of its first member.
   */
  #sendShare(
    frame: TextFrame,
    raw: Uint8Array,
    ring: readonly RingMember[],
    me: number,
    limitPos: number,
    limit: Member,
    hops: number,
  ): number {
    const share = shareIndexes(ring.length, me, limitPos);
    const parts = handOn(share, (i) => i !== me && this.#gone(ring[i]!));
    const copies = new Map<number, TreeRoute>();
    const unreached: { first: number; end: Member }[] = [];
    for (const part of parts) {
      const end = part.limit === null ? limit : ring[part.limit]!;
      const live = share.slice(part.first, part.first + part.span)
        .filter((i) => i !== me && !this.#gone(ring[i]!));
      const inward = this.#inward(ring, live, end, hops);
      if (inward !== null) copies.set(inward.to, inward.route);
      else unreached.push({ first: part.child, end });
    }
    for (const { first, end } of unreached) {
      const helper = [...copies].find(([i, route]) =>
        route.part === undefined && fingerApart(ring.length, i, first)
      );
      if (helper === undefined) continue;
      helper[1].part = { from: ring[first]!, limit: end };
      this.counts.handedOver++;
    }
    let sent = 0;
    for (const [i, route] of copies) {
      const link = this.#host.linkTo(ring[i]!)!;
      if (this.#sendCopy(link, frame.room, frame.originHid, frame.msgId, raw, route)) sent++;
    }
    for (const part of parts) {
      if (part.took) {
        sent += this.#feedSilent(ring, share, part.first, part.child, frame, raw, hops);
      }
    }
    this.counts.sent += sent;
    return sent;
  }

  /**
   * How a part reaches its first member (`live`: its members that are not
   * gone, in ring order, up to `end`): on my link with it, with the part's
   * share; else the first of them I have a link with gets the rest of the
   * share and a hand-over of the members before it (it reaches back to them:
   * its ring predecessor at least is linked to it). Null if I have a link
   * with none of them.
   */
  #inward(
    ring: readonly RingMember[],
    live: readonly number[],
    end: Member,
    hops: number,
  ): { to: number; route: TreeRoute } | null {
    const to = live.find((i) => this.#host.linkTo(ring[i]!) !== undefined);
    if (to === undefined) return null;
    const route: TreeRoute = { hops, limit: end, pulled: false };
    if (to !== live[0]) {
      route.part = { from: ring[live[0]!]!, limit: ring[to]! };
      this.counts.handedOver++;
    }
    return { to, route };
  }

  /**
   * Sends one tree copy (its `tree` op, then the text) on `link`; one that
   * gives the child a share is kept until the child confirms it. True if
   * the text was written.
   */
  #sendCopy(
    link: Link,
    room: string,
    originHid: string,
    msgId: bigint,
    raw: Uint8Array,
    route: TreeRoute,
    again = false,
  ): boolean {
    const header = link.send(treeHeader(room, originHid, msgId, route));
    if (route.bare === true) return header;
    const sent = link.send(this.#host.bytesFor(link, raw));
    if (route.limit !== null) {
      const copy = { originHid, msgId, end: route.limit, hops: route.hops };
      this.#watch.sent(link.peer, copy, again);
      // A copy handed now falls due after any the timer waits for already.
      if (!this.#watchTimer.armed && !this.#closed) this.#watchTimer.at(this.#watch.nextDueAt());
    }
    return sent;
  }

  /**
   * The members of a part before the one that took it over (`share` from
   * `first` up to `child`) that are silent, not dead: each still gets its
   * own copy (pulled: it hands nothing on), so one that was only slow
   * confirms it and gets its part back. Returns the copies sent.
   */
  #feedSilent(
    ring: readonly RingMember[],
    share: readonly number[],
    first: number,
    child: number,
    frame: TextFrame,
    raw: Uint8Array,
    hops: number,
  ): number {
    let sent = 0;
    for (let at = first; at < share.length && share[at] !== child; at++) {
      const member = ring[share[at]!]!;
      if (!this.#watch.isSilent(member) || this.#isDead(member)) continue;
      const link = this.#host.linkTo(member);
      const route = { hops, limit: null, pulled: true };
      if (
        link !== undefined &&
        this.#sendCopy(link, frame.room, frame.originHid, frame.msgId, raw, route)
      ) sent++;
    }
    return sent;
  }

  /**
   * A hand-over (`part`) that came with a copy: the text goes on to the first
   * member of the part that is not gone ({@linkcode TreeRouter.#inward}),
   * once per message and part. Returns the copies sent.
   */
  #passOn(
    room: string,
    originHid: string,
    msgId: bigint,
    raw: Uint8Array,
    part: PartRoute,
    hops: number,
  ): number {
    const place = this.#host.place();
    const key = `${originHid}/${msgId}/${memberKey(part.from)}`;
    if (place === null || this.#passed.has(key)) return 0;
    if (this.#passed.size >= MAX_PASSED) this.#passed.delete(this.#passed.values().next().value!);
    this.#passed.add(key);
    const ring = this.#host.members.ring;
    const n = ring.length;
    const me = this.#indexOf(ring, place.me);
    const from = this.#positionOf(ring, part.from);
    const endPos = limitPosition(ring, part.limit);
    if (me < 0 || endPos % n === from) return 0;
    const live = shareIndexes(n, from, endPos).filter((i) => i !== me && !this.#gone(ring[i]!));
    const inward = this.#inward(ring, live, part.limit, Math.min(hops + 1, MAX_TREE_HOPS));
    if (inward === null) return 0;
    const link = this.#host.linkTo(ring[inward.to]!)!;
    if (!this.#sendCopy(link, room, originHid, msgId, raw, inward.route)) return 0;
    this.counts.passedOn++;
    return 1;
  }

  /** `member`'s index in `ring`, or where it would sort if not listed. */
  #positionOf(ring: readonly RingMember[], member: Member): number {
    const listed = this.#indexOf(ring, member);
    return listed >= 0 ? listed : limitPosition(ring, member) % ring.length;
  }

  /** Children that went silent: their unconfirmed copies go on; the next check is armed. */
  #checkSilent(): void {
    for (const { child, copies } of this.#watch.due()) {
      this.counts.silent++;
      logger.debug("{name} confirmed none of {count} tree copies: its part goes on", {
        name: child.name,
        count: copies.length,
      });
      this.#resend(child, copies);
    }
    if (!this.#closed) this.#watchTimer.at(this.#watch.nextDueAt());
  }

  /**
   * Hands the copies `child` never confirmed (it went silent, or its link
   * dropped) to the first member of its part that is not gone, with the
   * part's end: on my link with it, else as a hand-over through a member I
   * have a link with that is a finger of it (outside the part). That member
   * forwards each down the part, so the subtree is repaired from its top.
   */
  #resend(child: Member, copies: readonly KeptCopy[]): void {
    const place = this.#host.place();
    if (place === null || copies.length === 0) return;
    // A silent child still gets its own copies (pulled: it hands nothing on),
    // in case it was only cut off from me: its part goes to the taker.
    const own = this.#isDead(child) ? undefined : this.#host.linkTo(child);
    for (const copy of own === undefined ? [] : copies) {
      const stored = this.#store.get(copy.originHid, copy.msgId);
      const route = { hops: copy.hops, limit: null, pulled: true };
      if (stored !== undefined) {
        this.#sendCopy(own!, place.room, copy.originHid, copy.msgId, stored.raw, route);
      }
    }
    const ring = this.#host.members.ring;
    const n = ring.length;
    const me = this.#indexOf(ring, place.me);
    if (me < 0) return;
    const from = this.#positionOf(ring, child);
    for (const copy of copies) {
      const stored = this.#store.get(copy.originHid, copy.msgId);
      const endPos = limitPosition(ring, copy.end);
      if (stored === undefined || endPos % n === from) continue;
      const part = shareIndexes(n, from, endPos);
      const live = part.filter((i) => i !== me && !this.#gone(ring[i]!));
      if (live.length === 0) continue;
      const { originHid, msgId } = copy;
      const inward = this.#inward(ring, live, copy.end, copy.hops);
      let link = inward === null ? undefined : this.#host.linkTo(ring[inward.to]!);
      let route = inward?.route;
      if (inward === null) {
        link = this.#helperFor(ring, me, live[0]!, new Set(part));
        // The helper holds the text by now: the op alone, no second copy of it.
        const handed = { from: ring[live[0]!]!, limit: copy.end };
        route = { hops: copy.hops, limit: null, pulled: false, part: handed, bare: true };
      }
      if (
        link !== undefined && this.#sendCopy(link, place.room, originHid, msgId, stored.raw, route!)
      ) {
        this.counts.resent++;
      }
    }
  }

  /**
   * Hands copies a live child still lacks long after (`ChildWatch.heard`) to
   * it once more, on my link with it now, with the same share.
   */
  #handAgain(child: Member, copies: readonly KeptCopy[]): void {
    const room = this.#host.place()?.room;
    const link = this.#host.linkTo(child);
    if (room === undefined || link === undefined) return;
    for (const copy of copies) {
      const stored = this.#store.get(copy.originHid, copy.msgId);
      if (stored === undefined) continue;
      const route = { hops: copy.hops, limit: copy.end, pulled: false };
      if (this.#sendCopy(link, room, copy.originHid, copy.msgId, stored.raw, route, true)) {
        this.counts.resent++;
      }
    }
  }

  /**
   * A member I have a link with, not gone, not me, outside `part`, at a
   * power-of-two distance from `taker` either way (so a finger link joins
   * them), the nearest first; undefined if none.
   */
  #helperFor(
    ring: readonly RingMember[],
    me: number,
    taker: number,
    part: ReadonlySet<number>,
  ): Link | undefined {
    const n = ring.length;
    for (let d = 1; d < n; d *= 2) {
      for (const h of [(taker - d + n) % n, (taker + d) % n]) {
        if (h === me || part.has(h) || this.#gone(ring[h]!)) continue;
        const link = this.#host.linkTo(ring[h]!);
        if (link !== undefined) return link;
      }
    }
    return undefined;
  }

  /** A tree copy came on `link`: its member gets my digest of its origin within `ackMs`. */
  #ackLater(link: Link, originHid: string): void {
    const key = memberKey(link.peer);
    let ack = this.#acks.get(key);
    if (ack === undefined) this.#acks.set(key, ack = { link, origins: new Set() });
    ack.link = link;
    if (ack.origins.size < MAX_DIGEST_ORIGINS) ack.origins.add(originHid);
    if (this.#ackTimer !== undefined || this.#closed) return;
    this.#ackTimer = setTimeout(() => {
      this.#ackTimer = undefined;
      const room = this.#host.place()?.room;
      for (const { link, origins } of this.#acks.values()) {
        const digest = this.#recent.digestOf(origins);
        const on = link.open ? link : this.#host.linkTo(link.peer);
        if (room === undefined || on === undefined || digest.origins.length === 0) continue;
        if (on.send(this.#digestFrame(room, digest))) this.counts.acks++;
      }
      this.#acks.clear();
    }, this.#ackMs);
  }

  #digestFrame(room: string, digest: Digest): Uint8Array {
    return encodeFrame({ type: "X", op: DIGEST_OP, body: digestBody(room, digest) });
  }

  /** The safety net: a tree message as `T` on ring links not known to speak ringchat/2. */
  #net(raw: Uint8Array): number {
    const host = this.#host;
    let sent = 0;
    for (const link of host.ringLinks()) {
      if (!host.speaksRingchat(link) && link.send(raw)) sent++;
    }
    this.counts.net += sent;
    return sent;
  }

  #onHeader(link: Link, body: Record<string, unknown>): void {
    const header = parseTreeHeader(body);
    if (header.room !== this.#host.place()?.room) return;
    const { originHid, msgId, route } = header;
    if (route.bare === true) {
      // A bare hand-over: no text follows; passed on from my own copy, or when it comes.
      if (!this.#handOverRate.take(this.#linkId(link)).allowed) return;
      const stored = this.#store.get(originHid, msgId);
      const part = route.part!, hops = route.hops;
      if (stored !== undefined) {
        return void this.#passOn(header.room, originHid, msgId, stored.raw, part, hops);
      }
      const key = `${originHid}/${msgId}`;
      const waiting = this.#waitingParts.get(key);
      if (waiting !== undefined) {
        if (waiting.length < 4) waiting.push({ part, hops });
        return;
      }
      if (this.#waitingParts.size >= MAX_WAITING_HANDOVERS) {
        this.#waitingParts.delete(this.#waitingParts.keys().next().value!);
      }
      this.#waitingParts.set(key, [{ part, hops }]);
      return;
    }
    let waiting = this.#headers.get(link);
    if (waiting === undefined) this.#headers.set(link, waiting = new Map());
    if (waiting.size >= MAX_HEADERS_PER_LINK) waiting.delete(waiting.keys().next().value!);
    waiting.set(`${header.originHid}/${header.msgId}`, header.route);
    this.#ackLater(link, header.originHid);
  }

  #linkId(link: Link): string {
    let id = this.#linkIds.get(link);
    if (id === undefined) {
      id = String(this.#nextLinkId++);
      this.#linkIds.set(link, id);
    }
    this.#linksById.set(id, link);
    return id;
  }

  #sendDigests(): void {
    const place = this.#host.place();
    const digest = this.#recent.digest();
    if (place === null || digest.origins.length === 0 || this.mode() !== "tree") {
      clearInterval(this.#digestTimer);
      this.#digestTimer = undefined;
      return;
    }
    const bytes = this.#digestFrame(place.room, digest);
    for (const link of this.#host.ringLinks()) {
      if (!this.#host.speaksRingchat(link) || !link.send(bytes)) continue;
      this.counts.digests++;
    }
  }

  #onDigest(link: Link, body: Record<string, unknown>): void {
    const place = this.#host.place();
    const id = this.#linkId(link);
    if (place === null || !this.#digestRate.take(id).allowed) return;
    const { room, digest } = parseDigest(body);
    if (room !== place.room) return;
    // It is live, and confirms the tree copies it holds; one it lacks long after goes again.
    const again = this.#watch.heard(link.peer, digestHoldings(digest));
    if (again.length > 0) this.#handAgain(link.peer, again);
    const wants = diff(this.#recent, digest, {
      maxPull: 64,
      accept: (hid) => this.#host.isMember(hid),
    });
    if (wants.length === 0) return;
    // The grace grows with the ring; a new queue only when the depth changed.
    const n = this.#host.members.ring.length;
    if (this.#queue.size === 0) this.#queue = this.#newQueue(n);
    // The member before me on the ring dials me: its link is my backward one.
    const preferred = link.direction === "backward" && this.#host.ringLinks().includes(link);
    this.#queue.heard(wants, id, preferred);
    this.#schedulePulls();
  }

  #schedulePulls(): void {
    if (!this.#closed) this.#pullTimer.at(this.#queue.nextDueAt());
  }

  #pull(): void {
    const place = this.#host.place();
    if (place === null) return;
    for (const [id, due] of this.#queue.due()) {
      // Oldest first (a digest names each origin's highest first): the answer comes in the
      // order asked, so a run of lost texts is shown in its own order (origin_order.ts).
      const wants = inOriginOrder(due, (w) => w.msgId);
      const link = this.#linksById.get(id);
      if (link === undefined || !link.open) continue;
      for (let i = 0; i < wants.length; i += 64) {
        if (link.send(pullOp(place.room, wants.slice(i, i + 64)))) this.counts.pulls++;
      }
      logger.debug("Pulled {count} messages from {name}", {
        count: wants.length,
        name: link.peer.name,
      });
    }
    this.#schedulePulls();
  }

  #onPull(link: Link, body: Record<string, unknown>): void {
    const place = this.#host.place();
    if (place === null || !this.#pullRate.take(this.#linkId(link)).allowed) return;
    const { room, wants } = parsePull(body);
    if (room !== place.room) return;
    // Answered oldest first, whatever order the puller asked in.
    for (const want of inOriginOrder(wants, (w) => w.msgId)) {
      const stored = this.#store.get(want.originHid, want.msgId);
      if (stored === undefined) continue;
      const route = { hops: Math.min(stored.hops + 1, 1024), limit: null, pulled: true };
      link.send(treeHeader(room, want.originHid, want.msgId, route));
      if (link.send(this.#host.bytesFor(link, stored.raw))) this.counts.answered++;
    }
  }
}
