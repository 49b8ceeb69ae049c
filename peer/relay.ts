/**
 * Flooding with exactly-once delivery (PROTOCOL.md §6, Messages), in an order
 * one hostile link cannot turn against the room (issue 16): a `T` frame from a
 * link is checked for my room; then against the {@linkcode SeenWindow}
 * without storing anything (a copy is dropped for free); then against the
 * link's rate (`maxLinkTextRate`; a link far past it is closed); an origin
 * that is not a member waits for one member look-up (a throttled re-JOIN) and
 * is dropped if still unknown, unless the registry could not be reached
 * (then it may be admitted provisionally, see `SeenWindow.provisional`); then
 * the origin's rate (`maxTextRate`); only then is it stored, written onward to
 * every other link and shown. A message of mine gets the next msgID, is shown
 * and written to every link. Counts what it does in {@linkcode MessageCounts}.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { encodeFrame, type TextFrame } from "../lib/frames.ts";
import { memberKey } from "../lib/ring.ts";
import { PeerError } from "./errors.ts";
import type { PeerEvent } from "./events.ts";
import {
  type Admission,
  MsgCounter,
  type RecentFrames,
  type SeenWindow,
  textContent,
} from "./flood.ts";
import type { Link } from "./links.ts";
import type { Membership } from "./membership.ts";
import type { Place } from "./state.ts";
import type { TreeRoute } from "./tree_ops.ts";
import { RateLimiter, type Verdict } from "./rate_limit.ts";
import type { Refreshed } from "./registry_client.ts";
import { type MessageCounts, newMessageCounts } from "./stats.ts";

const logger = getLogger(["ringchat", "peer", "relay"]);
const encoder = new TextEncoder();

/**
 * Why my `text` cannot be sent: empty, only spaces and tabs (`empty-text`),
 * or over `maxTextBytes` in UTF-8 (`text-too-long`); null when it can.
 */
export function textError(text: string, maxTextBytes: number): PeerError | null {
  if (text.length === 0) return new PeerError("empty-text", "Message must not be empty");
  if (/^[ \t]+$/.test(text)) {
    return new PeerError("empty-text", "Message must not be empty: it has only spaces or tabs");
  }
  const size = encoder.encode(text).length;
  if (size > maxTextBytes) {
    return new PeerError("text-too-long", `Message is ${size} bytes, the limit is ${maxTextBytes}`);
  }
  return null;
}

/** What the relay needs from its peer. */
export interface RelayHost {
  /** My place while joined, else null. */
  place(): Place | null;
  readonly members: Membership;
  readonly seen: SeenWindow;
  readonly recent: RecentFrames;
  /** Every open link. */
  links(): Link[];
  /** Looks up members I do not know (throttled re-JOIN); tells how the re-JOIN ended. */
  lookUp(): Promise<Refreshed | undefined>;
  emit(event: PeerEvent): void;
  report(key: string, type: "info" | "error", message: string): void;
  track<T>(promise: Promise<T>): Promise<T>;
  /** The bytes of the text `raw` for `link` (a signed `text` op to ringchat peers, text_guard.ts). */
  bytesFor?(link: Link, raw: Uint8Array): Uint8Array;
  /** True when the text `raw` has a verified signature. */
  verified?(raw: Uint8Array): boolean;
  /** Signs my text before it is sent. */
  sign?(frame: TextFrame, raw: Uint8Array, content: Uint8Array): Promise<void>;
  /**
   * Shows a message in place of the relay (room_texts.ts: long texts put
   * back together, private rooms' texts decrypted): `event` is what the
   * relay would have emitted for `frame`.
   */
  deliver?(event: MessageEvent, frame: TextFrame): void;
  /**
   * A text is to be shown (mine or a member's), `raw` its `T` bytes as on the
   * wire: kept in the history (history_sync.ts); false: shown before a
   * restart, not again.
   */
  delivered?(frame: TextFrame, raw: Uint8Array): boolean;
  /** The broadcast tree (tree.ts); without it every message floods the ring. */
  tree?: RelayTree;
}

/** What the relay asks of the broadcast tree (tree.ts). */
export interface RelayTree {
  /** The route of a text that a `tree` op headed on `link`, taken once. */
  take(link: Link, frame: TextFrame): TreeRoute | undefined;
  /** Sends my message down the tree: the copies sent, or false when it floods. */
  originate(frame: TextFrame, raw: Uint8Array): number | false;
  /** Forwards a tree message down my share: the copies sent. */
  forward(frame: TextFrame, raw: Uint8Array, route: TreeRoute): number;
  /** A message was delivered (`hops` 0 for mine; `pulled`: it came by a pull). */
  delivered(frame: TextFrame, raw: Uint8Array, hops: number, pulled: boolean): void;
}

/** How a text came: down the tree (its `tree` op's route), or undefined: flooded on the ring. */
type Route = TreeRoute | undefined;

/** The `message` event. */
export type MessageEvent = Extract<PeerEvent, { type: "message" }>;

/** The rate limits on each origin's and each link's messages. */
export interface RelayOptions {
  maxTextRate: number;
  textBurst: number;
  maxLinkTextRate: number;
  linkTextBurst: number;
}

/** Messages from unknown origins waiting for a member look-up, at most. */
export const MAX_WAITING_TEXTS = 256;

/** The message flooding; see the module doc. */
export class Relay {
  /** What has been sent, shown, forwarded and dropped. */
  readonly counts: MessageCounts = newMessageCounts();
  readonly #host: RelayHost;
  readonly #opts: RelayOptions;
  readonly #counter = new MsgCounter();
  /** Messages per origin (originHID). */
  readonly #textRate: RateLimiter;
  /** Messages per link (by a number of each link). */
  readonly #linkRate: RateLimiter;
  readonly #linkIds = new WeakMap<Link, string>();
  #nextLinkId = 0;
  /** Look-ups under way, by the unknown origin that asked for them. */
  readonly #lookUps = new Map<string, Promise<Refreshed | undefined>>();
  /** Messages waiting for a look-up. */
  #waiting = 0;

  /** A relay for `host`'s links. */
  constructor(host: RelayHost, options: RelayOptions) {
    this.#host = host;
    this.#opts = options;
    this.#textRate = new RateLimiter({
      ratePerSecond: options.maxTextRate,
      burst: options.textBurst,
    });
    this.#linkRate = new RateLimiter({
      ratePerSecond: options.maxLinkTextRate,
      burst: options.linkTextBurst,
    });
  }

  /** The msgID of my last message (sent in handshakes). */
  get lastMsgId(): bigint {
    return this.#counter.last;
  }

  /** Sends my message `text` to every link (signed when I have a key) and shows it. */
  originate(place: Place, text: string): Promise<void> {
    const { me, room } = place;
    const frame: TextFrame = {
      type: "T",
      room,
      originHid: me.hashId.toString(),
      originName: me.name,
      msgId: this.takeMsgIds(1),
      text,
    };
    return this.sendOwn([frame]);
  }

  /** Takes `count` consecutive msgIDs for my next frames; returns the first. */
  takeMsgIds(count: number): bigint {
    const first = this.#counter.next();
    for (let i = 1; i < count; i++) this.#counter.next();
    return first;
  }

  /**
   * Sends my frames (msgIDs from {@linkcode Relay.takeMsgIds}), each signed
   * when I have a key, to every link in order, and shows each; `before`
   * gives the bytes a link gets ahead of them (the `parts` op), if any.
   */
  sendOwn(frames: TextFrame[], before?: (link: Link) => Uint8Array | null): Promise<void> {
    const host = this.#host;
    const own = frames.map((frame) => {
      const bytes = encodeFrame(frame);
      const content = textContent(bytes);
      host.seen.admit(frame.originHid, frame.originName, frame.msgId, content);
      return { frame, bytes, content };
    });
    const send = () => {
      if (before !== undefined) {
        for (const link of host.links()) {
          const bytes = before(link);
          if (bytes !== null) link.send(bytes);
        }
      }
      for (const { frame, bytes } of own) this.#sendOwn(frame, bytes);
    };
    // Without a key to sign with, it is sent at once (synchronously).
    if (host.sign === undefined) return Promise.resolve(send());
    return Promise.all(own.map((o) => host.sign!(o.frame, o.bytes, o.content))).then(send);
  }

  #sendOwn(frame: TextFrame, bytes: Uint8Array): void {
    const host = this.#host;
    this.counts.sent++;
    this.#deliver(frame, true, bytes, null);
    host.recent.push(bytes);
    // In tree mode my message goes down the tree, else it floods the ring.
    if ((host.tree?.originate(frame, bytes) ?? false) !== false) return;
    for (const link of host.links()) link.send(host.bytesFor?.(link, bytes) ?? bytes);
  }

  /** A `T` frame arrived on `from` (`raw`: its bytes as read). */
  receive(from: Link, frame: TextFrame, raw: Uint8Array): void {
    const host = this.#host;
    const place = host.place();
    if (place === null) return;
    if (frame.room !== place.room) {
      return host.report(
        `room ${memberKey(from.peer)}`,
        "error",
        `Dropped a message for room ${frame.room} from ${from.peer.name}: I am in room ${place.room}`,
      );
    }
    const content = textContent(raw);
    // Taken even from a copy that is dropped: a `tree` op is good for one text.
    const route = host.tree?.take(from, frame);
    const verdict = this.#check(frame, content);
    if (verdict === "seen") return;
    // Anything but a copy costs the link a token, before it is looked up or stored.
    if (!this.#linkWithinRate(from)) return void this.counts.refused++;
    if (verdict === "full") return this.#full(frame);
    // Behind the texts of its origin that wait for a look-up, even if the list
    // has listed it meanwhile: an origin's texts are shown in the order they came.
    if (verdict === "stranger" || this.#lookUps.has(frame.originHid)) {
      return this.#stranger(from, frame, raw, content, route);
    }
    this.#accept(from, frame, raw, content, route);
  }

  /** What the window says of a message, counting copies. */
  #check(frame: TextFrame, content: Uint8Array): Admission {
    const verdict = this.#host.seen.check(frame.originHid, frame.originName, frame.msgId, content);
    if (verdict === "seen") {
      this.counts.duplicates++;
      logger.debug("Dropped a duplicate {id} from {origin}", {
        id: frame.msgId,
        origin: frame.originName,
      });
    }
    return verdict;
  }

  /** A member's window is full of young entries (a flood under its origin): drop it. */
  #full(frame: TextFrame): void {
    this.counts.refused++;
    this.#host.report(
      "text window",
      "error",
      `Dropping messages from ${originOf(frame)}: more new messages than its window holds ` +
        `in a few seconds; they are neither shown nor forwarded`,
    );
  }

  /**
   * A message whose origin is not a member: it may have joined after my last
   * member list, so it waits for one look-up (a re-JOIN; those asked for
   * meanwhile are shared, and they are at least `refreshIntervalMs` apart),
   * then is checked again. At most {@linkcode MAX_WAITING_TEXTS} wait.
   */
  #stranger(
    from: Link,
    frame: TextFrame,
    raw: Uint8Array,
    content: Uint8Array,
    route: Route,
  ): void {
    const host = this.#host;
    const origin = frame.originHid;
    if (this.#waiting >= MAX_WAITING_TEXTS) return this.#dropStranger(frame);
    let lookUp = this.#lookUps.get(origin);
    if (lookUp === undefined) {
      lookUp = host.lookUp();
      this.#lookUps.set(origin, lookUp);
      const done = () => void this.#lookUps.delete(origin);
      lookUp.then(done, done);
    }
    this.#waiting++;
    host.track(lookUp.then((result) => {
      this.#waiting--;
      if (host.place() === null) return;
      const verdict = this.#check(frame, content);
      if (verdict === "seen") return;
      if (verdict === "full") return this.#full(frame);
      if (verdict === "new") return this.#accept(from, frame, raw, content, route);
      this.#afterLookUp(from, frame, raw, content, result, route);
    }));
  }

  /**
   * Still not a member after its look-up: dropped, unless the look-up could
   * not be made because the registry is unreachable; then its origin is
   * admitted provisionally (bounded, see `SeenWindow.provisional`).
   */
  #afterLookUp(
    from: Link,
    frame: TextFrame,
    raw: Uint8Array,
    content: Uint8Array,
    result: Refreshed | undefined,
    route: Route,
  ): void {
    if (result !== "unreachable" || !this.#host.seen.provisional(frame.originHid)) {
      return this.#dropStranger(frame);
    }
    const verdict = this.#check(frame, content);
    if (verdict === "new") return this.#accept(from, frame, raw, content, route);
    if (verdict === "full") this.#full(frame);
  }

  #dropStranger(frame: TextFrame): void {
    this.counts.refused++;
    const place = this.#host.place();
    this.#host.report(
      "stranger",
      "error",
      `Dropped a message from ${originOf(frame)}: not a member of room ${place?.room}; ` +
        `it is neither shown nor forwarded`,
    );
  }

  /**
   * A new message from a member: within its origin's rate, stored, forwarded
   * (down the tree when a `tree` op headed it, `route`; else flooded on the
   * ring), shown.
   */
  #accept(from: Link, frame: TextFrame, raw: Uint8Array, content: Uint8Array, route: Route): void {
    const host = this.#host;
    // After the duplicate check: copies cost no tokens, and a message dropped
    // here is dropped for good (its copies are refused the same way).
    if (!this.#originWithinRate(frame)) return void this.counts.refused++;
    if (host.seen.admit(frame.originHid, frame.originName, frame.msgId, content) !== "new") return;
    // Forward first, then show: the next hop does not wait for this peer's display.
    host.recent.push(raw);
    if (route !== undefined && host.tree !== undefined) {
      this.counts.forwarded += host.tree.forward(frame, raw, route);
      return this.#deliver(frame, false, raw, from, route);
    }
    for (const link of host.links()) {
      if (link === from) continue;
      const peer = link.peer;
      if (peer.hashId.toString() === frame.originHid || peer.name === frame.originHid) continue;
      if (link.send(host.bytesFor?.(link, raw) ?? raw)) this.counts.forwarded++;
    }
    this.#deliver(frame, false, raw, from, undefined);
  }

  #originWithinRate(frame: TextFrame): boolean {
    const rate = this.#textRate.take(frame.originHid);
    const origin = originOf(frame);
    return this.#verdict(rate, "text rate", {
      first: `Dropping messages from ${origin}: more than ${this.#opts.maxTextRate} per second ` +
        `(burst ${this.#opts.textBurst}); they are neither shown nor forwarded`,
      ended: `messages from ${origin} over the rate limit; accepting them again`,
    });
  }

  /** Takes a token of the link's; closes a link past its rate by `linkTextBurst` more. */
  #linkWithinRate(link: Link): boolean {
    if (this.#linkRate.unlimited) return true;
    let id = this.#linkIds.get(link);
    if (id === undefined) {
      id = String(this.#nextLinkId++);
      this.#linkIds.set(link, id);
    }
    const rate = this.#linkRate.take(id);
    const { name, ip, port } = link.peer;
    const who = `the link with ${name} (${ip}:${port})`;
    const limit =
      `more than ${this.#opts.maxLinkTextRate} per second (burst ${this.#opts.linkTextBurst})`;
    const refused = this.#linkRate.refusals(id);
    if (!rate.allowed && refused > this.#opts.linkTextBurst && link.open) {
      link.close(`it sent ${limit}, ${refused} over`, true, false);
      return false;
    }
    return this.#verdict(rate, "link text rate", {
      first: `Dropping messages over ${who}: ${limit}; they are neither shown nor forwarded`,
      ended: `messages over ${who} over the rate limit; accepting them again`,
    });
  }

  /** Reports the start and the end of a burst of refusals. */
  #verdict(rate: Verdict, key: string, texts: { first: string; ended: string }): boolean {
    if (!rate.allowed) {
      if (rate.first) this.#host.report(key, "error", texts.first);
      return false;
    }
    if (rate.ended > 0) this.#host.report(key, "info", `Dropped ${rate.ended} ${texts.ended}`);
    return true;
  }

  /** Shows a message that came from `from` (null: mine) by `route` (a tree's; else the ring). */
  #deliver(
    frame: TextFrame,
    self: boolean,
    raw: Uint8Array,
    from: Link | null,
    route?: TreeRoute,
  ): void {
    const hops = from === null ? 0 : route?.hops;
    this.#host.tree?.delivered(frame, raw, hops ?? 0, route?.pulled ?? false);
    if (this.#host.delivered?.(frame, raw) === false) return void this.counts.duplicates++;
    const me = this.#host.place()?.me;
    const via = from !== null ? from.peer : me;
    this.counts.delivered++;
    const event: MessageEvent = {
      type: "message",
      room: frame.room,
      from: frame.originName,
      originHid: frame.originHid,
      msgId: frame.msgId.toString(),
      text: frame.text,
      self,
      verified: this.#host.verified?.(raw) ?? false,
      at: new Date().toISOString(),
    };
    if (via !== undefined) event.via = { name: via.name, ip: via.ip, port: via.port };
    if (hops !== undefined) event.hops = hops;
    if (this.#host.deliver !== undefined) return this.#host.deliver(event, frame);
    this.#host.emit(event);
  }
}

/** A message's origin as reports name it. */
function originOf(frame: TextFrame): string {
  return `${frame.originName} (originHID ${frame.originHid})`;
}
