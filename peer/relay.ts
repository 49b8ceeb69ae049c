/**
 * Flooding with exactly-once delivery (PROTOCOL.md §6, Messages): a `T`
 * frame from a link is checked (my room, not seen before, its origin within
 * `maxTextRate`), written onward to every other link, then shown; a message
 * of mine gets the next msgID, is shown and written to every link. Counts
 * what it does in {@linkcode MessageCounts}.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { encodeFrame, type TextFrame } from "../lib/frames.ts";
import { memberKey } from "../lib/ring.ts";
import { PeerError } from "./errors.ts";
import type { PeerEvent } from "./events.ts";
import { MsgCounter, type RecentFrames, type SeenWindow } from "./flood.ts";
import type { Link } from "./links.ts";
import type { Membership } from "./membership.ts";
import type { Place } from "./state.ts";
import { RateLimiter } from "./rate_limit.ts";
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
  /** Looks up members I do not know (throttled re-JOIN). */
  lookUp(): Promise<void>;
  emit(event: PeerEvent): void;
  report(key: string, type: "info" | "error", message: string): void;
  track<T>(promise: Promise<T>): Promise<T>;
}

/** The rate limit on each origin's messages. */
export interface RelayOptions {
  maxTextRate: number;
  textBurst: number;
}

/** The message flooding; see the module doc. */
export class Relay {
  /** What has been sent, shown, forwarded and dropped as a duplicate. */
  readonly counts: MessageCounts = newMessageCounts();
  readonly #host: RelayHost;
  readonly #opts: RelayOptions;
  readonly #counter = new MsgCounter();
  /** Messages per origin (originHID). */
  readonly #textRate: RateLimiter;

  /** A relay for `host`'s links. */
  constructor(host: RelayHost, options: RelayOptions) {
    this.#host = host;
    this.#opts = options;
    this.#textRate = new RateLimiter({
      ratePerSecond: options.maxTextRate,
      burst: options.textBurst,
    });
  }

  /** The msgID of my last message (sent in handshakes). */
  get lastMsgId(): bigint {
    return this.#counter.last;
  }

  /** Sends my message `text` to every link and shows it. */
  originate(place: Place, text: string): void {
    const { me, room } = place;
    const msgId = this.#counter.next();
    const frame: TextFrame = {
      type: "T",
      room,
      originHid: me.hashId.toString(),
      originName: me.name,
      msgId,
      text,
    };
    const links = this.#host.links();
    this.#host.seen.admit(frame.originHid, frame.originName, msgId, text);
    this.counts.sent++;
    this.#deliver(frame, true);
    const bytes = encodeFrame(frame);
    this.#host.recent.push(bytes);
    for (const link of links) link.send(bytes);
  }

  /** A `T` frame arrived on `from`. */
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
    if (!host.seen.admit(frame.originHid, frame.originName, frame.msgId, frame.text)) {
      this.counts.duplicates++;
      logger.debug("Dropped a duplicate {id} from {origin}", {
        id: frame.msgId,
        origin: frame.originName,
      });
      return;
    }
    // After the duplicate check: copies cost no tokens, and a message dropped
    // here is dropped for good (its copies are duplicates now).
    if (!this.#withinRate(frame)) return;
    if (host.members.shouldLookUp(frame.originHid)) host.track(host.lookUp());
    // Forward first, then show: the next hop does not wait for this peer's display.
    host.recent.push(raw);
    for (const link of host.links()) {
      if (link === from) continue;
      const peer = link.peer;
      if (peer.hashId.toString() === frame.originHid || peer.name === frame.originHid) continue;
      if (link.send(raw)) this.counts.forwarded++;
    }
    this.#deliver(frame, false);
  }

  #withinRate(frame: TextFrame): boolean {
    const rate = this.#textRate.take(frame.originHid);
    const origin = `${frame.originName} (originHID ${frame.originHid})`;
    if (!rate.allowed) {
      if (rate.first) {
        this.#host.report(
          "text rate",
          "error",
          `Dropping messages from ${origin}: more than ${this.#opts.maxTextRate} per second ` +
            `(burst ${this.#opts.textBurst}); they are neither shown nor forwarded`,
        );
      }
      return false;
    }
    if (rate.ended > 0) {
      this.#host.report(
        "text rate",
        "info",
        `Dropped ${rate.ended} messages from ${origin} over the rate limit; accepting them again`,
      );
    }
    return true;
  }

  #deliver(frame: TextFrame, self: boolean): void {
    this.counts.delivered++;
    this.#host.emit({
      type: "message",
      room: frame.room,
      from: frame.originName,
      originHid: frame.originHid,
      msgId: frame.msgId.toString(),
      text: frame.text,
      self,
    });
  }
}
