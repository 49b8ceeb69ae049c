/**
 * A room's texts between what a person writes and what goes on the wire
 * (docs/extensions.md, `parts` and Private rooms): long texts cut into parts
 * for seed clients and put back together for ringchat peers, and, in a
 * private room, every `T` content encrypted and decrypted
 * (`private_session.ts`).
 *
 * **Sending** ({@linkcode RoomTexts.send}). While the room may hold a seed
 * client (a member that the registry's member-info does not list as speaking
 * ringchat/2, or any member when the registry gives no member-info, or when
 * I speak plain P2PChat), a text longer than `partBytes` (500: what a seed
 * client takes in one `recv()` of 1,024 bytes) goes out as consecutive `T`
 * frames of at most `partBytes` content bytes cut at UTF-8 character
 * boundaries (`splitText`), under consecutive msgIDs, each signed as its own
 * message (`text_guard.ts`). The `parts` op goes first on every link to a
 * ringchat/2 peer, never to a seed link. When every member speaks
 * ringchat/2, the text is one frame of up to `maxTextBytes`. In a private
 * room the parts are cut from the plaintext at what fits `partBytes` once
 * encrypted (319 bytes for 500) and each is encrypted under its own msgID; a
 * text whose wire form would pass `maxTextBytes` (one frame, or all parts
 * together) or 256 parts is refused as `text-too-long`. Sends go out in the
 * order they were asked for, and a long text waits, if need be, until my
 * own texts are within `maxTextRate` and `textBurst` (and the link limits,
 * when lower) again, so that members with the same limits never drop its
 * parts.
 *
 * **Receiving.** A `parts` op ({@linkcode RoomTexts.onPartsOp}) of my room
 * from a current member is forwarded at once to every other ringchat/2 link
 * (the first copy only), so it stays ahead of the parts, and announced to
 * the {@linkcode Reassembler}. Every text the relay shows comes through
 * {@linkcode RoomTexts.deliver}: the reassembler holds announced parts until
 * the whole is there (at most 3 s), and in a private room each text is
 * decrypted, in arrival order. A text that does not decrypt is not shown,
 * and reported once per origin; a long text one of whose parts does not
 * decrypt shows the parts that do, each alone.
 *
 * For history (`history.ts`, `catch_up.ts`): {@linkcode RoomTexts.decodeText}
 * gives a stored wire text's plaintext, {@linkcode RoomTexts.groupOf} the
 * announced group a msgID belongs to, and {@linkcode RoomTexts.announce}
 * takes a group a history entry carries (see {@linkcode WireTexts}).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { encodeFrame, type ExtensionFrame, type TextFrame } from "../lib/frames.ts";
import { TokenBucket } from "../lib/token_bucket.ts";
import { PeerError } from "./errors.ts";
import type { Link } from "./links.ts";
import {
  type Delivery,
  parsePartsOp,
  type PartsGroup,
  partsGroup,
  partsOpBody,
  Reassembler,
  splitText,
  type TextPart,
} from "./long_text.ts";
import { encryptedTextLength, maxPlaintextBytes } from "./private_room.ts";
import type { PrivateSession } from "./private_session.ts";
import type { MessageEvent, Relay, RelayHost } from "./relay.ts";
import type { Place } from "./state.ts";

const logger = getLogger(["ringchat", "peer", "room_texts"]);
const encoder = new TextEncoder();

/** The op that announces a long text's parts. */
export const PARTS_OP = "parts";

/** Parts in one long text, at most (the reassembler's bound, docs/extensions.md). */
export const MAX_PARTS = 256;

/** `parts` ops remembered to forward each only once, and groups remembered for history. */
const REMEMBERED = 1024;

/** How much longer than my own bucket says a long text waits for my rate, in ms. */
const PACE_SLACK_MS = 100;

/** Origins whose undecryptable texts were reported, remembered at most. */
const REPORTED_ORIGINS = 1024;

/**
 * What history needs of a room's texts (helper "hist"): one small interface.
 * Texts are stored as on the wire (a private room's ciphertext, a long
 * text's parts one by one).
 */
export interface WireTexts {
  /**
   * The text to show for a stored `T` content `wireText` of `origin`
   * (HashID, decimal), `name` and `msgId` (decimal) in my current room: its
   * plaintext in my private room (null when it does not decrypt), else
   * `wireText` itself.
   */
  decodeText(origin: string, name: string, msgId: string, wireText: string): Promise<string | null>;
  /** The announced group (`parts` op) that `origin`'s `msgId` belongs to, if known. */
  groupOf(origin: string, msgId: bigint): PartsGroup | null;
  /** Takes a group as a received `parts` op would (not forwarded); true when it will wait for its parts. */
  announce(origin: string, group: PartsGroup): boolean;
}

/** What the room's texts need from their peer (the relay's own host gives most of it). */
export interface RoomTextsHost
  extends Pick<RelayHost, "place" | "members" | "links" | "emit" | "report" | "track"> {
  readonly privacy: PrivateSession;
  /** True for a peer that speaks plain P2PChat only (it sends no `X`). */
  readonly plain: boolean;
  /** True when `link`'s other side speaks ringchat/2. */
  speaksRingchat(link: Link): boolean;
  readonly relay: Pick<Relay, "takeMsgIds" | "sendOwn">;
  /** Aborted when the peer quits. */
  signal: AbortSignal;
}

/** The limits the room's texts follow. */
export interface RoomTextsOptions {
  /** Most content bytes of one `T` while the room may hold a seed client. */
  partBytes: number;
  maxTextBytes: number;
  maxTextRate: number;
  textBurst: number;
  maxLinkTextRate: number;
  linkTextBurst: number;
}

/** A part as the reassembler holds it: with the event the relay made for it. */
interface Piece extends TextPart {
  event: MessageEvent;
}

/** Long texts and private rooms; see the module doc. */
export class RoomTexts implements WireTexts {
  readonly #host: RoomTextsHost;
  readonly #opts: RoomTextsOptions;
  readonly #reassembler: Reassembler<Piece>;
  /** My own texts' pace (the members' `maxTextRate`, `maxLinkTextRate`); null: no limit. */
  readonly #pace: TokenBucket | null;
  readonly #rate: number;
  readonly #burst: number;
  /** `parts` ops already taken, by origin, first msgID and digest. */
  readonly #ops = new Set<string>();
  /** Announced groups, oldest first, for {@linkcode RoomTexts.groupOf}. */
  readonly #groups: { origin: string; group: PartsGroup }[] = [];
  readonly #reported = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** My sends, in the order they were asked for. */
  #sending: Promise<void> = Promise.resolve();
  /** Decryptions and showing, in arrival order. */
  #showing: Promise<void> = Promise.resolve();
  /** Work queued on {@linkcode #showing}: while any, what follows waits behind it. */
  #queued = 0;

  /** The texts of `host`'s room. */
  constructor(host: RoomTextsHost, options: RoomTextsOptions) {
    this.#host = host;
    this.#opts = options;
    this.#reassembler = new Reassembler({ maxMessageBytes: options.maxTextBytes });
    // My texts cross links too: the lower of the two limits paces them.
    const rate = Math.min(options.maxTextRate, options.maxLinkTextRate);
    this.#burst = Math.min(options.textBurst, options.linkTextBurst);
    this.#rate = rate;
    this.#pace = Number.isFinite(rate)
      ? new TokenBucket({ ratePerSecond: rate, burst: this.#burst })
      : null;
    host.signal.addEventListener("abort", () => clearTimeout(this.#timer), { once: true });
  }

  /** Long texts waiting for their parts. */
  get pending(): number {
    return this.#reassembler.pending;
  }

  /**
   * True while the room may hold a seed client: a member (not me) that the
   * member-info does not list as speaking ringchat/2, no member-info at all,
   * or I speak plain P2PChat.
   */
  mayHoldSeed(place: Place): boolean {
    if (this.#host.plain) return true;
    const members = this.#host.members;
    return members.members.some((m) =>
      m.hashId !== place.me.hashId && members.speaksRingchat(m) !== true
    );
  }

  /**
   * Sends my message `text` (checked for emptiness and `maxTextBytes`
   * already) as one frame or as parts, encrypted in a private room; see the
   * module doc.
   *
   * @throws {PeerError} `text-too-long` when its wire form does not fit,
   * `not-joined` when I left the room while it waited, `quit` when the peer quit
   */
  send(place: Place, text: string): Promise<void> {
    const next = this.#sending.then(() => this.#send(place, text));
    this.#sending = next.catch(() => {});
    return next;
  }

  async #send(asked: Place, text: string): Promise<void> {
    const room = this.#host.privacy.roomOf(asked.room);
    const pieces = this.#cut(asked, text, room !== null);
    await this.#paced(pieces.length);
    const place = this.#host.place();
    if (place === null || place.room !== asked.room || place.me !== asked.me) {
      throw new PeerError("not-joined", "Left the room before the message was sent");
    }
    const originHid = place.me.hashId.toString();
    const originName = place.me.name;
    const first = this.#host.relay.takeMsgIds(pieces.length);
    const frames: TextFrame[] = await Promise.all(pieces.map(async (piece, i) => {
      const msgId = first + BigInt(i);
      const wire = room === null
        ? piece
        : await this.#host.privacy.encrypt(room, piece, { originHid, originName, msgId });
      return { type: "T", room: place.room, originHid, originName, msgId, text: wire };
    }));
    if (frames.length === 1) return await this.#host.relay.sendOwn(frames);
    const group = partsGroup(frames.map((f) => f.text), first);
    // I show my own long text as one message too, and do not pass my op on when it comes back.
    this.announce(originHid, group);
    this.#taken(originHid, group);
    const op = this.#host.plain ? null : encodeFrame({
      type: "X",
      op: PARTS_OP,
      body: partsOpBody({ room: place.room, originHid, group }),
    });
    await this.#host.relay.sendOwn(
      frames,
      (link) => op !== null && this.#host.speaksRingchat(link) ? op : null,
    );
  }

  /** The texts of my message's frames (plaintext), or why it cannot be sent. */
  #cut(place: Place, text: string, encrypted: boolean): string[] {
    const { partBytes, maxTextBytes } = this.#opts;
    const size = encoder.encode(text).length;
    const seed = this.mayHoldSeed(place);
    const partSize = encrypted ? maxPlaintextBytes(partBytes) : partBytes;
    const pieces = seed && size > partSize ? splitText(text, partSize) : [text];
    const wireBytes = (piece: string) => {
      const n = encoder.encode(piece).length;
      return encrypted ? encryptedTextLength(n) : n;
    };
    const total = pieces.reduce((sum, piece) => sum + wireBytes(piece), 0);
    if (pieces.length > MAX_PARTS || total > maxTextBytes) {
      const form = pieces.length === 1
        ? `${total} bytes once encrypted`
        : `${pieces.length} parts of ${total} bytes${encrypted ? " once encrypted" : ""}`;
      throw new PeerError(
        "text-too-long",
        `Message is ${size} bytes: ${form} on the wire, the limits are ${maxTextBytes} bytes ` +
          `and ${MAX_PARTS} parts`,
      );
    }
    return pieces;
  }

  /** Waits until `count` texts of mine are within my rate (a long text's parts only wait). */
  async #paced(count: number): Promise<void> {
    const pace = this.#pace;
    if (pace === null) return;
    const want = Math.min(count, this.#burst);
    const tokens = pace.tokens(performance.now());
    if (count > 1 && tokens < want) {
      // And a little more: the parts of my texts before may reach a member later than
      // these will, so its bucket may have had less time to fill than mine.
      const ms = Math.ceil((want - tokens) * 1000 / this.#rate) + PACE_SLACK_MS;
      logger.debug("A long text of {count} parts waits {ms} ms for my text rate", { count, ms });
      if (!(await sleep(ms, this.#host.signal))) throw new PeerError("quit", "The peer has quit");
    }
    pace.take(count, performance.now());
  }

  /** A `parts` op arrived on `from`: forwarded once to the other ringchat/2 links, announced. */
  onPartsOp(from: Link, frame: ExtensionFrame): void {
    const host = this.#host;
    const place = host.place();
    if (host.plain || place === null) return;
    let announced;
    try {
      announced = parsePartsOp(frame.body);
    } catch (error) {
      return host.report(
        `parts op ${from.peer.name}`,
        "error",
        `Dropped a parts op on the link with ${from.peer.name}: ${(error as Error).message}`,
      );
    }
    const { room, originHid, group } = announced;
    if (room !== place.room || !host.members.knownOrigin(originHid)) return;
    if (!this.#taken(originHid, group)) return;
    const bytes = encodeFrame(frame);
    for (const link of host.links()) {
      if (link === from || link.peer.hashId.toString() === originHid) continue;
      if (host.speaksRingchat(link)) link.send(bytes);
    }
    this.announce(originHid, group);
  }

  /** Notes the `parts` op of `origin`'s `group`; false when it was noted already. */
  #taken(origin: string, group: PartsGroup): boolean {
    const key = `${origin}:${group.first}:${group.digest}`;
    if (this.#ops.has(key)) return false;
    this.#ops.add(key);
    if (this.#ops.size > REMEMBERED) this.#ops.delete(this.#ops.values().next().value!);
    return true;
  }

  announce(origin: string, group: PartsGroup): boolean {
    if (!this.#reassembler.announce(origin, group)) return false;
    this.#groups.push({ origin, group });
    if (this.#groups.length > REMEMBERED) this.#groups.shift();
    this.#schedule();
    return true;
  }

  groupOf(origin: string, msgId: bigint): PartsGroup | null {
    for (let i = this.#groups.length - 1; i >= 0; i--) {
      const { origin: o, group } = this.#groups[i]!;
      if (o === origin && msgId >= group.first && msgId < group.first + BigInt(group.count)) {
        return group;
      }
    }
    return null;
  }

  decodeText(
    origin: string,
    name: string,
    msgId: string,
    wireText: string,
  ): Promise<string | null> {
    const place = this.#host.place();
    if (place === null) return Promise.resolve(null);
    return this.#host.privacy.decrypt(place.room, wireText, {
      originHid: origin,
      originName: name,
      msgId: BigInt(msgId),
    });
  }

  /** A message the relay shows (`event`, for `frame`): put together, decrypted, shown. */
  deliver(event: MessageEvent, frame: TextFrame): void {
    const { originHid, originName, msgId, text } = frame;
    this.#show(this.#reassembler.part({ originHid, originName, msgId, text, event }));
    this.#schedule();
  }

  /** Lets go of every long text still waiting (the room is left): their parts, one by one. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#show(this.#reassembler.flush());
  }

  #show(deliveries: Delivery<Piece>[]): void {
    if (deliveries.length === 0) return;
    const privacy = this.#host.privacy;
    const wireRoom = deliveries[0]!.parts[0]!.event.room;
    if (privacy.roomOf(wireRoom) === null && this.#queued === 0) {
      for (const d of deliveries) this.#host.emit(merged(d.parts, d.text, wireRoom));
      return;
    }
    this.#inOrder(async () => {
      for (const d of deliveries) {
        const texts = await Promise.all(d.parts.map((p) => this.#decrypt(p)));
        const shown = privacy.shown(wireRoom);
        if (texts.every((t) => t !== null)) {
          this.#host.emit(merged(d.parts, texts.join(""), shown));
        } else {
          d.parts.forEach((p, i) => {
            const t = texts[i];
            if (t !== null && t !== undefined) this.#host.emit(merged([p], t, shown));
          });
        }
      }
    });
  }

  #inOrder(work: () => Promise<void>): void {
    this.#queued++;
    const next = this.#showing.then(work).finally(() => void this.#queued--);
    this.#showing = next.catch((error) => logger.error("Cannot show a text: {error}", { error }));
    this.#host.track(this.#showing);
  }

  async #decrypt(piece: Piece): Promise<string | null> {
    const text = await this.#host.privacy.decrypt(piece.event.room, piece.text, piece);
    if (text === null) this.#undecryptable(piece);
    return text;
  }

  #undecryptable(piece: Piece): void {
    if (this.#reported.has(piece.originHid)) return;
    this.#reported.add(piece.originHid);
    if (this.#reported.size > REPORTED_ORIGINS) {
      this.#reported.delete(this.#reported.values().next().value!);
    }
    this.#host.report(
      "undecryptable",
      "error",
      `Dropped a text from ${piece.originName} (originHID ${piece.originHid}) that does not ` +
        `decrypt with this private room's password (a client without it, or an altered text); ` +
        `its texts that do not decrypt are not shown`,
    );
  }

  /** Sets the timer for the next long text whose wait ends. */
  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const deadline = this.#reassembler.nextDeadline();
    if (deadline === null || this.#host.signal.aborted) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#show(this.#reassembler.expire());
      this.#schedule();
    }, Math.max(0, deadline - Date.now()));
  }
}

/** One message event for `parts` (in msgID order) showing `text` in room `room`. */
function merged(parts: Piece[], text: string, room: string): MessageEvent {
  return {
    ...parts[0]!.event,
    room,
    text,
    verified: parts.every((p) => p.event.verified),
  };
}

/** Resolves true after `ms`, or false at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", abort);
      resolve(ok);
    };
    const abort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal.addEventListener("abort", abort, { once: true });
  });
}
