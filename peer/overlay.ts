/**
 * The peer's place in the ring (PROTOCOL.md §6): the forward link it chooses
 * (walking the ring from its successor, retrying while none answers), the
 * backward links it accepts (each handshake checked against the member list,
 * looking members up when the list is behind), and the repairs when a link
 * drops. Messages on the links go to the host's `onText`.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { encodeFrame, type ExtensionFrame, type Member } from "../lib/frames.ts";
import { memberKey, type RingMember, ringSuccessor, ringWalk } from "../lib/ring.ts";
import { hashId } from "../lib/sdbm.ts";
import type { LinkPeer, PeerEvent } from "./events.ts";
import type { RecentFrames, SeenWindow } from "./flood.ts";
import { describe } from "./errors.ts";
import { EclipseWatch } from "./eclipse.ts";
import { FINGER_MAX_WAIT_MS, FINGER_SETTLE_MS, FingerLinks } from "./fingers_links.ts";
import type { Identity } from "./identity.ts";
import { LinkAcceptor } from "./link_acceptor.ts";
import { isAuthOp, LinkAuth, type LinkRole } from "./link_auth.ts";
import {
  dial,
  type Greeted,
  Link,
  type LinkHandlers,
  linkMaxFrameBytes,
  type LinkOptions,
  type Probed,
} from "./links.ts";
import { type Membership, sameMember } from "./membership.ts";
import type { Place } from "./state.ts";

export type { Place } from "./state.ts";

const logger = getLogger(["ringchat", "peer", "overlay"]);

/** The timings and limits the overlay uses. */
export interface OverlayOptions {
  handshakeTimeoutMs: number;
  frameTimeoutMs: number;
  retryMs: number;
  maxTextBytes: number;
  maxQueuedBytes: number;
  maxHandshakes: number;
  /** Finger links are chosen once the list is this many ms unchanged (fingers_links.ts). */
  fingerSettleMs?: number;
  /** ... or at most this many ms after the first change not chosen yet (fingers_links.ts). */
  fingerMaxWaitMs?: number;
}

/** What the overlay needs from its peer. */
export interface OverlayHost {
  /** My place while joined, else null. */
  place(): Place | null;
  /** My place for a handshake (after a JOIN under way), or why there is none. */
  placeForHandshake(): Promise<Place | string>;
  /** True once quitting. */
  quitting(): boolean;
  readonly members: Membership;
  readonly seen: SeenWindow;
  readonly recent: RecentFrames;
  /** My last msgID (sent in `P` and `S`). */
  lastMsgId(): bigint;
  /** Re-sends my JOIN (a repair, or after a failed attempt). */
  refresh(): Promise<unknown>;
  /** Looks up members I do not know (throttled re-JOIN). */
  lookUp(): Promise<unknown>;
  /** A `T` frame arrived on a link. */
  onText: LinkHandlers["onText"];
  /** My key pair, proved on links to members the member-info gives a key (link_auth.ts). */
  readonly identity?: Identity | null;
  /** An `X` frame other than link authentication arrived on a link. */
  onExtension?(link: Link, frame: ExtensionFrame): void;
  /** A connection opened with an `X` frame (a probe). */
  probe?(probed: Probed): void;
  /** A link came up or its other side proved its key (`down`: it went down) (history_sync.ts). */
  linkChanged?(link: Link, down: boolean): void;
  /** The bytes of the frame `raw` for `link` (text_guard.ts). */
  bytesFor?(link: Link, raw: Uint8Array): Uint8Array;
  /** True while my messages go down the broadcast tree: finger links are kept then (tree.ts). */
  treeMode?(): boolean;
  /**
   * A link of any kind (ring or finger) came up or went down; `lost`: the
   * other side closed it or it failed (tree.ts counts its member dead).
   */
  anyLinkChanged?(link: Link, down: boolean, lost: boolean): void;
  emit(event: PeerEvent): void;
  report(key: string, type: "info" | "error", message: string): void;
  track<T>(promise: Promise<T>): Promise<T>;
}

/** The other end of a link, as events show it. */
export function linkPeer(member: Member): LinkPeer {
  return { name: member.name, ip: member.ip, port: member.port };
}

/** The forward and backward links; see the module doc. */
export class Overlay {
  readonly #host: OverlayHost;
  readonly #opts: OverlayOptions;
  readonly #abort = new AbortController();
  readonly #linkHandlers: LinkHandlers;
  readonly #linkOptions: LinkOptions;
  readonly #maxFrameBytes: number;
  #forward: Link | null = null;
  readonly #backward = new Set<Link>();
  /** Links that take no more frames but are still finishing their writes and reads. */
  readonly #ending = new Set<Link>();
  readonly #acceptor: LinkAcceptor;
  #linking: Promise<void> | null = null;
  #relinkAgain = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #linkWaiters = new Set<() => void>();
  /** Set once eclipsed (eclipse.ts): forward links go to members that speak ringchat/2 first. */
  #ringchatFirst = false;
  readonly #eclipse = new EclipseWatch();
  /** The authentications of handshakes under way, with the member each is with. */
  readonly #handshaking = new Map<LinkAuth, Member>();
  /** Links whose other side has a challenge of mine to prove, with its deadline. */
  readonly #proofTimers = new Map<Link, ReturnType<typeof setTimeout>>();
  /** The finger links of the broadcast tree (fingers_links.ts). */
  readonly #fingers: FingerLinks;

  /** An overlay with no links yet. */
  constructor(host: OverlayHost, options: OverlayOptions) {
    this.#host = host;
    this.#opts = options;
    this.#linkOptions = {
      graceMs: options.handshakeTimeoutMs,
      frameTimeoutMs: options.frameTimeoutMs,
      maxTextBytes: options.maxTextBytes,
      maxQueuedBytes: options.maxQueuedBytes,
    };
    this.#maxFrameBytes = linkMaxFrameBytes(options.maxTextBytes);
    this.#acceptor = new LinkAcceptor({
      ...host,
      signal: this.#abort.signal,
      adopt: (greeted, member) => this.#adopt(greeted, member),
      // A member skipped while its handshake was checked is a candidate again.
      refused: () => {
        if (this.#forward === null) this.relink();
      },
      authFor: (hello, member) => this.#authFor(hello, member, "accept"),
      handshaken: (auth) => this.#handshaken(auth),
      verifiedLinkFrom: (member) =>
        this.all().some((l) => sameMember(l.peer, member) && l.auth?.verified === true),
      probe: (probed) => {
        // A finger hello's handshake (its key proof) holds its slot; other probes do not.
        const finger = this.#fingers.accept(probed);
        if (finger !== null) return finger;
        if (host.probe !== undefined) host.probe(probed);
        else probed.conn.close();
        return undefined;
      },
    }, { ...options, maxFrameBytes: this.#maxFrameBytes });
    this.#linkHandlers = {
      onText: (link, frame, raw, content) => host.onText(link, frame, raw, content),
      onClose: (link, reason, error) => this.#onLinkClose(link, reason, error),
      onExtension: (link, frame) => this.#onExtension(link, frame),
      onRejected: (link, reason) =>
        host.report(
          `rejected ${memberKey(link.peer)}`,
          "error",
          `Dropped ${reason} on the link with ${link.peer.name}`,
        ),
    };
    this.#fingers = new FingerLinks({
      place: () => host.place(),
      members: host.members,
      treeMode: () => host.treeMode?.() ?? false,
      ringLinked: (member) => this.all().some((l) => sameMember(l.peer, member)),
      handlers: this.#linkHandlers,
      changed: (link, down, reason) => host.anyLinkChanged?.(link, down, down && lostLink(reason)),
      linkOptions: this.#linkOptions,
      maxFrameBytes: this.#maxFrameBytes,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      retryMs: options.retryMs,
      settleMs: options.fingerSettleMs ?? FINGER_SETTLE_MS,
      maxWaitMs: options.fingerMaxWaitMs ?? FINGER_MAX_WAIT_MS,
      signal: this.#abort.signal,
      track: (promise) => host.track(promise),
      authFor: (claim, member, role) => this.#authFor(claim, member, role),
      handshaken: (auth) => this.#handshaken(auth),
      report: (key, type, message) => host.report(key, type, message),
    });
  }

  /** The finger links (open only while the room is in tree mode). */
  get fingers(): Link[] {
    return this.#fingers.all();
  }

  /**
   * The link a tree message to `member` goes on: a ring link whose other
   * side speaks ringchat/2 (`speaks`), else a finger link; undefined if none.
   */
  treeLinkTo(member: Member, speaks: (link: Link) => boolean): Link | undefined {
    for (const link of this.all()) {
      if (link.open && sameMember(link.peer, member) && speaks(link)) return link;
    }
    return this.#fingers.linkTo(member);
  }

  /** Chooses the finger links again (the member list or its info changed), or once it settles. */
  refingers(): void {
    this.#fingers.update();
  }

  /** How many times the finger links were chosen (a burst of changes counts once: fingers_links.ts). */
  get fingerChoices(): number {
    return this.#fingers.choices;
  }

  /** The forward link, if any. */
  get forward(): Link | null {
    return this.#forward;
  }

  /** The backward links. */
  get backward(): Link[] {
    return [...this.#backward];
  }

  /** Every open link, the forward one first. */
  all(): Link[] {
    const links = [...this.#backward];
    if (this.#forward !== null) links.unshift(this.#forward);
    return links;
  }

  /** Links up: forward (0 or 1) plus backward. */
  get count(): number {
    return this.#backward.size + (this.#forward === null ? 0 : 1);
  }

  /** Bytes queued for writing on every link, those ending included. */
  get queuedBytes(): number {
    let bytes = 0;
    for (const link of [...this.all(), ...this.#ending]) bytes += link.queuedBytes;
    return bytes;
  }

  /** The "links" event: my forward and backward links. */
  linksEvent(): Extract<PeerEvent, { type: "links" }> {
    const forward = this.#forward;
    return {
      type: "links",
      forward: forward === null ? null : linkPeer(forward.peer),
      backward: this.backward.map((link) => linkPeer(link.peer)),
    };
  }

  /** The "members" event: the member list with my links marked (by name, as renderers match). */
  membersEvent(): Extract<PeerEvent, { type: "members" }> {
    const members = this.#host.members;
    return {
      type: "members",
      msid: members.msid.toString(),
      members: members.infos(),
      forward: this.#forward?.peer.name ?? null,
      backward: this.backward.map((link) => link.peer.name),
    };
  }

  /** Accepts connections from `listener` until it closes. */
  serve(listener: Deno.TcpListener): Promise<void> {
    return this.#host.track(this.#acceptor.serve(listener));
  }

  /** Closes the links that departed members hold (see `Membership.absentLinks`). */
  dropAbsent(now: number, room: string): void {
    const links = this.all();
    const gone = new Set(this.#host.members.absentLinks(links.map((l) => l.peer), now));
    for (const link of links) {
      if (!gone.has(link.peer)) continue;
      const { name, ip, port } = link.peer;
      this.#host.emit({
        type: "info",
        message:
          `Closing the link with ${name} (${ip}:${port}): no longer a member of room ${room}`,
      });
      link.close("No longer a member", false, false);
    }
  }

  /** Chooses a forward link now (or once the attempt running ends). */
  relink(): void {
    if (this.#host.place() === null || this.#host.quitting()) return;
    this.#fingers.update();
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#linking !== null) {
      this.#relinkAgain = true;
      return;
    }
    this.#linking = this.#host.track(this.#linkLoop());
  }

  /**
   * While the overlay is being repaired (a forward link attempt running or
   * scheduled), waits up to `handshakeTimeoutMs` for a link. True if one is up.
   */
  async awaitLink(closed: Promise<void>): Promise<boolean> {
    if (this.count > 0) return true;
    if (this.#linking === null && this.#retryTimer === undefined) return false;
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(resolve, this.#opts.handshakeTimeoutMs);
    const wake = () => {
      if (this.count > 0 || this.#host.quitting()) resolve();
    };
    this.#linkWaiters.add(wake);
    try {
      await Promise.race([promise, closed]);
    } finally {
      clearTimeout(timer);
      this.#linkWaiters.delete(wake);
    }
    return this.count > 0;
  }

  /** Stops dialling and retrying, closes every link; resolves when they are done. */
  async close(): Promise<void> {
    clearTimeout(this.#retryTimer);
    this.#abort.abort(new Error("Quit"));
    this.#fingers.closeAll("Quit");
    const links = [...this.all(), ...this.#ending];
    for (const link of this.#ending) link.close("Quit", false, false);
    // Open links first write what is queued (within the grace time).
    for (const link of this.all()) link.close("Quit");
    for (const wake of [...this.#linkWaiters]) wake();
    await Promise.allSettled(links.map((link) => link.done()));
    await this.#fingers.done();
  }

  /**
   * I left the room: closes every link (each writes what it has queued
   * first) and stops retrying; dialling and accepting go on for the next
   * room. With `only`, closes those links (of my name before a nick) and
   * no other. Resolves when the links are done.
   */
  async leave(only?: readonly Link[]): Promise<void> {
    if (only === undefined) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
    }
    const links = only ?? [...this.all(), ...this.#ending];
    if (only === undefined) this.#fingers.closeAll("Left the room");
    for (const link of only ?? this.all()) link.close("Left the room");
    await Promise.allSettled(links.map((link) => link.done()));
    if (only === undefined) await this.#fingers.done();
  }

  /** Clears a retry scheduled meanwhile (after every task ended). */
  stopRetrying(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  /**
   * Checks for an eclipse at `now` (eclipse.ts): when my links have reached
   * no member that speaks ringchat/2 for its grace time while the
   * member-info lists others, my forward link goes to the first of those on
   * the ring instead (skipping the members I link with now). True when it relinked.
   */
  watchEclipse(now: number): boolean {
    const place = this.#host.place();
    const members = this.#host.members;
    if (place === null) return false;
    const others = members.members.some((m) =>
      !sameMember(m, place.me) && members.speaksRingchat(m) === true
    );
    // A link whose other side spoke ringchat/2 on it counts, listed so or not (yet).
    const reached = this.all().some((l) =>
      members.speaksRingchat(l.peer) === true || l.auth?.speaksRingchat === true
    );
    if (!this.#eclipse.update(now, others && !reached)) return false;
    const suspects = this.all().map((l) => l.peer.name).join(", ") || "none";
    this.#host.emit({
      type: "error",
      message: `No link reaches a ringchat member of room ${place.room} (links: ${suspects}); ` +
        `linking forward to one that speaks ringchat/2`,
    });
    this.#ringchatFirst = true;
    // The forward link is replaced even if it is the closest on the ring.
    const forward = this.#forward;
    if (forward !== null && members.speaksRingchat(forward.peer) !== true) {
      forward.end("Replaced: it reaches no ringchat member (eclipse)");
    } else this.relink();
    return true;
  }

  /**
   * The member-info changed: links to members it now gives a key (or a new
   * one) must prove it (a challenge, answered within `handshakeTimeoutMs`),
   * and challenges that waited for a member's key are answered.
   */
  reauthenticate(fingers = true): void {
    // The info may have changed who speaks ringchat/2, and so the mode (unless a relink,
    // which updates the fingers, follows: `fingers` false).
    if (fingers && this.#host.place() !== null && !this.#host.quitting()) this.#fingers.update();
    // A handshake under way answers a challenge that waited for this key.
    // A key missing from the info (a registry that restarted and has not relisted the member
    // yet) changes nothing: only a key given, or a new one, does.
    for (const [auth, member] of this.#handshaking) {
      const key = this.#host.members.keyOf(member) ?? undefined;
      if (key === undefined || key === auth.peerKey) continue;
      this.#host.track(auth.setPeerKey(key)).then((reply) => {
        if (reply !== undefined) auth.sink?.(reply);
      });
    }
    for (const link of this.all()) {
      const auth = link.auth;
      if (auth === undefined) continue;
      const key = this.#host.members.keyOf(link.peer) ?? undefined;
      if (key === undefined || key === auth.peerKey) continue;
      this.#host.track(auth.setPeerKey(key)).then((reply) => {
        if (reply !== undefined) link.send(reply);
        if (!auth.required || !link.open) return;
        link.send(auth.challenge());
        this.#awaitProof(link);
      });
    }
  }

  /**
   * The authentication of a link (ring or finger) with `member` (`hello`: my
   * P or finger hello, or its own).
   */
  #authFor(hello: Member, member: RingMember, role: LinkRole): LinkAuth | undefined {
    const place = this.#host.place();
    if (place === null) return undefined;
    const claim = { name: hello.name, ip: hello.ip, port: hello.port };
    const auth = new LinkAuth({
      identity: this.#host.identity ?? null,
      room: place.room,
      me: role === "link" ? claim : place.me,
      peer: role === "link" ? member : claim,
      peerKey: this.#host.members.keyOf(member) ?? undefined,
      role,
    });
    this.#handshaking.set(auth, member);
    return auth;
  }

  /** The handshake of `auth` ended (a link, or not). */
  #handshaken(auth: LinkAuth | undefined): void {
    if (auth !== undefined) this.#handshaking.delete(auth);
  }

  /** Drops `link` unless its other side proves its key within `handshakeTimeoutMs`. */
  #awaitProof(link: Link): void {
    clearTimeout(this.#proofTimers.get(link));
    this.#proofTimers.set(
      link,
      setTimeout(() => {
        this.#proofTimers.delete(link);
        if (link.auth?.verified !== true) {
          link.close("It did not prove the key the registry gave for it in time", true, false);
        }
      }, this.#opts.handshakeTimeoutMs),
    );
  }

  /** An `X` frame on a link: link authentication here, the rest to the host. */
  #onExtension(link: Link, frame: ExtensionFrame): void {
    const auth = link.auth;
    if (auth === undefined || !isAuthOp(frame.op)) {
      return this.#host.onExtension?.(link, frame);
    }
    this.#host.track(auth.handle(frame)).then((outcome) => {
      if (outcome.kind === "failed") {
        return link.close(`Refused its key: ${outcome.why}`, true, false);
      }
      if (outcome.kind === "proved") {
        clearTimeout(this.#proofTimers.get(link));
        this.#proofTimers.delete(link);
        logger.debug("{name} proved its key", { name: link.peer.name });
        this.#host.linkChanged?.(link, false);
      } else if (outcome.reply !== undefined) link.send(outcome.reply);
    });
  }

  /** True when `member` links back to me, or is handshaking to do so. */
  #linksBack(member: Member): boolean {
    for (const link of this.#backward) if (sameMember(link.peer, member)) return true;
    return this.#acceptor.greeting(member);
  }

  /**
   * Takes an accepted, checked connection from `member` as a backward link
   * (PROTOCOL.md §6, Backward links): answers `S` with my last msgID.
   */
  #adopt(greeted: Greeted, member: RingMember): void {
    const { hello } = greeted;
    // Its last msgID went back: it restarted, forget what it sent before (by
    // HashID, and by name for clients that put the name in originHID).
    const seen = this.#host.seen;
    seen.handshake(member.hashId.toString(), hello.msgId);
    seen.handshake(member.name, hello.msgId);
    if (hello.name !== member.name || hello.ip !== member.ip) {
      seen.handshake(hashId(hello.name, hello.ip, hello.port).toString(), hello.msgId);
    }
    // A member has one forward link: an older link from it is stale.
    for (const old of [...this.#backward]) {
      if (sameMember(old.peer, member)) old.end("Replaced by a new link from the same member");
    }
    const link = new Link(greeted, "backward", member, this.#linkHandlers, this.#linkOptions);
    link.send(encodeFrame({ type: "S", msgId: this.#host.lastMsgId() }));
    this.#backward.add(link);
    link.start();
    this.#host.track(link.done());
    this.#linkUp(link);
    this.#breakTwoCycle();
  }

  /**
   * Two members that linked to each other at once (a 2-cycle) waste a link:
   * the one with the higher HashID gives up its forward link and walks on.
   */
  #breakTwoCycle(): void {
    const forward = this.#forward;
    const place = this.#host.place();
    // Only a backward link already made counts (adopting one calls this again): giving up the
    // forward link for a handshake still being checked would leave no link meanwhile.
    if (forward === null || place === null) return;
    if (!this.backward.some((link) => sameMember(link.peer, forward.peer))) return;
    if (place.me.hashId < forward.peer.hashId) return;
    forward.end("Replaced: that member already links to me");
  }

  async #linkLoop(): Promise<void> {
    try {
      do {
        this.#relinkAgain = false;
        await this.#linkOnce();
      } while (this.#relinkAgain && !this.#host.quitting());
    } finally {
      this.#linking = null;
    }
  }

  /**
   * Walks the ring from my successor (PROTOCOL.md §6, Join step 2). With a
   * forward link already, only the members before it in that order are tried:
   * a better one replaces it, so the ring converges to each member linking to
   * its successor as the member lists catch up.
   */
  async #linkOnce(): Promise<void> {
    const host = this.#host;
    const place = host.place();
    if (place === null) return;
    const { me, room } = place;
    const current = this.#forward;
    // A live forward link to a member missing from the list is kept while its
    // grace lasts (`dropAbsent` ends it after): after a registry restart the
    // lists come back one re-registration at a time.
    if (current !== null && host.members.find(current.peer) === undefined) return;
    const listed = host.members.msid;
    // The ring walked lazily (lib/ring.ts ringWalk): a walk that stops at my
    // forward link, or at the first member that answers, costs only its steps.
    const ring = host.members.ring;
    const ringchatOnly = this.#ringchatFirst &&
      ring.some((m) =>
        !sameMember(m, me) && !this.#linksBack(m) && host.members.speaksRingchat(m) === true
      );
    const candidates = function* (overlay: Overlay) {
      for (const m of ringWalk(ring, me)) {
        if (overlay.#linksBack(m)) continue;
        if (ringchatOnly && host.members.speaksRingchat(m) !== true) continue;
        yield m;
      }
    };
    const failures: string[] = [];
    // A member that just joined links to me first; if it has not in time, it is tried as any.
    // (Only members before my forward link can be dialled: the walk stops at it.)
    const awaited = new Map<RingMember, number>();
    for (const m of candidates(this)) {
      if (current !== null && sameMember(m, current.peer)) break;
      awaited.set(m, this.#awaitingMs(m, me, (member) => ringSuccessor(ring, member)));
    }
    const awaitedMs = Math.max(0, ...awaited.values());
    if (awaitedMs > 0) this.#relinkIn(awaitedMs);
    for (const candidate of candidates(this)) {
      if (host.quitting()) return;
      if (current !== null && sameMember(candidate, current.peer)) return;
      if (this.#linksBack(candidate) || awaited.get(candidate)! > 0) continue;
      const hello = {
        type: "P" as const,
        room,
        name: me.name,
        ip: me.ip,
        port: me.port,
        msgId: host.lastMsgId(),
      };
      const auth = this.#authFor(hello, candidate, "link");
      let dialed;
      try {
        dialed = await dial(
          candidate,
          hello,
          this.#opts.handshakeTimeoutMs,
          this.#abort.signal,
          this.#maxFrameBytes,
          auth,
        );
      } catch (error) {
        failures.push(`${candidate.name} (${candidate.ip}:${candidate.port}): ${describe(error)}`);
        continue;
      } finally {
        this.#handshaken(auth);
      }
      const link = new Link(dialed, "forward", candidate, this.#linkHandlers, this.#linkOptions);
      if (host.quitting() || host.place()?.me !== me) {
        link.close("Quit");
        return;
      }
      if (dialed.msgId !== null) {
        host.seen.handshake(candidate.hashId.toString(), dialed.msgId);
        host.seen.handshake(candidate.name, dialed.msgId);
      }
      const old = this.#forward;
      this.#forward = link;
      link.start();
      host.track(link.done());
      if (auth?.pending) this.#awaitProof(link);
      this.#linkUp(link);
      if (old !== null) old.end("Replaced by a forward link closer on the ring");
      this.#breakTwoCycle();
      return;
    }
    // The list changed while I dialled (a member left or took a new name): walk the new one.
    if (failures.length > 0 && host.members.msid !== listed && host.place() !== null) {
      this.#relinkAgain = true;
      return;
    }
    // Every candidate failed (not merely skipped): report it and try again later.
    if (this.#forward === null && failures.length > 0 && !host.quitting()) {
      host.emit({
        type: "info",
        message: `No forward link (${failures.join("; ")}); retrying in ${this.#opts.retryMs} ms`,
      });
      this.#relinkIn(this.#opts.retryMs, () => host.refresh());
    }
  }

  /** Relinks in `ms` (after `first`), instead of any relink scheduled before. */
  #relinkIn(ms: number, first?: () => Promise<unknown>): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (first === undefined) this.relink();
      else this.#host.track(first()).finally(() => this.relink());
    }, ms);
  }

  /**
   * How long `member` is still given to link to me first (ms; 0: not awaited).
   * A member that joined after me dials its successor (PROTOCOL.md §6, Join
   * step 2): when that is me and I dialled it too, one of the two links would
   * be dropped again (a 2-cycle), and which one by HashID, not by who joined.
   * A pushed member list tells me of it before its handshake can arrive, so I
   * give it a handshake's time first.
   */
  #awaitingMs(
    member: RingMember,
    me: Member,
    successorOf: (member: RingMember) => RingMember | undefined,
  ): number {
    const since = this.#host.members.listedSince(member);
    if (since === null) return 0;
    const left = since + this.#opts.handshakeTimeoutMs - Date.now();
    if (left <= 0) return 0;
    const successor = successorOf(member);
    return successor !== undefined && sameMember(successor, me) ? left : 0;
  }

  #onLinkClose(link: Link, reason: string, error: boolean): void {
    clearTimeout(this.#proofTimers.get(link));
    this.#proofTimers.delete(link);
    const peer = linkPeer(link.peer);
    this.#ending.add(link);
    link.done().finally(() => this.#ending.delete(link));
    if (error) {
      this.#host.emit({
        type: "error",
        message: `Link with ${peer.name} (${peer.ip}:${peer.port}) dropped: ${reason}`,
      });
    } else logger.debug("Link with {name} closed: {reason}", { name: peer.name, reason });
    let repair = false;
    if (link.direction === "forward") {
      repair = this.#forward === link;
      if (repair) this.#forward = null;
    } else if (this.#backward.delete(link)) {
      // That member may be gone, or may have moved its forward link: look again.
      repair = true;
    } else {
      return;
    }
    if (repair && !this.#host.quitting()) {
      // Repair at once (before anyone hears of the loss); the refresh prunes a
      // dead member for the rounds after.
      this.relink();
      this.#host.track(this.#host.refresh());
    }
    this.#host.emit({ type: "link", direction: link.direction, state: "down", peer });
    this.#host.linkChanged?.(link, true);
    this.#host.anyLinkChanged?.(link, true, error || lostLink(reason));
    // A finger skipped because this link served it needs a link of its own now.
    if (!this.#host.quitting() && this.#host.place() !== null) this.#fingers.update();
  }

  /**
   * A link came up: send it the frames of the last moments, and wake senders
   * waiting for a link. Links come up while the overlay is repaired, and what
   * was sent meanwhile may have been written into a socket whose other end
   * was gone, or flooded while this side was cut off. Receivers drop what
   * they have seen, so it costs only bytes.
   */
  #linkUp(link: Link): void {
    this.#host.emit({
      type: "link",
      direction: link.direction,
      state: "up",
      peer: linkPeer(link.peer),
    });
    for (const bytes of this.#host.recent.frames()) {
      link.send(this.#host.bytesFor?.(link, bytes) ?? bytes);
    }
    this.#host.linkChanged?.(link, false);
    this.#host.anyLinkChanged?.(link, false, false);
    for (const wake of [...this.#linkWaiters]) wake();
  }
}

/** True when `reason` (why a link closed) says the other side closed it or it failed. */
function lostLink(reason: string): boolean {
  return /^(Closed by the other side|Connection failed|Dropped|Write failed)/.test(reason);
}
