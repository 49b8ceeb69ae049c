/**
 * The P2PChat peer of PROTOCOL.md §6 as an in-process engine: the state
 * machine START → NAMED → JOINED → CONNECTED, the ring forward link and the
 * backward links, flooding with exactly-once delivery, and UDP pokes. It never
 * prints: everything that happens is a {@linkcode PeerEvent} (what other
 * members or the registry do wrong is an `error` or `info` event, never an
 * exception).
 *
 * Nothing another client sends can crash, stall or bloat it: every limit is an
 * option ({@linkcode PEER_DEFAULTS}, explained in `docs/peer_limits.md`), and
 * misbehaviour is reported without flooding the user (a few reports at once,
 * then one every few seconds per kind, each counting those not shown).
 *
 * @example My own message comes back to me as a `message` event
 * ```ts
 * import assert from "node:assert/strict";
 * import { startRegistry } from "../registry/registry.ts";
 * import type { PeerEvent } from "./events.ts";
 * import { startPeer } from "./peer.ts";
 *
 * await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
 * const events: PeerEvent[] = [];
 * await using peer = await startPeer({
 *   registry: { hostname: "127.0.0.1", port: registry.port },
 *   name: "alice",
 *   room: "room1",
 *   onEvent: (event) => events.push(event),
 * });
 * await peer.send("hello: world");
 * const message = events.find((event) => event.type === "message");
 * assert.deepEqual(message && [message.from, message.text, message.self], [
 *   "alice",
 *   "hello: world",
 *   true,
 * ]);
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import {
  encodeFrame,
  type HandshakeFrame,
  type Member,
  type MembersFrame,
  membersPayload,
  type TextFrame,
} from "../lib/frames.ts";
import { nameProblem } from "../lib/names.ts";
import { forwardCandidates, memberKey, type RingMember, withHashIds } from "../lib/ring.ts";
import { hashId } from "../lib/sdbm.ts";
import type { LinkPeer, MemberInfo, PeerEvent } from "./events.ts";
import { MsgCounter, RecentFrames, SeenWindow } from "./flood.ts";
import {
  dial,
  greet,
  Link,
  type LinkHandlers,
  linkMaxFrameBytes,
  type LinkOptions,
  PeerClosed,
} from "./links.ts";
import { type PokeLimitReport, PokeSocket } from "./poke.ts";
import { type PeerOptions, type ResolvedOptions, resolvePeerOptions } from "./options.ts";
import { RateLimiter } from "./rate_limit.ts";
import { RegistryClient, RegistryFailure } from "./registry_client.ts";

export type { PeerEvent } from "./events.ts";
export { PEER_DEFAULTS, type PeerOptions } from "./options.ts";

const logger = getLogger(["ringchat", "peer"]);
const encoder = new TextEncoder();

/** The peer's states (PROTOCOL.md §6). */
export type PeerState = "START" | "NAMED" | "JOINED" | "CONNECTED";

/** A running peer; see {@linkcode startPeer}. */
export interface PeerHandle extends AsyncDisposable {
  /** The TCP and UDP listening port. */
  readonly port: number;
  /** The current state. */
  readonly state: PeerState;
  /** A new subscription: every event from now on; ends after "quit". */
  events(): AsyncIterableIterator<PeerEvent>;
  /** Calls `listener` with every event from now on; returns the unsubscribe function. */
  on(listener: (event: PeerEvent) => void): () => void;
  /** Sets the user name (only before joining). */
  user(name: string): void;
  /** Asks the registry for the rooms; emits "rooms". */
  list(): Promise<void>;
  /** Joins a room; emits "joined", then links into the ring. */
  join(room: string): Promise<void>;
  /** Floods a chat message to the room. */
  send(text: string): Promise<void>;
  /** Pokes a member by name; with no name emits "members". Resolves after the outcome is emitted. */
  poke(name?: string): Promise<void>;
  /** Emits "members" with my forward and backward links marked. */
  who(): void;
  /** Emits "links". */
  links(): void;
  /** Releases everything; emits "quit" last. Idempotent. */
  quit(): Promise<void>;
  /** Resolves once the peer has quit. */
  readonly closed: Promise<void>;
}

/**
 * Reports of one kind (by key) shown at once, then one per
 * `1 / REPORT_RATE` s while the abuse lasts, each saying how many were not
 * shown: a flood costs a few lines, not one per frame.
 */
const REPORT_BURST = 3;
const REPORT_RATE = 0.2;

const BIND_ATTEMPTS = 32;

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function linkPeer(member: Member): LinkPeer {
  return { name: member.name, ip: member.ip, port: member.port };
}

function sameKey(a: Member, b: Member): boolean {
  return a.name === b.name && a.port === b.port && a.ip === b.ip;
}

/**
 * Starts a peer: binds the TCP listener and the UDP socket on one port, emits
 * "ready", then applies `name` and `room` from the options.
 *
 * @throws when the port cannot be bound (the only failure that throws, with
 * a `RangeError` for an option out of range)
 */
export async function startPeer(options: PeerOptions = {}): Promise<PeerHandle> {
  const peer = new Peer(options);
  if (options.onEvent !== undefined) peer.on(options.onEvent);
  peer.bind();
  await peer.boot();
  return peer;
}

class Peer implements PeerHandle {
  readonly #opts: ResolvedOptions;
  readonly #listeners = new Set<(event: PeerEvent) => void>();
  readonly #tasks = new Set<Promise<unknown>>();
  readonly #abort = new AbortController();
  readonly #registry: RegistryClient;
  readonly #seen = new SeenWindow();
  readonly #counter = new MsgCounter();
  readonly #linkHandlers: LinkHandlers;
  #listener: Deno.TcpListener | null = null;
  #poker: PokeSocket | null = null;
  #port = 0;

  #name: string | null = null;
  #room: string | null = null;
  #me: RingMember | null = null;
  #joining: Promise<void> | null = null;
  #members: RingMember[] = [];
  /** The payload of the last member list, to tell an unchanged list without hashing it. */
  #membersPayload = "";
  /** HashIDs (decimal) and names of the listed members: the origins I know. */
  #originKeys = new Set<string>();
  #msid: bigint | null = null;

  #forward: Link | null = null;
  readonly #backward = new Set<Link>();
  /** Links that take no more frames but are still finishing their writes and reads. */
  readonly #ending = new Set<Link>();
  #linking: Promise<void> | null = null;
  #relinkAgain = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #linkWaiters = new Set<() => void>();
  readonly #refreshedOrigins = new Set<string>();
  /** The frames of the last moments, for links that come up. */
  readonly #recent: RecentFrames;
  /** Members missing from the member list (by HashID), and since when (ms). */
  readonly #departed = new Map<string, { name: string; since: number }>();
  /** Linked members missing from the member list, and since when (ms). */
  readonly #absentSince = new Map<string, number>();
  /** Handshakes being checked, as the members they name. */
  readonly #greeting = new Set<Member>();
  /** Accepted connections not yet links or refused. */
  #handshakes = 0;
  readonly #linkOptions: LinkOptions;
  readonly #maxFrameBytes: number;
  /** Messages per origin (originHID). */
  readonly #textRate: RateLimiter;
  /** Reports of misbehaviour, by kind. */
  readonly #reports = new RateLimiter({ ratePerSecond: REPORT_RATE, burst: REPORT_BURST });
  /** The re-JOIN that looks up unknown members, once scheduled and not yet sent. */
  #lookup: { promise: Promise<void>; resolve: () => void } | null = null;
  #lookupTimer: ReturnType<typeof setTimeout> | undefined;
  #lastLookup = Number.NEGATIVE_INFINITY;

  #quitting: Promise<void> | null = null;
  readonly #closed = Promise.withResolvers<void>();

  constructor(options: PeerOptions) {
    this.#opts = resolvePeerOptions(options);
    this.#textRate = new RateLimiter({
      ratePerSecond: this.#opts.maxTextRate,
      burst: this.#opts.textBurst,
    });
    this.#linkOptions = {
      graceMs: this.#opts.handshakeTimeoutMs,
      frameTimeoutMs: this.#opts.frameTimeoutMs,
      maxTextBytes: this.#opts.maxTextBytes,
      maxQueuedBytes: this.#opts.maxQueuedBytes,
    };
    this.#maxFrameBytes = linkMaxFrameBytes(this.#opts.maxTextBytes);
    // Shorter than keepaliveMs: a departed origin is forgotten only after that.
    this.#recent = new RecentFrames(Math.min(2000, this.#opts.keepaliveMs / 2));
    this.#registry = new RegistryClient({
      hostname: this.#opts.registry.hostname,
      port: this.#opts.registry.port,
      keepaliveMs: this.#opts.keepaliveMs,
      reconnectMs: this.#opts.retryMs,
      requestTimeoutMs: this.#opts.requestTimeoutMs,
      maxFrameBytes: this.#opts.maxRegistryFrameBytes,
      onMembers: (frame) => this.#onMembers(frame),
      onFailure: (message) => this.#error(`Registry: ${message}`),
      onStatus: (status, detail) =>
        this.#emit({
          type: "info",
          message: status === "lost"
            ? `Lost the registry connection (${detail}); chat continues over the links`
            : detail,
        }),
    });
    this.#linkHandlers = {
      onText: (link, frame, raw) => this.#onText(link, frame, raw),
      onClose: (link, reason, error) => this.#onLinkClose(link, reason, error),
      onRejected: (link, reason) =>
        this.#report(
          `rejected ${memberKey(link.peer)}`,
          "error",
          `Dropped ${reason} on the link with ${link.peer.name}`,
        ),
    };
  }

  // ---- lifecycle -------------------------------------------------------

  /** Binds TCP and UDP on one port number. */
  bind(): void {
    const { hostname, port } = this.#opts;
    for (let attempt = 0;; attempt++) {
      const listener = Deno.listen({ hostname, port, transport: "tcp" });
      const bound = (listener.addr as Deno.NetAddr).port;
      try {
        this.#poker = new PokeSocket(hostname, bound, {
          onPoke: (frame) => this.#emit({ type: "poke", from: frame.name }),
          isMember: (frame, from) =>
            this.#members.some((m) =>
              m.port === from.port && (m.ip === from.hostname || m.name === frame.name)
            ),
          onLimited: (report) => this.#onPokeLimited(report),
          onJunk: (why, from) =>
            this.#report(
              "junk",
              "info",
              `Ignored a datagram from ${from.hostname}:${from.port}: ${why}`,
            ),
        }, {
          pokesPerSecond: this.#opts.maxPokeRate,
          pokeBurst: this.#opts.pokeBurst,
          strangerPokesPerSecond: this.#opts.maxStrangerPokeRate,
        });
      } catch (error) {
        listener.close();
        if (port !== 0 || attempt + 1 >= BIND_ATTEMPTS) throw error;
        continue;
      }
      this.#listener = listener;
      this.#port = bound;
      break;
    }
    this.#track(this.#acceptLoop(this.#listener));
  }

  /** Emits "ready" and applies the start options. */
  async boot(): Promise<void> {
    this.#emit({ type: "ready", port: this.#port });
    if (this.#opts.name !== undefined) this.user(this.#opts.name);
    if (this.#opts.room !== undefined) {
      if (this.#name === null) this.#error("A room to join at start needs a user name");
      else await this.join(this.#opts.room);
    }
  }

  get port(): number {
    return this.#port;
  }

  get state(): PeerState {
    if (this.#me === null) return this.#name === null ? "START" : "NAMED";
    return this.#linkCount() > 0 ? "CONNECTED" : "JOINED";
  }

  get closed(): Promise<void> {
    return this.#closed.promise;
  }

  quit(): Promise<void> {
    this.#quitting ??= this.#shutdown();
    return this.#quitting;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.quit();
  }

  async #shutdown(): Promise<void> {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#lookupTimer);
    this.#lookup?.resolve();
    this.#lookup = null;
    this.#abort.abort(new Error("Quit"));
    try {
      this.#listener?.close();
    } catch {
      // Already closed.
    }
    const links = [...this.#allLinks(), ...this.#ending];
    for (const link of this.#ending) link.close("Quit", false, false);
    // Open links first write what is queued (within the grace time).
    for (const link of this.#allLinks()) link.close("Quit");
    await this.#registry.close();
    await this.#poker?.close();
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
    await Promise.allSettled(links.map((link) => link.done()));
    clearTimeout(this.#retryTimer);
    this.#emit({ type: "quit" });
    this.#listeners.clear();
    this.#closed.resolve();
  }

  get #quit(): boolean {
    return this.#quitting !== null;
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#tasks.add(promise);
    promise.then(
      () => this.#tasks.delete(promise),
      (error) => {
        this.#tasks.delete(promise);
        logger.error("Unexpected failure: {error}", { error });
      },
    );
    return promise;
  }

  // ---- events ----------------------------------------------------------

  on(listener: (event: PeerEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  events(): AsyncIterableIterator<PeerEvent> {
    const queue: PeerEvent[] = [];
    let done = false;
    let wake: (() => void) | null = null;
    const off = this.on((event) => {
      queue.push(event);
      if (event.type === "quit") done = true;
      wake?.();
    });
    this.closed.then(() => {
      done = true;
      wake?.();
    });
    const iterator: AsyncIterableIterator<PeerEvent> = {
      async next(): Promise<IteratorResult<PeerEvent>> {
        while (queue.length === 0 && !done) {
          await new Promise<void>((resolve) => wake = resolve);
          wake = null;
        }
        const value = queue.shift();
        if (value !== undefined) return { value, done: false };
        off();
        return { value: undefined, done: true };
      },
      return(): Promise<IteratorResult<PeerEvent>> {
        off();
        done = true;
        queue.length = 0;
        wake?.();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  #emit(event: PeerEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        logger.error("An event listener threw: {error}", { error });
      }
    }
  }

  #error(message: string): void {
    this.#emit({ type: "error", message });
  }

  /**
   * Reports misbehaviour of one kind (`key`) without flooding the user: a few
   * at once, then one every few seconds, each counting those not shown.
   */
  #report(key: string, type: "info" | "error", message: string): void {
    if (this.#quit) return;
    const verdict = this.#reports.take(key);
    if (!verdict.allowed) return;
    const more = verdict.skipped === 0
      ? ""
      : ` (and ${verdict.skipped} more like it since the last report)`;
    this.#emit({ type, message: message + more });
  }

  #onPokeLimited(report: PokeLimitReport): void {
    const { scope, state, from, refused } = report;
    const who = scope === "source"
      ? `from ${from.hostname}:${from.port}`
      : "from addresses that are not a member's";
    const limit = scope === "source"
      ? `${this.#opts.maxPokeRate} per second (burst ${this.#opts.pokeBurst})`
      : `${this.#opts.maxStrangerPokeRate} per second together`;
    this.#report(
      `poke ${scope}`,
      "info",
      state === "started"
        ? `Ignoring pokes ${who}: more than ${limit}; they are neither answered nor shown`
        : `Answering pokes ${who} again after ignoring ${refused}`,
    );
  }

  // ---- commands --------------------------------------------------------

  user(name: string): void {
    if (this.#quit) return this.#error("The peer has quit");
    if (this.#me !== null || this.#joining !== null) {
      return this.#error(`Cannot change the user name after joining room ${this.#room}`);
    }
    const problem = nameProblem(name, "User name");
    if (problem !== null) return this.#error(problem);
    this.#name = name;
    this.#emit({ type: "named", name });
  }

  async list(): Promise<void> {
    if (this.#quit) return this.#error("The peer has quit");
    try {
      const rooms = await this.#registry.list();
      this.#emit({ type: "rooms", rooms });
    } catch (error) {
      if (!this.#quit) this.#error(this.#registryProblem("List", error));
    }
  }

  join(room: string): Promise<void> {
    if (this.#quit) return Promise.resolve(this.#error("The peer has quit"));
    if (this.#me !== null || this.#joining !== null) {
      return Promise.resolve(this.#error(`Already joined room ${this.#room}`));
    }
    if (this.#name === null) {
      return Promise.resolve(this.#error("Set a user name before joining a room"));
    }
    const problem = nameProblem(room, "Room name");
    if (problem !== null) return Promise.resolve(this.#error(problem));
    this.#room = room;
    const joining = this.#join(room, this.#name).finally(() => {
      this.#joining = null;
      if (this.#me === null) this.#room = null;
    });
    this.#joining = joining;
    return joining;
  }

  async #join(room: string, name: string): Promise<void> {
    try {
      await this.#registry.connect();
      const ip = this.#opts.advertise ?? this.#registry.localAddress ?? "127.0.0.1";
      const frame = await this.#registry.join({ type: "J", room, name, ip, port: this.#port });
      if (this.#quit) return;
      const [me] = withHashIds([{ name, ip, port: this.#port }]);
      this.#me = me!;
      this.#setMembers(frame);
      this.#emit({ type: "joined", room, members: this.#memberInfos() });
      this.#relink();
    } catch (error) {
      if (!this.#quit) this.#error(this.#registryProblem("Join", error));
    }
  }

  #registryProblem(what: string, error: unknown): string {
    if (error instanceof RegistryFailure) {
      return `${what} refused by the registry: ${error.message}`;
    }
    return describe(error);
  }

  async send(text: string): Promise<void> {
    if (this.#quit) return this.#error("The peer has quit");
    const me = this.#me;
    if (me === null) return this.#error("Join a room before sending");
    if (text.length === 0) return this.#error("Message must not be empty");
    const size = encoder.encode(text).length;
    if (size > this.#opts.maxTextBytes) {
      return this.#error(`Message is ${size} bytes, the limit is ${this.#opts.maxTextBytes}`);
    }
    const alone = !this.#members.some((m) => !sameKey(m, me));
    // A link being repaired right now is worth a short wait.
    if (!alone && !(await this.#awaitLink())) {
      if (this.#quit) return this.#error("The peer has quit");
      return this.#error("Not connected to the other members yet");
    }
    if (this.#quit) return this.#error("The peer has quit");
    const links = this.#allLinks();
    const msgId = this.#counter.next();
    const frame: TextFrame = {
      type: "T",
      room: this.#room!,
      originHid: me.hashId.toString(),
      originName: me.name,
      msgId,
      text,
    };
    this.#seen.admit(frame.originHid, frame.originName, msgId, text);
    this.#emit({
      type: "message",
      room: frame.room,
      from: me.name,
      originHid: frame.originHid,
      msgId: msgId.toString(),
      text,
      self: true,
    });
    const bytes = encodeFrame(frame);
    this.#recent.push(bytes);
    for (const link of links) link.send(bytes);
  }

  async poke(name?: string): Promise<void> {
    if (this.#quit) return this.#error("The peer has quit");
    const me = this.#me;
    if (me === null) return this.#error("Join a room before poking");
    if (name === undefined || name.length === 0) return this.who();
    if (name === me.name) return this.#error("Cannot poke yourself");
    const target = this.#members.find((m) => m.name === name);
    if (target === undefined) return this.#error(`No member named ${name} in room ${this.#room}`);
    let result;
    try {
      result = await this.#poker!.poke(
        target.ip,
        target.port,
        { type: "K", room: this.#room!, name: me.name },
        this.#opts.pokeTimeoutMs,
      );
    } catch (error) {
      return this.#error(`Cannot poke ${name}: ${describe(error)}`);
    }
    if (result === "ack") this.#emit({ type: "poke-ack", to: name });
    else if (result === "timeout") this.#emit({ type: "poke-timeout", to: name });
  }

  who(): void {
    if (this.#me === null) return this.#error("Join a room to see its members");
    this.#emitMembers();
  }

  links(): void {
    this.#emit({
      type: "links",
      forward: this.#forward === null ? null : linkPeer(this.#forward.peer),
      backward: [...this.#backward].map((link) => linkPeer(link.peer)),
    });
  }

  // ---- members -----------------------------------------------------------

  #memberInfos(): MemberInfo[] {
    return this.#members.map((m) => ({
      name: m.name,
      ip: m.ip,
      port: m.port,
      hashId: m.hashId.toString(),
    }));
  }

  #emitMembers(): void {
    this.#emit({
      type: "members",
      msid: (this.#msid ?? 0n).toString(),
      members: this.#memberInfos(),
      // Marks by name, as the renderers match them against `members`.
      forward: this.#forward?.peer.name ?? null,
      backward: [...this.#backward].map((link) => link.peer.name),
    });
  }

  #setMembers(frame: MembersFrame): boolean {
    const payload = membersPayload(frame.members);
    const changed = frame.msid !== this.#msid || payload !== this.#membersPayload;
    // A keepalive's reply is usually the same list: hash its members only when it is not.
    const next = changed ? withHashIds(frame.members) : this.#members;
    if (changed) {
      this.#refreshedOrigins.clear();
      this.#originKeys = new Set(next.flatMap((m) => [m.hashId.toString(), m.name]));
    }
    this.#forgetDeparted(next);
    this.#members = next;
    this.#membersPayload = payload;
    this.#msid = frame.msid;
    return changed;
  }

  /**
   * Forgets the messages seen from a member once it has been missing from
   * member lists for `keepaliveMs` (it may come back restarted, counting its
   * msgIDs from 1). Not at once: a registry that just restarted lists members
   * as they re-register, and forgetting a live origin would let a late copy
   * of one of its messages through twice.
   */
  #forgetDeparted(next: readonly RingMember[]): void {
    const now = Date.now();
    const listed = new Set(next.map((m) => m.hashId.toString()));
    for (const m of this.#members) {
      const hid = m.hashId.toString();
      if (!listed.has(hid) && !this.#departed.has(hid)) {
        this.#departed.set(hid, { name: m.name, since: now });
      }
    }
    for (const [hid, { name, since }] of this.#departed) {
      if (listed.has(hid)) {
        this.#departed.delete(hid);
      } else if (now - since >= this.#opts.keepaliveMs) {
        this.#departed.delete(hid);
        this.#seen.forget(hid);
        if (!next.some((m) => m.name === name)) this.#seen.forget(name);
      }
    }
    while (this.#departed.size > 4096) {
      this.#departed.delete(this.#departed.keys().next().value!);
    }
  }

  #onMembers(frame: MembersFrame): void {
    if (this.#me === null || this.#quit) return;
    const changed = this.#setMembers(frame);
    this.#dropDeparted();
    if (!changed) return;
    this.#emitMembers();
    this.#relink();
  }

  /**
   * Closes links to members the registry stopped listing: a member that is
   * hung (or cut off) stops renewing and expires, while its sockets stay
   * open. It must be missing from lists at least `keepaliveMs` apart, so a
   * registry that just restarted, whose list fills as members re-register,
   * does not cut live links.
   */
  #dropDeparted(): void {
    const now = Date.now();
    const absent = new Set<string>();
    for (const link of this.#allLinks()) {
      const key = memberKey(link.peer);
      if (this.#findMember(link.peer) !== undefined) continue;
      absent.add(key);
      const since = this.#absentSince.get(key);
      if (since === undefined) {
        this.#absentSince.set(key, now);
      } else if (now - since >= this.#opts.keepaliveMs) {
        this.#absentSince.delete(key);
        const { name, ip, port } = link.peer;
        this.#emit({
          type: "info",
          message:
            `Closing the link with ${name} (${ip}:${port}): no longer a member of room ${this.#room}`,
        });
        link.close("No longer a member", false, false);
      }
    }
    for (const key of this.#absentSince.keys()) {
      if (!absent.has(key)) this.#absentSince.delete(key);
    }
  }

  /** The member of my list a handshake names: exactly, or by name and port (liberal about the ip). */
  #findMember(member: Member): RingMember | undefined {
    return this.#members.find((m) => sameKey(m, member)) ??
      this.#members.find((m) => m.name === member.name && m.port === member.port);
  }

  #knownOrigin(originHid: string): boolean {
    return this.#originKeys.has(originHid);
  }

  // ---- links -------------------------------------------------------------

  #allLinks(): Link[] {
    const links = [...this.#backward];
    if (this.#forward !== null) links.unshift(this.#forward);
    return links;
  }

  #linkCount(): number {
    return this.#backward.size + (this.#forward === null ? 0 : 1);
  }

  /** True when `member` links back to me, or is handshaking to do so. */
  #linksBack(member: Member): boolean {
    for (const link of this.#backward) if (sameKey(link.peer, member)) return true;
    for (const hello of this.#greeting) if (sameKey(hello, member)) return true;
    return false;
  }

  /**
   * Two members that linked to each other at once (a 2-cycle) waste a link:
   * the one with the higher HashID gives up its forward link and walks on.
   */
  #breakTwoCycle(): void {
    const forward = this.#forward;
    const me = this.#me;
    if (forward === null || me === null || !this.#linksBack(forward.peer)) return;
    if (me.hashId < forward.peer.hashId) return;
    this.#retire(forward, "Replaced: that member already links to me");
  }

  /** Chooses a forward link now (or once the attempt running ends). */
  #relink(): void {
    if (this.#me === null || this.#quit) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#linking !== null) {
      this.#relinkAgain = true;
      return;
    }
    this.#linking = this.#track(this.#linkLoop());
  }

  async #linkLoop(): Promise<void> {
    try {
      do {
        this.#relinkAgain = false;
        await this.#linkOnce();
      } while (this.#relinkAgain && !this.#quit);
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
    const me = this.#me!;
    const candidates = forwardCandidates(this.#members, me, (m) => this.#linksBack(m));
    const current = this.#forward;
    const failures: string[] = [];
    for (const candidate of candidates) {
      if (this.#quit) return;
      if (current !== null && sameKey(candidate, current.peer)) return;
      if (this.#linksBack(candidate)) continue;
      const hello = {
        type: "P" as const,
        room: this.#room!,
        name: me.name,
        ip: me.ip,
        port: me.port,
        msgId: this.#counter.last,
      };
      let dialed;
      try {
        dialed = await dial(
          candidate,
          hello,
          this.#opts.handshakeTimeoutMs,
          this.#abort.signal,
          this.#maxFrameBytes,
        );
      } catch (error) {
        failures.push(`${candidate.name} (${candidate.ip}:${candidate.port}): ${describe(error)}`);
        continue;
      }
      const link = new Link(dialed, "forward", candidate, this.#linkHandlers, this.#linkOptions);
      if (this.#quit) {
        link.close("Quit");
        return;
      }
      if (dialed.msgId !== null) {
        this.#seen.handshake(candidate.hashId.toString(), dialed.msgId);
        this.#seen.handshake(candidate.name, dialed.msgId);
      }
      const old = this.#forward;
      this.#forward = link;
      link.start();
      this.#track(link.done());
      this.#linkUp(link);
      if (old !== null) this.#retire(old, "Replaced by a forward link closer on the ring");
      this.#breakTwoCycle();
      return;
    }
    // Every candidate failed (not merely skipped): report it and try again later.
    if (this.#forward === null && failures.length > 0 && !this.#quit) {
      this.#emit({
        type: "info",
        message: `No forward link (${failures.join("; ")}); retrying in ${this.#opts.retryMs} ms`,
      });
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.#track(this.#registry.refresh()).finally(() => this.#relink());
      }, this.#opts.retryMs);
    }
  }

  /** Ends a link gracefully: nothing in flight on it is lost. */
  #retire(link: Link, reason: string): void {
    link.end(reason);
  }

  /**
   * Sends a new link the frames of the last moments. Links come up while the
   * overlay is repaired, and what was sent meanwhile may have been written
   * into a socket whose other end was gone, or flooded while this side was
   * cut off. Receivers drop what they have seen, so it costs only bytes.
   */
  #catchUp(link: Link): void {
    for (const bytes of this.#recent.frames()) link.send(bytes);
  }

  #onLinkClose(link: Link, reason: string, error: boolean): void {
    const peer = linkPeer(link.peer);
    this.#ending.add(link);
    link.done().finally(() => this.#ending.delete(link));
    if (error) this.#error(`Link with ${peer.name} (${peer.ip}:${peer.port}) dropped: ${reason}`);
    else logger.debug("Link with {name} closed: {reason}", { name: peer.name, reason });
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
    if (repair && !this.#quit) {
      // Repair at once (before anyone hears of the loss); the refresh prunes a
      // dead member for the rounds after.
      this.#relink();
      this.#track(this.#registry.refresh());
    }
    this.#emit({ type: "link", direction: link.direction, state: "down", peer });
  }

  /** A link came up: tell it what was flooded lately, and wake senders waiting for a link. */
  #linkUp(link: Link): void {
    this.#emit({ type: "link", direction: link.direction, state: "up", peer: linkPeer(link.peer) });
    this.#catchUp(link);
    for (const wake of [...this.#linkWaiters]) wake();
  }

  /**
   * While the overlay is being repaired (a forward link attempt running or
   * scheduled), waits up to `handshakeTimeoutMs` for a link. True if one is up.
   */
  async #awaitLink(): Promise<boolean> {
    if (this.#linkCount() > 0) return true;
    if (this.#linking === null && this.#retryTimer === undefined) return false;
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(resolve, this.#opts.handshakeTimeoutMs);
    const wake = () => {
      if (this.#linkCount() > 0 || this.#quit) resolve();
    };
    this.#linkWaiters.add(wake);
    try {
      await Promise.race([promise, this.#closed.promise]);
    } finally {
      clearTimeout(timer);
      this.#linkWaiters.delete(wake);
    }
    return this.#linkCount() > 0;
  }

  async #acceptLoop(listener: Deno.TcpListener): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (this.#quit || error instanceof Deno.errors.BadResource) return;
        if (error instanceof Deno.errors.Interrupted) return;
        logger.warn("Accept failed: {error}", { error });
        continue;
      }
      if (this.#quit) {
        conn.close();
        return;
      }
      if (this.#handshakes >= this.#opts.maxHandshakes) {
        const { hostname, port } = conn.remoteAddr;
        conn.close();
        this.#report(
          "handshakes full",
          "info",
          `Refused a connection from ${hostname}:${port}: ` +
            `${this.#opts.maxHandshakes} handshakes are already pending`,
        );
        continue;
      }
      this.#handshakes++;
      this.#track(this.#accept(conn).finally(() => this.#handshakes--));
    }
  }

  /** The member a handshake comes from, or why it is refused. */
  async #check(hello: HandshakeFrame): Promise<RingMember | string> {
    if (this.#joining !== null) await this.#joining;
    if (this.#quit) return "quitting";
    if (this.#me === null) return "not in a room";
    if (hello.room !== this.#room) return `wrong room ${hello.room}`;
    let member = this.#findMember(hello);
    if (member === undefined) {
      // Maybe it joined after my last member list: ask the registry again.
      await this.#lookUpMembers();
      if (this.#quit) return "quitting";
      member = this.#findMember(hello);
    }
    if (member === undefined) return `not a member of room ${this.#room}`;
    if (sameKey(member, this.#me)) return "it claims to be me";
    return member;
  }

  /**
   * Resolves after a re-JOIN sent from now on has been answered, to look up
   * members I do not know yet. Strangers can ask for that as often as they
   * connect or send, so the re-JOINs are at least `refreshIntervalMs` apart,
   * and everyone asking meanwhile waits for the same one.
   */
  #lookUpMembers(): Promise<void> {
    if (this.#lookup !== null) return this.#lookup.promise;
    const now = performance.now();
    const wait = this.#lastLookup + this.#opts.refreshIntervalMs - now;
    if (wait <= 0) {
      this.#lastLookup = now;
      return this.#track(this.#registry.refresh()).then(() => {});
    }
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#lookup = { promise, resolve };
    this.#lookupTimer = setTimeout(() => {
      this.#lookupTimer = undefined;
      this.#lookup = null;
      this.#lastLookup = performance.now();
      this.#track(this.#registry.refresh()).finally(resolve);
    }, wait);
    return promise;
  }

  /** The backward side of the handshake (PROTOCOL.md §6, Backward links). */
  async #accept(conn: Deno.TcpConn): Promise<void> {
    const { hostname, port } = conn.remoteAddr;
    let greeted;
    try {
      greeted = await greet(
        conn,
        this.#opts.handshakeTimeoutMs,
        this.#abort.signal,
        this.#maxFrameBytes,
      );
    } catch (error) {
      // One that connects and closes having sent nothing does no harm (a port check).
      if (error instanceof PeerClosed) logger.debug("Refused a connection: {error}", { error });
      else {this.#report(
          "handshake",
          "info",
          `Refused a connection from ${hostname}:${port}: ${describe(error)}`,
        );}
      return;
    }
    const { hello } = greeted;
    const refuse = (why: string) => {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
      this.#report(
        "refused",
        "info",
        `Refused a link from ${hello.name} (${hello.ip}:${hello.port}): ${why}`,
      );
    };
    const greeting: Member = { name: hello.name, ip: hello.ip, port: hello.port };
    this.#greeting.add(greeting);
    let member: RingMember | string;
    try {
      member = await this.#check(hello);
    } finally {
      this.#greeting.delete(greeting);
    }
    if (typeof member === "string") {
      refuse(member);
      // A member skipped while its handshake was checked is a candidate again.
      if (this.#forward === null) this.#relink();
      return;
    }
    // Its last msgID went back: it restarted, forget what it sent before (by
    // HashID, and by name for clients that put the name in originHID).
    this.#seen.handshake(member.hashId.toString(), hello.msgId);
    this.#seen.handshake(member.name, hello.msgId);
    if (hello.name !== member.name || hello.ip !== member.ip) {
      this.#seen.handshake(hashId(hello.name, hello.ip, hello.port).toString(), hello.msgId);
    }
    // A member has one forward link: an older link from it is stale.
    for (const old of [...this.#backward]) {
      if (sameKey(old.peer, member)) {
        this.#retire(old, "Replaced by a new link from the same member");
      }
    }
    const link = new Link(greeted, "backward", member, this.#linkHandlers, this.#linkOptions);
    link.send(encodeFrame({ type: "S", msgId: this.#counter.last }));
    this.#backward.add(link);
    link.start();
    this.#track(link.done());
    this.#linkUp(link);
    this.#breakTwoCycle();
  }

  // ---- flooding ----------------------------------------------------------

  #onText(from: Link, frame: TextFrame, raw: Uint8Array): void {
    if (this.#quit || this.#me === null) return;
    if (frame.room !== this.#room) {
      return this.#report(
        `room ${memberKey(from.peer)}`,
        "error",
        `Dropped a message for room ${frame.room} from ${from.peer.name}: I am in room ${this.#room}`,
      );
    }
    if (!this.#seen.admit(frame.originHid, frame.originName, frame.msgId, frame.text)) {
      logger.debug("Dropped a duplicate {id} from {origin}", {
        id: frame.msgId,
        origin: frame.originName,
      });
      return;
    }
    // After the duplicate check: copies cost no tokens, and a message dropped
    // here is dropped for good (its copies are duplicates now).
    const rate = this.#textRate.take(frame.originHid);
    const origin = `${frame.originName} (originHID ${frame.originHid})`;
    if (!rate.allowed) {
      if (rate.first) {
        this.#report(
          "text rate",
          "error",
          `Dropping messages from ${origin}: more than ${this.#opts.maxTextRate} per second ` +
            `(burst ${this.#opts.textBurst}); they are neither shown nor forwarded`,
        );
      }
      return;
    }
    if (rate.ended > 0) {
      this.#report(
        "text rate",
        "info",
        `Dropped ${rate.ended} messages from ${origin} over the rate limit; accepting them again`,
      );
    }
    if (!this.#knownOrigin(frame.originHid) && !this.#refreshedOrigins.has(frame.originHid)) {
      if (this.#refreshedOrigins.size >= 1024) this.#refreshedOrigins.clear();
      this.#refreshedOrigins.add(frame.originHid);
      this.#track(this.#lookUpMembers());
    }
    // Forward first, then show: the next hop does not wait for this peer's display.
    this.#recent.push(raw);
    for (const link of this.#allLinks()) {
      if (link === from) continue;
      const peer = link.peer;
      if (peer.hashId.toString() === frame.originHid || peer.name === frame.originHid) continue;
      link.send(raw);
    }
    this.#emit({
      type: "message",
      room: frame.room,
      from: frame.originName,
      originHid: frame.originHid,
      msgId: frame.msgId.toString(),
      text: frame.text,
      self: false,
    });
  }
}
