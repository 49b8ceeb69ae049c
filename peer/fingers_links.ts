/**
 * Finger links (docs/overlay.md §1): while every member of my room speaks
 * ringchat/2, links to the members at ring distances 1, 2, 4, … below N
 * (`lib/fingers.ts`), beside the ring's forward and backward links, re-chosen
 * whenever the member list or its info changes. Of two members that are
 * each other's finger only one dials (`dialsFinger`), and no finger is
 * dialled to a member I already share a link with (that link serves). They
 * carry only the tree's texts (`./tree.ts`): the ring's flood, digests and
 * catch-up stay on the ring links.
 *
 * While a room fills up its list changes many times a second, and each
 * change moves the farthest fingers by a member: choosing them on every
 * change dialled, proved and closed links faster than they served. So a
 * change after `settleMs` without a choice ({@linkcode FINGER_SETTLE_MS})
 * chooses at once; changes that follow are taken together once the list
 * has not changed for `settleMs`, or `maxWaitMs` after the first of them
 * ({@linkcode FINGER_MAX_WAIT_MS}) while it keeps changing. A link whose
 * member is still a finger stays, and none is dialled to a member a ring
 * link already reaches. Meanwhile the tree goes over the links there are (a
 * child no link reaches is handed on, and what it misses is pulled over the
 * ring's digests: tree.ts). Leaving tree mode, and a member given another
 * key, still close links at once.
 *
 * A finger link opens with a `finger` op (not a `P`: it is no ring link and
 * replaces none), answered with `finger` and `ok` by a member in tree mode
 * that lists the dialling member at the address the connection comes from;
 * any other answer, or none in time, and the member is tried again after
 * `retryMs`.
 *
 * Finger links are authenticated as ring links are (link_auth.ts, the same
 * exchange): when the member-info gives the other side a key, it proves it
 * before the link is made, both ways. The accepting side answers a finger
 * hello from a keyed member with its `link-auth` challenge instead of the
 * `ok`, and writes `ok` only once the proof verifies (within the handshake
 * timeout, the connection holding one of the acceptor's `maxHandshakes`
 * slots meanwhile); the dialling side sends its challenge right after its
 * hello and takes the `ok` only after the accepting side's proof (which that
 * side writes before its `ok`). Before its proof a finger link carries
 * nothing: it is not a link yet, so no text, `tree`, `digest` or `pull` on
 * it is read, and nobody is taken for the member it claims. A link whose
 * member the member-info later gives another key is closed (and dialled
 * again, to prove the new one). Without a key to prove (a member without
 * one, or me without one) the link is made as before; it never replaces a
 * finger link of that member whose key was proved.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { dialsFinger, fingerIndexes, fingerNeighbours } from "../lib/fingers.ts";
import type { Member } from "../lib/frames.ts";
import { memberKey, type RingMember } from "../lib/ring.ts";
import { describe } from "./errors.ts";
import type { LinkAuth, LinkRole } from "./link_auth.ts";
import {
  authenticate,
  Link,
  type LinkHandlers,
  type LinkOptions,
  openWith,
  type Probed,
} from "./links.ts";
import type { Membership } from "./membership.ts";
import type { Place } from "./state.ts";
import { FINGER_OP, fingerHello, fingerOk, parseFingerHello } from "./tree_ops.ts";

const logger = getLogger(["ringchat", "peer", "fingers"]);

/**
 * Fingers are chosen once the member list has not changed for this many ms
 * (the default of `FingerLinksHost.settleMs`; see the module doc).
 */
export const FINGER_SETTLE_MS = 1000;

/**
 * ... or this many ms after the first change not chosen yet, while the list
 * keeps changing (the default of `FingerLinksHost.maxWaitMs`).
 */
export const FINGER_MAX_WAIT_MS = 10_000;

/** What the finger links need from the overlay. */
export interface FingerLinksHost {
  place(): Place | null;
  readonly members: Membership;
  /** True while my messages go down the tree (every member speaks ringchat/2). */
  treeMode(): boolean;
  /** True when a ring link with `member` is open. */
  ringLinked(member: Member): boolean;
  /** Text and op handlers, as the ring links have. */
  readonly handlers: Pick<LinkHandlers, "onText" | "onExtension" | "onRejected">;
  /** A finger link came up or went down (`reason`: why it closed). */
  changed(link: Link, down: boolean, reason: string): void;
  readonly linkOptions: LinkOptions;
  readonly maxFrameBytes: number;
  readonly handshakeTimeoutMs: number;
  /** Wait before dialling again the fingers that refused or failed, in ms. */
  readonly retryMs: number;
  /** Changes are taken together until the list is this many ms unchanged ({@linkcode FINGER_SETTLE_MS}). */
  readonly settleMs: number;
  /** ... or for at most this many ms ({@linkcode FINGER_MAX_WAIT_MS}). */
  readonly maxWaitMs: number;
  readonly signal: AbortSignal;
  track<T>(promise: Promise<T>): Promise<T>;
  /**
   * The authentication of a finger link with `member` (`claim`: me as my
   * hello says, or the dialler as its hello says), as a ring link's; the
   * overlay answers from it a challenge that waited for a key.
   */
  authFor(claim: Member, member: RingMember, role: LinkRole): LinkAuth | undefined;
  /** The handshake of an `auth` from `authFor` ended. */
  handshaken(auth: LinkAuth | undefined): void;
  report(key: string, type: "info" | "error", message: string): void;
}

/** My finger links, dialled and accepted; see the module doc. */
export class FingerLinks {
  readonly #host: FingerLinksHost;
  /** Open finger links by the other member's key. */
  readonly #links = new Map<string, Link>();
  readonly #dialling = new Set<string>();
  readonly #handlers: LinkHandlers;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** The choice that takes the changes since the last one together, when due. */
  #chooseTimer: ReturnType<typeof setTimeout> | undefined;
  /** When my fingers were last chosen (`Date.now()`; -Infinity: never). */
  #chosenAt = -Infinity;
  /** The members I share a finger link with as the last choice made them (by key). */
  #neighbours = new Set<string>();
  /** When the first change not chosen yet came (null: none waits). */
  #waitingSince: number | null = null;
  /** How many times my fingers were chosen (a burst of changes counts once). */
  #choices = 0;
  /** Links I closed myself (not to be dialled again for that). */
  readonly #ended = new WeakSet<Link>();

  /** No finger links yet. */
  constructor(host: FingerLinksHost) {
    this.#host = host;
    this.#handlers = {
      ...host.handlers,
      onClose: (link, reason) => this.#closed(link, reason),
    };
  }

  /** Every open finger link. */
  all(): Link[] {
    return [...this.#links.values()];
  }

  /** The open finger link with `member`, if any. */
  linkTo(member: Member): Link | undefined {
    const link = this.#links.get(memberKey(member));
    return link?.open ? link : undefined;
  }

  /** How many times my fingers were chosen so far. */
  get choices(): number {
    return this.#choices;
  }

  /**
   * The member list or its info changed: closes every finger link when the
   * room is not in tree mode, and the links of members given another key;
   * chooses my fingers again now, or once `rechooseMs` has passed since the
   * last choice (see the module doc).
   */
  update(): void {
    const host = this.#host;
    if (host.place() === null || !host.treeMode()) {
      return this.closeAll("The room is not in tree mode");
    }
    this.#closeRekeyed();
    const now = Date.now();
    if (this.#waitingSince === null && now - this.#chosenAt >= host.settleMs) {
      return this.#choose();
    }
    const since = this.#waitingSince ??= now;
    clearTimeout(this.#chooseTimer);
    const wait = Math.min(host.settleMs, since + host.maxWaitMs - now);
    this.#chooseTimer = setTimeout(() => {
      this.#chooseTimer = undefined;
      if (!host.signal.aborted) this.#choose();
    }, Math.max(0, wait));
  }

  /** Closes the links whose member the member-info now gives another key. */
  #closeRekeyed(): void {
    for (const link of this.#links.values()) {
      if (!this.#rekeyed(link)) continue;
      // Dialled again (by the side that owes it), to prove the new key.
      this.#ended.add(link);
      link.close("The registry gave its member another key", false);
    }
  }

  /**
   * Chooses my fingers: dials the missing ones, closes the ones no longer
   * mine (all of them when the room is not in tree mode).
   */
  #choose(): void {
    const host = this.#host;
    const place = host.place();
    if (place === null || !host.treeMode()) return this.closeAll("The room is not in tree mode");
    clearTimeout(this.#chooseTimer);
    this.#chooseTimer = undefined;
    this.#waitingSince = null;
    this.#chosenAt = Date.now();
    this.#choices++;
    const ring = host.members.ring;
    const me = ring.findIndex((m) => memberKey(m) === memberKey(place.me));
    if (me < 0) return;
    const wanted = new Map<string, RingMember>();
    for (const i of fingerIndexes(ring.length, me)) {
      if (dialsFinger(ring.length, me, i)) wanted.set(memberKey(ring[i]!), ring[i]!);
    }
    // A link serves both ways, whoever dialled it: it stays while either side owes it.
    const neighbours = new Set(fingerNeighbours(ring.length, me).map((i) => memberKey(ring[i]!)));
    this.#neighbours = neighbours;
    for (const [key, link] of this.#links) {
      if (host.members.find(link.peer) === undefined || !neighbours.has(key)) {
        this.#ended.add(link);
        link.close("No longer a finger", false);
      }
    }
    for (const [key, member] of wanted) {
      if (this.#links.has(key) || this.#dialling.has(key) || host.ringLinked(member)) continue;
      this.#dial(key, member, place);
    }
  }

  /**
   * A connection that opened with an `X` op: null if it is no finger hello,
   * else the handshake (taken or refused), which ends once the dialler proved
   * its key or failed to.
   */
  accept(probed: Probed): Promise<void> | null {
    if (probed.probe.op !== FINGER_OP) return null;
    const host = this.#host;
    const place = host.place();
    let member: RingMember | undefined;
    let claim: Member | undefined;
    try {
      const hello = parseFingerHello(probed.probe.body);
      claim = hello.from;
      // Only from the address the registry lists it at: a member cannot pass for another
      // from elsewhere.
      const from = (probed.conn.remoteAddr as Deno.NetAddr).hostname;
      const listed = host.members.find(hello.from);
      if (
        place !== null && hello.room === place.room && host.treeMode() &&
        listed !== undefined && sameAddress(listed.ip, from)
      ) member = listed;
    } catch (error) {
      logger.debug("Refused a finger hello: {error}", { error: describe(error) });
    }
    if (
      member === undefined || claim === undefined || place === null ||
      memberKey(member) === memberKey(place.me)
    ) {
      closeQuietly(probed.conn);
      return Promise.resolve();
    }
    return this.#prove(probed, claim, member, place);
  }

  /** Takes a finger hello from `member` once it proved its key (when it has one). */
  async #prove(probed: Probed, claim: Member, member: RingMember, place: Place): Promise<void> {
    const host = this.#host;
    const auth = host.authFor(claim, member, "accept");
    probed.auth = auth;
    let refusal: string | null = null;
    try {
      if (auth?.required) {
        await authenticate(probed, auth, host.handshakeTimeoutMs, host.signal);
      } else if (this.#links.get(memberKey(member))?.auth?.verified === true) {
        refusal =
          "it did not prove the key of the member it claims, who is linked with its key proved";
      }
    } catch (error) {
      refusal = describe(error);
    } finally {
      host.handshaken(auth);
    }
    if (refusal === null && (host.place()?.me !== place.me || !host.treeMode())) {
      refusal = "I left the room or its tree mode meanwhile";
    }
    if (refusal !== null) {
      closeQuietly(probed.conn);
      host.report(
        "finger refused",
        "info",
        `Refused a finger link from ${claim.name} (${claim.ip}:${claim.port}): ${refusal}`,
      );
      return;
    }
    const link = new Link(probed, "backward", member, this.#handlers, host.linkOptions);
    this.#adopt(link);
    link.send(fingerOk(place.room));
  }

  /**
   * True when the member-info gives `link`'s member a key other than the one
   * its handshake knew (a key missing from the info changes nothing, as on
   * ring links: a registry that restarted lists keys again one by one).
   */
  #rekeyed(link: Link): boolean {
    const key = this.#host.members.keyOf(link.peer) ?? undefined;
    return key !== undefined && key !== link.auth?.peerKey;
  }

  /** Closes every finger link (and stops retrying). */
  closeAll(reason: string): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    clearTimeout(this.#chooseTimer);
    this.#chooseTimer = undefined;
    this.#waitingSince = null;
    for (const link of [...this.#links.values()]) {
      this.#ended.add(link);
      link.close(reason, false);
    }
  }

  /** Every finger link's end, once closed. */
  async done(): Promise<void> {
    await Promise.allSettled([...this.#links.values()].map((l) => l.done()));
  }

  #adopt(link: Link): void {
    const key = memberKey(link.peer);
    const old = this.#links.get(key);
    if (old !== undefined) {
      this.#ended.add(old);
      old.close("Replaced by a new finger link", false);
    }
    this.#links.set(key, link);
    link.start();
    this.#host.track(link.done());
    this.#host.changed(link, false, "");
  }

  #dial(key: string, member: RingMember, place: Place): void {
    const host = this.#host;
    this.#dialling.add(key);
    const hello = fingerHello(place.room, place.me);
    const auth = host.authFor(place.me, member, "link");
    host.track(
      openWith(member, hello, host.handshakeTimeoutMs, host.signal, host.maxFrameBytes, auth)
        .then(({ opened, answer }) => {
          const ok = answer.type === "X" && answer.op === FINGER_OP && answer.body.ok === true;
          // It writes its proof before its ok: an ok without it is not taken.
          const proved = auth?.pending !== true;
          // A choice made while it was dialled may have given the finger to another member.
          const still = host.place()?.me === place.me && host.treeMode() &&
            this.#neighbours.has(key);
          if (!ok || !proved || !still || this.#links.has(key)) {
            closeQuietly(opened.conn);
            // It may not list me yet (its list comes a moment after mine).
            if (!ok) this.#retry(`${member.name} refused a finger link`);
            else if (!proved) {
              host.report(
                `finger unproved ${key}`,
                "error",
                `Refused the finger link to ${member.name} (${member.ip}:${member.port}): ` +
                  `it did not prove the key the registry gave for it`,
              );
              this.#retry(`${member.name} did not prove its key`);
            }
            return;
          }
          this.#adopt(new Link(opened, "forward", member, this.#handlers, host.linkOptions));
        })
        .catch((error) => this.#retry(`No finger link to ${member.name}: ${describe(error)}`))
        .finally(() => {
          host.handshaken(auth);
          this.#dialling.delete(key);
        }),
    );
  }

  /** Dials the missing fingers again in `retryMs` (one timer for all). */
  #retry(why: string): void {
    logger.debug("{why}; trying again", { why });
    if (this.#retryTimer !== undefined || this.#host.signal.aborted) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.update();
    }, this.#host.retryMs);
  }

  #closed(link: Link, reason: string): void {
    const key = memberKey(link.peer);
    if (this.#links.get(key) === link) this.#links.delete(key);
    logger.debug("Finger link with {name} closed: {reason}", { name: link.peer.name, reason });
    this.#host.changed(link, true, reason);
    // Closed by the other side, or failed: dialled again if it is still a finger of mine.
    if (!this.#ended.has(link)) this.#retry(`The finger link with ${link.peer.name} closed`);
  }
}

/** True when `listed` (a member's advertised ip) is the address `from` a connection came from. */
function sameAddress(listed: string, from: string): boolean {
  const bare = (ip: string) => ip.replace(/^::ffff:/, "");
  return bare(listed) === bare(from);
}

/** Closes `conn` unless it is closed already. */
function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed already (the other side went, or the handshake timed out).
  }
}
