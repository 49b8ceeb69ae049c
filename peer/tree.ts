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
import { messageMode, type OverlayMode } from "../lib/overlay_mode.ts";
import { memberKey, type RingMember } from "../lib/ring.ts";
import { handOn, limitPosition, pullerShare, shareIndexes } from "../lib/tree_shares.ts";
import { ProtocolError } from "../lib/errors.ts";
import { diff, digestBody, parseDigest, RecentIds } from "./digest.ts";
import type { Link } from "./links.ts";
import type { Membership } from "./membership.ts";
import { PullStore } from "./pull_store.ts";
import { RateLimiter } from "./rate_limit.ts";
import { RepairQueue } from "./repair_queue.ts";
import { inOriginOrder } from "./origin_order.ts";
import type { Place } from "./state.ts";
import {
  DIGEST_OP,
  parsePull,
  parseTreeHeader,
  PULL_OP,
  pullOp,
  TREE_OP,
  treeHeader,
  type TreeRoute,
} from "./tree_ops.ts";

export type { TreeRoute } from "./tree_ops.ts";

const logger = getLogger(["ringchat", "peer", "tree"]);

/** `tree` ops kept per link while their text has not arrived, at most. */
export const MAX_HEADERS_PER_LINK = 64;
/** Digests read per link and second, at most (one every 200 ms is the norm). */
export const DIGEST_RATE = 20;
/** Pulls answered per link and second, at most. */
export const PULL_RATE = 20;
/** How long a member whose last link dropped counts as dead (ms). */
export const DEAD_MS = 10_000;
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
    net: 0,
  };
  readonly #host: TreeHost;
  readonly #hopMs: number;
  readonly #digestMs: number;
  readonly #now: () => number;
  #recent: RecentIds;
  #queue: RepairQueue;
  readonly #store: PullStore;
  /** `tree` ops waiting for their text, per link, by `origin/msgId`. */
  readonly #headers = new WeakMap<Link, Map<string, TreeRoute>>();
  readonly #linkIds = new WeakMap<Link, string>();
  readonly #linksById = new Map<string, Link>();
  #nextLinkId = 0;
  readonly #digestRate = new RateLimiter({ ratePerSecond: DIGEST_RATE, burst: DIGEST_RATE });
  readonly #pullRate = new RateLimiter({ ratePerSecond: PULL_RATE, burst: PULL_RATE });
  /** Members whose last link with me dropped, and when. */
  readonly #dead = new Map<string, number>();
  #digestTimer: ReturnType<typeof setInterval> | undefined;
  #pullTimer: ReturnType<typeof setTimeout> | undefined;
  #pullAt = Infinity;
  /** Until when my texts flood the ring because one of mine did (`#flooded`). */
  #floodingUntil = -Infinity;
  #closed = false;
  #modeCache: { ring: readonly RingMember[]; at: number; mode: OverlayMode } | undefined;
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
    this.#now = options.now ?? Date.now;
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
    return messageMode(host.members.ring, (m) => host.members.speaksRingchat(m) === true);
  }

  /** {@linkcode mode}, asked again at most once a second for one list (the digest timer's). */
  #recentMode(): OverlayMode {
    const ring = this.#host.members.ring, now = this.#now();
    const cached = this.#modeCache;
    if (cached?.ring === ring && now - cached.at < 1000) return cached.mode;
    const mode = this.mode();
    this.#modeCache = { ring, at: now, mode };
    return mode;
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

  /** The route of the text `frame` that came on `link`, if a `tree` op headed it (taken once). */
  take(link: Link, frame: TextFrame): TreeRoute | undefined {
    const waiting = this.#headers.get(link);
    const key = `${frame.originHid}/${frame.msgId}`;
    const route = waiting?.get(key);
    if (route !== undefined) waiting!.delete(key);
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
      (i) => this.#unreachable(ring, i),
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
        (i) => this.#unreachable(ring, i),
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
      (i) => this.#unreachable(ring, i),
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
    }
  }

  /** I left the room (or changed my name): forget its messages and wants. */
  left(): void {
    this.#stopTimers();
    this.#recent = new RecentIds({ now: this.#now });
    this.#queue = this.#newQueue(2);
    this.#store.clear();
    this.#dead.clear();
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
    clearTimeout(this.#pullTimer);
    this.#pullTimer = undefined;
    this.#pullAt = Infinity;
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

  /** True when I cannot hand a part to the member at `i`: dead, or no ringchat link with it. */
  #unreachable(ring: readonly RingMember[], i: number): boolean {
    const member = ring[i]!;
    return this.#isDead(member) || this.#host.linkTo(member) === undefined;
  }

  /** Sends `frame` down my share (from `me` up to `limitPos`), whose end is `limit`. */
  #sendShare(
    frame: TextFrame,
    raw: Uint8Array,
    ring: readonly RingMember[],
    me: number,
    limitPos: number,
    limit: Member,
    hops: number,
    isDead: (index: number) => boolean,
  ): number {
    const share = shareIndexes(ring.length, me, limitPos);
    let sent = 0;
    for (const part of handOn(share, (i) => i !== me && isDead(i))) {
      const link = this.#host.linkTo(ring[part.child]!);
      if (link === undefined) continue;
      const end = part.limit === null ? limit : ring[part.limit]!;
      const route = { hops, limit: end, pulled: false };
      link.send(treeHeader(frame.room, frame.originHid, frame.msgId, route));
      if (link.send(this.#host.bytesFor(link, raw))) sent++;
    }
    this.counts.sent += sent;
    return sent;
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
    let waiting = this.#headers.get(link);
    if (waiting === undefined) this.#headers.set(link, waiting = new Map());
    if (waiting.size >= MAX_HEADERS_PER_LINK) waiting.delete(waiting.keys().next().value!);
    waiting.set(`${header.originHid}/${header.msgId}`, header.route);
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
    if (place === null || digest.origins.length === 0 || this.#recentMode() !== "tree") {
      clearInterval(this.#digestTimer);
      this.#digestTimer = undefined;
      return;
    }
    const bytes = encodeFrame({ type: "X", op: DIGEST_OP, body: digestBody(place.room, digest) });
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
    const wants = diff(this.#recent, digest, {
      maxPull: 64,
      accept: (hid) => this.#host.isMember(hid),
    });
    if (wants.length === 0) return;
    // The grace grows with the ring; a new queue only when the depth changed.
    const n = this.#host.members.ring.length;
    if (this.#queue.size === 0) this.#queue = this.#newQueue(n);
    // The member before me on the ring dials me: its link is my backward one.
    this.#queue.heard(wants, id, link.direction === "backward");
    this.#schedulePulls();
  }

  #schedulePulls(): void {
    const next = this.#queue.nextDueAt();
    if (next === null || next >= this.#pullAt || this.#closed) return;
    clearTimeout(this.#pullTimer);
    this.#pullAt = next;
    this.#pullTimer = setTimeout(() => {
      this.#pullTimer = undefined;
      this.#pullAt = Infinity;
      this.#pull();
    }, Math.max(0, next - this.#now()));
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
