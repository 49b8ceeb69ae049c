/**
 * The room history of a peer, wired (issue 11, item 5; `docs/extensions.md`,
 * `history-request` and `history`): every message the peer shows is kept in
 * its {@linkcode History} (`./history.ts`) as it was on the wire; `/history`
 * shows them; a member that asks over a link what it missed is answered; and
 * after joining, rejoining or losing a link this peer asks a ringchat/2
 * member it links to for what it missed itself.
 *
 * Exactly once, whatever path a message takes: a message that comes in an
 * answer is shown (a `message` event with `history: true`) only when it is
 * new both to the history store and to the live dedup window
 * ({@linkcode SeenWindow}); when it is shown it is admitted to the window, so
 * a live copy that comes later is dropped as seen. Order: while an answer is
 * awaited, live messages of others are held back (bounded) and shown after
 * it, so each origin's messages are shown in msgID order. After a join they
 * are held from the first one that comes, even before the request is asked:
 * texts may come before the first ring link is up to ask (over a broadcast
 * tree's finger link, or in the same read as a link's handshake), and the
 * answer then brings older texts of their origins (bounded: once per join,
 * {@linkcode NEW_LINK_WAIT_MS} for a request to be asked, and only while a link
 * to a ringchat/2 member is open; in a room of seed clients nothing waits).
 *
 * Bounded whatever others send: a request is answered only on a link whose
 * other side speaks ringchat/2 (and proved its key when it has one), one
 * answer per link at a time, a few answers per link per minute, at most
 * {@linkcode MAX_ANSWERS} at once, written only as the link drains; an
 * answer is taken only for the request open on that link, only up to its
 * `limit`, with every entry checked (size, names, a member's name) before
 * the store — itself bounded by count, bytes and age — takes it.
 *
 * @module
 */

import { textSigningInput, verifyNow } from "./identity.ts";
import { getLogger } from "@logtape/logtape";
import { encodeFrame, type ExtensionFrame, type TextFrame } from "../lib/frames.ts";
import { MAX_NAME_BYTES } from "../lib/limits.ts";
import { TokenBucket } from "../lib/token_bucket.ts";
import {
  HistoryChunks,
  type HistoryEntry,
  historyErrorBody,
  type HistoryErrorCode,
  type HistoryRequest,
  historyRequestBody,
  historyResponseBodies,
  parseHistoryRequest,
  parseHistoryResponse,
} from "./catch_up.ts";
import type { PeerEvent } from "./events.ts";
import type { SeenWindow } from "./flood.ts";
import { type History, inOriginOrder, type NewMessage, type StoredMessage } from "./history.ts";
import type { Link } from "./links.ts";
import type { Membership } from "./membership.ts";
import type { Place } from "./state.ts";

const logger = getLogger(["ringchat", "peer", "history"]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The op a member asks with. */
export const HISTORY_REQUEST_OP = "history-request";
/** The op of an answer's frames. */
export const HISTORY_OP = "history";

/** Answers being written at once, over all links. */
export const MAX_ANSWERS = 4;
/** Answers per link: a burst of this many, then one per {@linkcode ANSWER_REFILL_MS}. */
export const ANSWER_BURST = 4;
/** Time for one more answer on a link, in ms. */
export const ANSWER_REFILL_MS = 15_000;
/** An answer's next frame waits while the link has more than this queued. */
export const ANSWER_PACE_BYTES = 256 * 1024;
/** An answer with no frame for this long is over (docs/extensions.md), in ms. */
export const ANSWER_IDLE_MS = 10_000;
/** Live messages held back while an answer is awaited, at most (then all are shown). */
export const MAX_HELD = 2048;
/** A window entry for a history message only when it is this recent (the window's TTL), in ms. */
const WINDOW_MS = 120_000;
/** Longest time one answer may take, however its frames come, in ms. */
export const ANSWER_TOTAL_MS = 60_000;
/** How long a lost link's catch-up waits for a new link before asking any, in ms. */
export const NEW_LINK_WAIT_MS = 2_000;
/** Messages shown from answers that the live window did not take, remembered at most. */
export const MAX_UNWINDOWED = 4096;
/** Rounds of one catch-up when answers come truncated. */
const MAX_ROUNDS = 4;

/** What a message event of the history says: the live fields, `history`, and `at`. */
export type MessageEvent = Extract<PeerEvent, { type: "message" }>;

/** What the history needs from its peer. */
export interface HistorySyncHost {
  /** My place while joined, else null. */
  place(): Place | null;
  readonly members: Membership;
  readonly seen: SeenWindow;
  /** Every open link of the ring: the ones asked. */
  links(): Link[];
  /**
   * Every open link texts come over: the ring's and the broadcast tree's
   * finger links (tree.ts). Default: {@linkcode HistorySyncHost.links}.
   */
  textLinks?(): Link[];
  /** True when `link`'s other side speaks ringchat/2 (text_guard.ts). */
  speaksRingchat(link: Link): boolean;
  emit(event: PeerEvent): void;
  report(key: string, type: "info" | "error", message: string): void;
  track<T>(promise: Promise<T>): Promise<T>;
  /** Aborted when the peer quits. */
  signal: AbortSignal;
  /**
   * The text to show for a wire text (a private room's decryption, provided
   * by peer/private_room.ts); null: not for showing (dropped). Default: the
   * wire text as it is.
   */
  decodeText?(origin: string, name: string, msgId: bigint, wireText: string): string | null;
  /** The name events show for the wire room `wireRoom` (a private room's real name). Default: it. */
  shownRoom?(wireRoom: string): string;
  /** The clock, ms since the epoch. @default {Date.now} */
  now?: () => number;
}

/** The catch-up's sizes. */
export interface HistorySyncOptions {
  /** Messages a newcomer asks for. @default {50} */
  newest?: number;
  /** Most messages taken from one answer. @default {1000} */
  limit?: number;
  /** Longest chat text taken from an answer, in bytes. */
  maxTextBytes: number;
  /**
   * How long a lost link's catch-up waits for a new link before asking any,
   * and a join's held messages wait for its request to be asked, in ms.
   * @default {NEW_LINK_WAIT_MS}
   */
  newLinkWaitMs?: number;
}

/** A request of mine, open on a link. */
interface OpenRequest {
  link: Link;
  ref: string;
  limit: number;
  taken: number;
  chunks: HistoryChunks;
  /** Highest msgID taken per origin: the next round's `since`. */
  got: Map<string, bigint>;
  timer: ReturnType<typeof setTimeout>;
  /** When the answer must be over, whatever comes (performance.now). */
  deadline: number;
}

/** A checked message of an answer: what to store, its bytes, and the text to show. */
interface Taken {
  message: NewMessage;
  content: Uint8Array;
  text: string;
  /** Its origin's signature verified with the key the registry gave for it. */
  verified: boolean;
}

/** What to ask for: what was missed since a cursor, or a newcomer's newest. */
type Want = { since: Map<string, bigint> } | { newest: number };

/** A peer's history: store, `/history`, answers and catch-up; see the module doc. */
export class HistorySync {
  readonly #host: HistorySyncHost;
  readonly #store: History;
  readonly #newest: number;
  readonly #limit: number;
  readonly #maxTextBytes: number;
  readonly #newLinkWaitMs: number;
  readonly #now: () => number;
  /** What I still want to ask for, or null (caught up). */
  #want: Want | null = null;
  #rounds = 0;
  #open: OpenRequest | null = null;
  /** Links asked in this catch-up: a failed one is not asked again. */
  #tried = new WeakSet<Link>();
  #nextRef = 1;
  /**
   * Set from a join until its first request is asked (or the catch-up ends):
   * the first live message of another that comes meanwhile starts the hold.
   */
  #joinPending = false;
  /** Set while messages are held for a join's request that is not asked yet. */
  #holdingForAsk = false;
  /** Set while a lost link's catch-up waits for the next link to come up. */
  #waitingForLink: ReturnType<typeof setTimeout> | undefined;
  /** Messages held back while an answer is awaited (live and history), or null when not holding. */
  #held: MessageEvent[] | null = null;
  #holdTimer: ReturnType<typeof setTimeout> | undefined;
  /** Links an answer is being written on. */
  readonly #answering = new Set<Link>();
  readonly #answerBuckets = new WeakMap<Link, TokenBucket>();
  /** Aborted by {@linkcode HistorySync.close}, with the peer's signal. */
  readonly #stop = new AbortController();
  readonly #signal: AbortSignal;
  /** When this peer started (ms since the epoch): what the history held before, it showed before. */
  readonly #startedAt: number;
  /**
   * Messages shown from answers that the live window did not take (their
   * origin not a member now, or older than the window), by key, with when:
   * a live copy of one is not shown again. At most {@linkcode MAX_UNWINDOWED}
   * for at most the window's lifetime.
   */
  readonly #unwindowed = new Map<string, number>();
  /** What answers and catch-ups did (stats and tests). */
  readonly counts = { answered: 0, refused: 0, asked: 0, shown: 0, dropped: 0 };

  /** The history of a peer, kept in `store` (closed with it). */
  constructor(host: HistorySyncHost, store: History, options: HistorySyncOptions) {
    this.#host = host;
    this.#store = store;
    this.#newest = options.newest ?? 50;
    this.#limit = options.limit ?? 1000;
    this.#maxTextBytes = options.maxTextBytes;
    this.#newLinkWaitMs = options.newLinkWaitMs ?? NEW_LINK_WAIT_MS;
    this.#now = host.now ?? Date.now;
    this.#signal = AbortSignal.any([host.signal, this.#stop.signal]);
    this.#startedAt = this.#now();
  }

  /** The store (for the stats and tests). */
  get store(): History {
    return this.#store;
  }

  /** True while a request of mine is open. */
  get asking(): boolean {
    return this.#open !== null;
  }

  // ---- the live path ---------------------------------------------------

  /**
   * The relay is about to show `frame` (its `T` content `content`, as on the
   * wire): keeps it, and says whether to show it. False for a message this
   * history stored before this peer started, less than the dedup window's
   * lifetime ago: shown before a restart, it comes again in a new link's
   * replay of the last moments (the seed's rule), and the window, new with
   * the process, does not know it. (Since the start, the window alone
   * judges: it forgets, for one, the texts of a seed client that restarted.)
   */
  record(frame: TextFrame, content: Uint8Array, sig?: Uint8Array): boolean {
    if (this.#stop.signal.aborted) return true;
    const at = this.#store.storedAt(
      frame.room,
      frame.originHid,
      frame.originName,
      frame.msgId,
      content,
    );
    if (at !== null && this.#shownBefore(at, unwindowedKey(frame.originHid, frame.msgId, at))) {
      return false;
    }
    this.#store.add({
      room: frame.room,
      originHid: frame.originHid,
      originName: frame.originName,
      msgId: frame.msgId,
      content,
      at: this.#now(),
      ...(sig === undefined ? {} : { verified: true, sig }),
    });
    return true;
  }

  /**
   * Whether a live text the history holds (stored with `at`) was shown
   * already: before this peer started, or from an answer, out of the
   * window's reach, within the window's lifetime.
   */
  #shownBefore(at: number, key: string): boolean {
    const now = this.#now();
    if (at < this.#startedAt && now - at < WINDOW_MS) return true;
    const since = this.#unwindowed.get(key);
    return since !== undefined && now - since < WINDOW_MS;
  }

  /** Emits a live event, holding others' messages back while an answer is awaited. */
  emitLive(event: PeerEvent): void {
    if (event.type === "message" && !event.self && this.#joinPending) this.#holdForAsk();
    if (this.#held === null || event.type !== "message" || event.self) {
      return this.#host.emit(event);
    }
    this.#show(event);
  }

  // ---- /history --------------------------------------------------------

  /** The `history` event of my room's last `count` messages. */
  historyEvent(room: string, count: number, me: string): Extract<PeerEvent, { type: "history" }> {
    const messages = this.#store.recent(room, count).flatMap((m) => {
      const text = this.#decode(m.originHid, m.originName, m.msgId, decoder.decode(m.content));
      // A text that does not decode (a private room's, under another password) is not shown.
      if (text === null) return [];
      return [{
        from: m.originName,
        originHid: m.originHid,
        msgId: m.msgId.toString(),
        text,
        at: new Date(m.at).toISOString(),
        self: m.originHid === me,
      }];
    });
    return { type: "history", room: this.#host.shownRoom?.(room) ?? room, messages };
  }

  // ---- when to ask -----------------------------------------------------

  /** I joined `room`: ask for what I missed since my history's last messages, or the newest. */
  joined(room: string): void {
    const cursor = this.#store.lastSeen(room);
    this.#begin(cursor.size === 0 ? { newest: this.#newest } : { since: cursor });
    this.#joinPending = true;
    this.#ask();
  }

  /** A link came up, or proved its key: the one to ask first. */
  linkUp(link: Link): void {
    this.#ask(link);
  }

  /**
   * A link went down: what I missed meanwhile (since what I had then) is
   * asked for on the next link that comes up, which reaches the part of the
   * room the lost link did (the repair); on any link if none comes within
   * {@linkcode HistorySyncOptions.newLinkWaitMs}.
   */
  linkDown(link: Link): void {
    if (this.#open?.link === link) this.#failed("the link dropped");
    const place = this.#host.place();
    if (place === null || this.#want !== null || this.#stop.signal.aborted) return;
    this.#begin({ since: this.#store.lastSeen(place.room) });
    this.#waitingForLink = setTimeout(() => {
      this.#waitingForLink = undefined;
      this.#ask();
    }, this.#newLinkWaitMs);
  }

  /** The member information changed: a link may speak ringchat/2 now. */
  membersChanged(): void {
    this.#ask();
  }

  /** I left the room (or quit): nothing more to ask; held messages are shown. */
  left(): void {
    if (this.#open !== null) this.#close(this.#open);
    clearTimeout(this.#waitingForLink);
    this.#waitingForLink = undefined;
    this.#want = null;
    this.#joinPending = false;
    this.#release();
  }

  /** Closes the store; held messages are shown. */
  close(): void {
    if (this.#stop.signal.aborted) return;
    this.left();
    this.#stop.abort();
    this.#store.close();
  }

  #begin(want: Want): void {
    this.#joinPending = false;
    clearTimeout(this.#waitingForLink);
    this.#waitingForLink = undefined;
    this.#want = want;
    this.#rounds = 0;
    this.#tried = new WeakSet();
  }

  /**
   * Asks a ringchat link for what I want (`first` if it can be asked), if
   * there is one to ask and nothing is open.
   */
  #ask(first?: Link): void {
    const place = this.#host.place();
    if (place === null || this.#want === null || this.#open !== null) return;
    const links = this.#host.links().filter((l) => !this.#tried.has(l));
    if (first !== undefined) {
      if (this.#waitingForLink !== undefined && !this.#askable(first)) return;
      clearTimeout(this.#waitingForLink);
      this.#waitingForLink = undefined;
    } else if (this.#waitingForLink !== undefined) return;
    const link = first !== undefined && this.#askable(first) && !this.#tried.has(first)
      ? first
      : links.find((l) => this.#askable(l));
    if (link === undefined) {
      // A link whose key proof is awaited will be asked: hold live messages for its answer;
      // nobody to ask: do not hold them for an answer that may never come.
      if (links.some((l) => this.#pending(l))) this.#hold();
      else if (!this.#holdingForAsk) this.#release();
      return;
    }
    this.#tried.add(link);
    const ref = String(this.#nextRef++);
    const request: HistoryRequest = {
      room: place.room,
      ref,
      want: this.#want,
      limit: this.#limit,
    };
    const open: OpenRequest = {
      link,
      ref,
      limit: this.#limit,
      taken: 0,
      chunks: new HistoryChunks(),
      got: new Map(),
      timer: setTimeout(() => this.#failed("no answer in time"), ANSWER_IDLE_MS),
      deadline: performance.now() + ANSWER_TOTAL_MS,
    };
    this.#open = open;
    this.#joinPending = false;
    this.#holdingForAsk = false;
    this.counts.asked++;
    this.#hold();
    logger.debug("Asking {name} for the history: {want}", {
      name: link.peer.name,
      want: "newest" in this.#want ? `newest ${this.#want.newest}` : "since",
    });
    const sent = link.send(
      encodeFrame({ type: "X", op: HISTORY_REQUEST_OP, body: historyRequestBody(request) }),
    );
    if (!sent) this.#failed("the link dropped");
  }

  /** A link to ask: its other side speaks ringchat/2 and proved its key if it has one. */
  #askable(link: Link): boolean {
    if (!link.open || !this.#host.speaksRingchat(link)) return false;
    const auth = link.auth;
    return auth === undefined || !auth.required || auth.verified;
  }

  /** A link that may become askable soon (its proof is awaited). */
  #pending(link: Link): boolean {
    return link.open && link.auth?.pending === true && this.#host.speaksRingchat(link);
  }

  /**
   * A live message of another came after a join, before its request was
   * asked: it and what follows are held for the request, if a link that can
   * answer is open (ring or finger link: the ring link to ask comes a moment
   * later), for at most {@linkcode HistorySyncOptions.newLinkWaitMs} until it is asked. Once
   * per join.
   */
  #holdForAsk(): void {
    this.#joinPending = false;
    if (this.#held !== null || this.#open !== null || this.#want === null) return;
    const links = this.#host.textLinks?.() ?? this.#host.links();
    if (!links.some((l) => this.#askable(l) || this.#pending(l))) return;
    this.#holdingForAsk = true;
    this.#hold(this.#newLinkWaitMs);
  }

  #hold(ms = ANSWER_IDLE_MS): void {
    if (this.#held !== null) return;
    this.#held = [];
    this.#armHold(ms);
  }

  /**
   * Holding ends when no request is open `ms` after it began (an idle time,
   * or a join's wait for its request), or an idle time after the last check.
   */
  #armHold(ms = ANSWER_IDLE_MS): void {
    this.#holdTimer = setTimeout(() => {
      if (this.#open === null) this.#release();
      else this.#armHold();
    }, ms);
  }

  /** Shows a message now, or holds it with the others until the answer is over. */
  #show(event: MessageEvent): void {
    const held = this.#held;
    if (held === null) return this.#host.emit(event);
    held.push(event);
    if (held.length >= MAX_HELD) this.#release();
  }

  /**
   * Shows the messages held back and stops holding: in the order they came
   * (an answer's, then the live ones), except that each origin's messages are
   * in msgID order (a live copy from the last seconds that came before the
   * answer goes back to its place among the missed ones).
   */
  #release(): void {
    clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
    this.#holdingForAsk = false;
    const held = this.#held;
    this.#held = null;
    for (const event of inOriginOrder(held ?? [], (e) => BigInt(e.msgId))) this.#host.emit(event);
  }

  #failed(why: string): void {
    const open = this.#open;
    if (open === null) return;
    logger.debug("History from {name} failed: {why}", { name: open.link.peer.name, why });
    this.#close(open);
    this.#ask();
    if (this.#open === null) this.#release();
  }

  #close(open: OpenRequest): void {
    clearTimeout(open.timer);
    open.chunks.end();
    if (this.#open === open) this.#open = null;
  }

  // ---- ops on links ----------------------------------------------------

  /** An `X` frame on a link: true when it was a history op (handled here). */
  onOp(link: Link, frame: ExtensionFrame): boolean {
    if (this.#stop.signal.aborted) {
      return frame.op === HISTORY_REQUEST_OP || frame.op === HISTORY_OP;
    }
    if (frame.op === HISTORY_REQUEST_OP) this.#answer(link, frame.body);
    else if (frame.op === HISTORY_OP) this.#take(link, frame.body);
    else return false;
    return true;
  }

  /** Answers a request (module doc: one per link at a time, a few per minute, paced). */
  #answer(link: Link, body: Record<string, unknown>): void {
    const place = this.#host.place();
    if (place === null || !this.#askable(link)) return;
    const room = place.room;
    const ref = typeof body.ref === "string" && /^[\x20-\x7e]{1,32}$/.test(body.ref)
      ? body.ref
      : null;
    if (ref === null) return void this.counts.refused++;
    let request: HistoryRequest;
    try {
      request = parseHistoryRequest(body);
    } catch {
      return this.#refuse(link, room, ref, "bad-request");
    }
    if (request.room !== room) return this.#refuse(link, room, ref, "wrong-room");
    const now = performance.now();
    let bucket = this.#answerBuckets.get(link);
    if (bucket === undefined) {
      bucket = new TokenBucket({ ratePerSecond: 1000 / ANSWER_REFILL_MS, burst: ANSWER_BURST });
      this.#answerBuckets.set(link, bucket);
    }
    if (
      this.#answering.has(link) || this.#answering.size >= MAX_ANSWERS || bucket.tokens(now) < 1
    ) {
      return this.#refuse(link, room, ref, "busy");
    }
    bucket.take(1, now);
    const limit = request.limit;
    const found = "newest" in request.want
      ? this.#store.recent(room, Math.min(request.want.newest, limit))
      : this.#store.since(room, request.want.since, limit + 1);
    const truncated = "newest" in request.want
      ? this.#store.size(room).count > limit
      : found.length > limit;
    const entries = found.slice(0, limit).map(toEntry);
    const bodies = historyResponseBodies(room, ref, entries, { truncated });
    this.#answering.add(link);
    this.counts.answered++;
    this.#host.track(this.#write(link, bodies)).finally(() => this.#answering.delete(link));
  }

  /** Writes an answer's frames, each once the link has drained below the pace. */
  async #write(link: Link, bodies: Record<string, unknown>[]): Promise<void> {
    const signal = this.#signal;
    for (const body of bodies) {
      while (link.open && link.queuedBytes > ANSWER_PACE_BYTES && !signal.aborted) {
        await delay(5, signal);
      }
      if (!link.open || signal.aborted) return;
      if (!link.send(encodeFrame({ type: "X", op: HISTORY_OP, body }))) return;
    }
  }

  #refuse(link: Link, room: string, ref: string, error: HistoryErrorCode): void {
    this.counts.refused++;
    link.send(encodeFrame({ type: "X", op: HISTORY_OP, body: historyErrorBody(room, ref, error) }));
  }

  /** A frame of an answer: taken only for the request open on this link. */
  #take(link: Link, body: Record<string, unknown>): void {
    const open = this.#open;
    if (open === null || open.link !== link || body.ref !== open.ref) return;
    const place = this.#host.place();
    if (place === null) return;
    let response;
    try {
      response = parseHistoryResponse(body);
    } catch (error) {
      this.#host.report(
        `history ${link.peer.name}`,
        "error",
        `Dropped a malformed history answer from ${link.peer.name}: ${(error as Error).message}`,
      );
      return this.#failed("a malformed frame");
    }
    if (response.room !== place.room) return this.#failed("an answer for another room");
    if (response.error !== undefined) return this.#failed(`refused: ${response.error}`);
    clearTimeout(open.timer);
    const idle = Math.min(ANSWER_IDLE_MS, open.deadline - performance.now());
    open.timer = setTimeout(() => this.#failed("no answer in time"), Math.max(0, idle));
    const taken: Taken[] = [];
    for (const entry of response.messages) {
      if (open.taken >= open.limit) break;
      const whole = open.chunks.accept(entry);
      if (whole === null) continue;
      open.taken++;
      const checked = this.#check(place, whole, open);
      if (checked !== null) taken.push(checked);
    }
    // The frame's messages stored in one transaction, then shown if new.
    const stored = this.#store.addAll(taken.map((t) => t.message));
    taken.forEach((t, i) => {
      if (stored[i]) this.#showIfNew(place, t);
    });
    // An answer that passed its limit is over, whatever else it sends.
    if (response.end || open.taken >= open.limit) this.#ended(open, response.truncated);
  }

  /** One whole message of an answer, checked: what to store and show, or null (dropped). */
  #check(place: Place, entry: HistoryEntry, open: OpenRequest): Taken | null {
    const content = encoder.encode(entry.text);
    const member = this.#host.members.members.find((m) => m.hashId.toString() === entry.originHid);
    if (
      content.length > this.#maxTextBytes || content.length === 0 ||
      encoder.encode(entry.originName).length > MAX_NAME_BYTES || entry.originName.length === 0 ||
      (member !== undefined && member.name !== entry.originName)
    ) {
      this.counts.dropped++;
      return null;
    }
    const seen = open.got.get(entry.originHid);
    if (seen === undefined || entry.msgId > seen) open.got.set(entry.originHid, entry.msgId);
    // A member with a key is believed only with its signature (docs/security.md), as live.
    const key = this.#host.members.keyOfOrigin(entry.originHid);
    const verified = key !== undefined && entry.sig !== undefined &&
      verifyNow(
        key,
        textSigningInput(place.room, entry.originHid, entry.msgId, content),
        entry.sig,
      );
    if (key !== undefined && !verified) {
      this.counts.dropped++;
      return null;
    }
    const text = this.#decode(entry.originHid, entry.originName, entry.msgId, entry.text);
    if (text === null) {
      this.counts.dropped++;
      return null;
    }
    const message: NewMessage = {
      room: place.room,
      originHid: entry.originHid,
      originName: entry.originName,
      msgId: entry.msgId,
      content,
      at: Math.min(entry.at, this.#now()),
    };
    if (entry.group !== undefined) message.group = entry.group;
    if (verified) Object.assign(message, { verified, sig: entry.sig });
    return { message, content, text, verified };
  }

  /** A message new to the history: shown unless the live window saw it. */
  #showIfNew(place: Place, { message, content, text, verified }: Taken): void {
    const seen = this.#host.seen;
    const { originHid, originName, msgId } = message;
    const at = message.at!;
    const verdict = seen.check(originHid, originName, msgId, content);
    if (verdict === "seen" || verdict === "full") return;
    if (verdict === "new" && this.#now() - at < WINDOW_MS) {
      seen.admit(originHid, originName, msgId, content);
    } else this.#remember(unwindowedKey(originHid, msgId, at));
    this.counts.shown++;
    this.#show({
      type: "message",
      room: this.#host.shownRoom?.(place.room) ?? place.room,
      from: originName,
      originHid,
      msgId: msgId.toString(),
      text,
      self: originHid === place.me.hashId.toString(),
      verified,
      history: true,
      at: new Date(at).toISOString(),
    });
  }

  #remember(key: string): void {
    const now = this.#now();
    this.#unwindowed.delete(key);
    this.#unwindowed.set(key, now);
    for (const [old, since] of this.#unwindowed) {
      if (this.#unwindowed.size <= MAX_UNWINDOWED && now - since < WINDOW_MS) break;
      this.#unwindowed.delete(old);
    }
  }

  /** An answer's last frame: done, or the next round when it was cut at its limit. */
  #ended(open: OpenRequest, truncated: boolean): void {
    if (open.chunks.end()) this.counts.dropped++;
    this.#close(open);
    const want = this.#want;
    if (
      truncated && want !== null && "since" in want && open.got.size > 0 &&
      ++this.#rounds < MAX_ROUNDS
    ) {
      const since = new Map(want.since);
      for (const [origin, msgId] of open.got) since.set(origin, msgId);
      this.#want = { since };
      this.#tried = new WeakSet();
      this.#ask();
      return;
    }
    this.#want = null;
    this.#release();
  }

  #decode(origin: string, name: string, msgId: bigint, wireText: string): string | null {
    const decode = this.#host.decodeText;
    return decode === undefined ? wireText : decode(origin, name, msgId, wireText);
  }
}

function toEntry(message: StoredMessage): HistoryEntry {
  const entry: HistoryEntry = {
    originHid: message.originHid,
    originName: message.originName,
    msgId: message.msgId,
    at: message.at,
    text: decoder.decode(message.content),
  };
  if (message.group !== undefined) entry.group = message.group;
  if (message.sig !== undefined) entry.sig = message.sig;
  return entry;
}

/** Resolves after `ms`, or at once when `signal` aborts (its timer cleared). */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/**
 * The key of a stored message among those shown from answers: its origin,
 * msgID and stored time (the store's own record of it, so a different text
 * under the same msgID, stored apart, has another).
 */
function unwindowedKey(originHid: string, msgId: bigint, at: number): string {
  return `${originHid}\n${msgId}\n${at}`;
}
