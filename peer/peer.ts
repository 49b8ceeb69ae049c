/**
 * The P2PChat peer of PROTOCOL.md §6 as an in-process engine: the state
 * machine START → NAMED → JOINED → CONNECTED, the ring forward link and the
 * backward links, flooding with exactly-once delivery, and UDP pokes. It never
 * prints: everything that happens is a {@linkcode PeerEvent}, and user or
 * protocol errors are `error` events, never exceptions.
 *
 * Nothing another client sends can crash, stall or bloat it: every limit is an
 * option ({@linkcode PEER_DEFAULTS}, explained in `docs/peer_limits.md`), and
 * misbehaviour is reported without flooding the user (a few reports at once,
 * then one every few seconds per kind, each counting those not shown).
 *
 * @example
 * ```ts
 * import { startPeer } from "./peer.ts";
 * await using peer = await startPeer({ name: "alice", room: "room1", onEvent: console.log });
 * await peer.send("hello: world");
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { MembersFrame } from "../lib/frames.ts";
import { nameProblem } from "../lib/names.ts";
import { withHashIds } from "../lib/ring.ts";
import { Backoff } from "./backoff.ts";
import { PeerError } from "./errors.ts";
import { EventQueue } from "./event_queue.ts";
import type { PeerEvent } from "./events.ts";
import { RecentFrames, SeenWindow } from "./flood.ts";
import { MemberLookup } from "./member_lookup.ts";
import { Membership } from "./membership.ts";
import { type PeerOptions, type ResolvedOptions, resolvePeerOptions } from "./options.ts";
import { linkPeer, Overlay, type Place } from "./overlay.ts";
import { pokeLimitMessage, PokeSocket } from "./poke.ts";
import { RegistryClient, RegistryFailure, RegistryUnreachable } from "./registry_client.ts";
import { Relay } from "./relay.ts";
import { Reports } from "./reports.ts";
import { need, type PeerState, type PeerStatus, publicState } from "./state.ts";
import type { PeerStats } from "./stats.ts";

export type { PeerEvent } from "./events.ts";
export { PEER_DEFAULTS, type PeerOptions } from "./options.ts";
export { PeerError, type PeerErrorCode } from "./errors.ts";
export type { PeerState } from "./state.ts";
export type { PeerStats } from "./stats.ts";

const logger = getLogger(["ringchat", "peer"]);
const encoder = new TextEncoder();

const BIND_ATTEMPTS = 32;
/** The longest wait between two tries of the JOIN at start while the registry is down. */
const JOIN_RETRY_CAP_MS = 30_000;

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
  /** Sets the user name (only before joining). @throws {PeerError} */
  user(name: string): void;
  /** Asks the registry for the rooms; emits "rooms". @throws {PeerError} */
  list(): Promise<void>;
  /** Joins a room; emits "joined", then links into the ring. @throws {PeerError} */
  join(room: string): Promise<void>;
  /** Floods a chat message to the room. @throws {PeerError} */
  send(text: string): Promise<void>;
  /**
   * Pokes a member by name; with no name emits "members". Resolves after the
   * outcome is emitted ("poke-ack"; on "poke-timeout" it rejects too).
   * @throws {PeerError}
   */
  poke(name?: string): Promise<void>;
  /** Emits "members" with my forward and backward links marked. @throws {PeerError} */
  who(): void;
  /** Emits "links". @throws {PeerError} */
  links(): void;
  /** What the peer has sent, shown, forwarded and dropped, and its links now. */
  stats(): PeerStats;
  /** Emits "stats" with {@linkcode PeerHandle.stats} (the `/stats` command). */
  showStats(): void;
  /**
   * Emits the "error" event that shows a failed command (what the CLIs do
   * with a {@linkcode PeerError}); a poke timeout, already shown as
   * "poke-timeout", is not shown again.
   */
  showError(error: unknown): void;
  /** Releases everything; emits "quit" last. Idempotent. */
  quit(): Promise<void>;
  /** Resolves once the peer has quit. */
  readonly closed: Promise<void>;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A registry request for `what` failed: refused (`F`) or the registry unreachable. */
function registryError(what: string, error: unknown): PeerError {
  if (error instanceof PeerError) return error;
  if (error instanceof RegistryFailure) {
    return new PeerError("registry-refused", `The registry refused to ${what}: ${error.message}`, {
      cause: error,
    });
  }
  return new PeerError("registry-unreachable", describe(error), { cause: error });
}

/**
 * Starts a peer: binds the TCP listener and the UDP socket on one port, emits
 * "ready", then applies `name` and `room` from the options. With a room, a
 * registry that cannot be reached is tried again and again (the delay
 * doubling from `retryMs`) until it answers or the peer quits.
 *
 * @throws when the port cannot be bound (the only failure that throws, with
 * a `RangeError` for an option out of range)
 */
export async function startPeer(options: PeerOptions = {}): Promise<PeerHandle> {
  const peer = new Peer(options);
  if (options.onEvent !== undefined) peer.on(options.onEvent);
  peer.serve();
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
  readonly #members: Membership;
  readonly #lookup: MemberLookup;
  readonly #reports = new Reports((report) => this.#emit(report));
  readonly #overlay: Overlay;
  readonly #relay: Relay;
  readonly #listener: Deno.TcpListener;
  readonly #poker: PokeSocket;
  #status: PeerStatus = { code: "START" };
  readonly #closed = Promise.withResolvers<void>();

  constructor(options: PeerOptions) {
    const opts = resolvePeerOptions(options);
    this.#opts = opts;
    this.#members = new Membership(opts.keepaliveMs);
    this.#registry = new RegistryClient({
      hostname: opts.registry.hostname,
      port: opts.registry.port,
      keepaliveMs: opts.keepaliveMs,
      reconnectMs: opts.retryMs,
      requestTimeoutMs: opts.requestTimeoutMs,
      maxFrameBytes: opts.maxRegistryFrameBytes,
      onMembers: (frame) => this.#onMembers(frame),
      onFailure: (message) => this.#emit({ type: "error", message: `Registry: ${message}` }),
      onStatus: (status, detail) =>
        this.#emit({
          type: "info",
          message: status === "lost"
            ? `Lost the registry connection (${detail}); chat continues over the links`
            : detail,
        }),
    });
    this.#lookup = new MemberLookup(
      opts.refreshIntervalMs,
      () => this.#track(this.#registry.refresh()),
    );
    const host = {
      place: () => this.#place(),
      quitting: () => this.#quitting(),
      members: this.#members,
      seen: this.#seen,
      // Shorter than keepaliveMs: a departed origin is forgotten only after that.
      recent: new RecentFrames(Math.min(2000, opts.keepaliveMs / 2)),
      lookUp: () => this.#lookup.lookUp(),
      emit: (event: PeerEvent) => this.#emit(event),
      report: (key: string, type: "info" | "error", message: string) =>
        this.#report(key, type, message),
      track: <T>(promise: Promise<T>) => this.#track(promise),
    };
    this.#relay = new Relay({ ...host, links: () => this.#overlay.all() }, opts);
    this.#overlay = new Overlay({
      ...host,
      placeForHandshake: () => this.#placeForHandshake(),
      lastMsgId: () => this.#relay.lastMsgId,
      refresh: () => this.#registry.refresh(),
      onText: (link, frame, raw) => this.#relay.receive(link, frame, raw),
    }, opts);
    [this.#listener, this.#poker] = this.#bind();
  }

  // ---- lifecycle -------------------------------------------------------

  /** Binds TCP and UDP on one port number. */
  #bind(): [Deno.TcpListener, PokeSocket] {
    const { hostname, port } = this.#opts;
    for (let attempt = 0;; attempt++) {
      const listener = Deno.listen({ hostname, port, transport: "tcp" });
      const bound = listener.addr.port;
      try {
        const poker = new PokeSocket(hostname, bound, {
          onPoke: (frame) => this.#emit({ type: "poke", from: frame.name }),
          isMember: (frame, from) => this.#members.hasAddress(from.hostname, from.port, frame.name),
          onLimited: (report) =>
            this.#report(
              `poke ${report.scope}`,
              "info",
              pokeLimitMessage(report, this.#pokeLimits),
            ),
          onJunk: (why, from) =>
            this.#report(
              "junk",
              "info",
              `Ignored a datagram from ${from.hostname}:${from.port}: ${why}`,
            ),
        }, this.#pokeLimits);
        return [listener, poker];
      } catch (error) {
        listener.close();
        if (port !== 0 || attempt + 1 >= BIND_ATTEMPTS) throw error;
      }
    }
  }

  get #pokeLimits() {
    return {
      pokesPerSecond: this.#opts.maxPokeRate,
      pokeBurst: this.#opts.pokeBurst,
      strangerPokesPerSecond: this.#opts.maxStrangerPokeRate,
    };
  }

  /** Starts accepting links. */
  serve(): void {
    this.#overlay.serve(this.#listener);
  }

  /** Emits "ready" and applies the start options. */
  async boot(): Promise<void> {
    this.#emit({ type: "ready", port: this.port });
    const { name, room } = this.#opts;
    if (name !== undefined) this.#run(() => this.user(name));
    if (room === undefined) return;
    if (this.#status.code === "START") {
      return this.showError(new PeerError("no-name", "A room to join at start needs a user name"));
    }
    await this.#joinAtStart(room, new Backoff(this.#opts.retryMs, JOIN_RETRY_CAP_MS));
  }

  /**
   * Joins `room`; while the registry cannot be reached, says so and tries
   * again after the next delay of `backoff`, in the background, until it
   * answers, the user joins by hand, or the peer quits.
   */
  async #joinAtStart(room: string, backoff: Backoff): Promise<void> {
    try {
      return await this.join(room);
    } catch (error) {
      if (!(error instanceof PeerError) || error.code !== "registry-unreachable") {
        return this.showError(error);
      }
      const delayMs = backoff.next();
      const cause = error.cause;
      const why = cause instanceof RegistryUnreachable
        ? `Cannot reach the registry at ${cause.address} (${cause.reason})`
        : error.message;
      this.#emit({ type: "info", message: `${why}; trying again in ${delayMs / 1000} s` });
      this.#track(
        this.#sleep(delayMs).then((awake) =>
          awake && this.#status.code === "NAMED" ? this.#joinAtStart(room, backoff) : undefined
        ),
      );
    }
  }

  /** Waits `ms`; false when the peer quit meanwhile. */
  #sleep(ms: number): Promise<boolean> {
    const signal = this.#abort.signal;
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", stop);
        resolve(true);
      }, ms);
      const stop = () => {
        clearTimeout(timer);
        resolve(false);
      };
      signal.addEventListener("abort", stop, { once: true });
    });
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  get state(): PeerState {
    return publicState(this.#status, this.#overlay.count > 0);
  }

  get closed(): Promise<void> {
    return this.#closed.promise;
  }

  quit(): Promise<void> {
    if (this.#quitting()) return this.#closed.promise;
    this.#status = { code: "QUITTING", done: this.#closed.promise };
    return this.#shutdown();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.quit();
  }

  async #shutdown(): Promise<void> {
    this.#lookup.close();
    this.#abort.abort(new Error("Quit"));
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    const linksDone = this.#overlay.close();
    await this.#registry.close();
    await this.#poker.close();
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
    await linksDone;
    this.#overlay.stopRetrying();
    this.#status = { code: "QUIT" };
    this.#emit({ type: "quit" });
    this.#listeners.clear();
    this.#closed.resolve();
  }

  #quitting(): boolean {
    return this.#status.code === "QUITTING" || this.#status.code === "QUIT";
  }

  /** My place in the ring while joined. */
  #place(): Place | null {
    return this.#status.code === "JOINED" ? this.#status : null;
  }

  /** My place once a JOIN under way is answered, or why a handshake finds none. */
  async #placeForHandshake(): Promise<Place | string> {
    if (this.#status.code === "JOINING") await this.#status.done;
    if (this.#quitting()) return "quitting";
    return this.#place() ?? "not in a room";
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
    const queue = new EventQueue<PeerEvent>(() => off());
    const off = this.on((event) => {
      queue.push(event);
      if (event.type === "quit") queue.end();
    });
    this.closed.then(() => queue.end());
    return queue;
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

  /** Reports misbehaviour of one kind (`key`) without flooding the user (see reports.ts). */
  #report(key: string, type: "info" | "error", message: string): void {
    if (!this.#quitting()) this.#reports.report(key, type, message);
  }

  showError(error: unknown): void {
    if (error instanceof PeerError) {
      if (error.code === "poke-timeout") return;
      return this.#emit({ type: "error", code: error.code, message: error.message });
    }
    this.#emit({ type: "error", message: describe(error) });
  }

  /** Runs a synchronous command, showing its failure. */
  #run(command: () => void): void {
    try {
      command();
    } catch (error) {
      this.showError(error);
    }
  }

  stats(): PeerStats {
    return {
      ...this.#relay.counts,
      links: this.#overlay.count,
      queuedBytes: this.#overlay.queuedBytes,
    };
  }

  showStats(): void {
    need(this.#status, "stats");
    this.#emit({ type: "stats", ...this.stats() });
  }

  // ---- commands --------------------------------------------------------

  user(name: string): void {
    need(this.#status, "user");
    const problem = nameProblem(name, "User name");
    if (problem !== null) throw new PeerError("bad-name", problem);
    this.#status = { code: "NAMED", name };
    this.#emit({ type: "named", name });
  }

  async list(): Promise<void> {
    need(this.#status, "list");
    let rooms;
    try {
      rooms = await this.#registry.list();
    } catch (error) {
      need(this.#status, "list");
      throw registryError("list the rooms", error);
    }
    this.#emit({ type: "rooms", rooms });
  }

  join(room: string): Promise<void> {
    let name;
    try {
      ({ name } = need(this.#status, "join"));
      const problem = nameProblem(room, "Room name");
      if (problem !== null) throw new PeerError("bad-name", problem);
    } catch (error) {
      return Promise.reject(error);
    }
    const joining = this.#join(name, room);
    this.#status = { code: "JOINING", name, room, done: joining.catch(() => {}) };
    return joining;
  }

  async #join(name: string, room: string): Promise<void> {
    let frame: MembersFrame;
    const port = this.port;
    try {
      await this.#registry.connect();
      const ip = this.#opts.advertise ?? this.#registry.localAddress ?? "127.0.0.1";
      frame = await this.#registry.join({ type: "J", room, name, ip, port });
      if (this.#status.code !== "JOINING") throw new PeerError("quit", "The peer has quit");
      const [me] = withHashIds([{ name, ip, port }]);
      this.#status = { code: "JOINED", name, room, me: me! };
    } catch (error) {
      if (this.#status.code === "JOINING") this.#status = { code: "NAMED", name };
      throw registryError(`join ${room}`, error);
    }
    this.#setMembers(frame);
    this.#emit({ type: "joined", room, members: this.#members.infos() });
    this.#overlay.relink();
  }

  async send(text: string): Promise<void> {
    const { me } = need(this.#status, "send");
    if (text.length === 0) throw new PeerError("empty-text", "Message must not be empty");
    if (/^[ \t]+$/.test(text)) {
      throw new PeerError("empty-text", "Message must not be empty: it has only spaces or tabs");
    }
    const size = encoder.encode(text).length;
    if (size > this.#opts.maxTextBytes) {
      throw new PeerError(
        "text-too-long",
        `Message is ${size} bytes, the limit is ${this.#opts.maxTextBytes}`,
      );
    }
    // A link being repaired right now is worth a short wait.
    if (this.#members.hasOthers(me) && !(await this.#overlay.awaitLink(this.closed))) {
      need(this.#status, "send");
      throw new PeerError("not-connected", "Not connected to the other members yet");
    }
    this.#relay.originate(need(this.#status, "send"), text);
  }

  async poke(name?: string): Promise<void> {
    const { me, room } = need(this.#status, "poke");
    if (name === undefined || name.length === 0) return this.who();
    if (name === me.name) throw new PeerError("self-poke", "Cannot poke yourself");
    const target = this.#members.named(name);
    if (target === undefined) {
      throw new PeerError("unknown-member", `No member named ${name} in room ${room}`);
    }
    let result;
    try {
      result = await this.#poker.poke(
        target.ip,
        target.port,
        { type: "K", room, name: me.name },
        this.#opts.pokeTimeoutMs,
      );
    } catch (error) {
      throw new PeerError("poke-failed", `Cannot poke ${name}: ${describe(error)}`);
    }
    if (result === "closed") throw new PeerError("quit", "The peer has quit");
    if (result === "ack") return this.#emit({ type: "poke-ack", to: name });
    this.#emit({ type: "poke-timeout", to: name });
    throw new PeerError("poke-timeout", `The poke to ${name} got no answer in time`);
  }

  who(): void {
    need(this.#status, "who");
    this.#emitMembers();
  }

  links(): void {
    need(this.#status, "links");
    const forward = this.#overlay.forward;
    this.#emit({
      type: "links",
      forward: forward === null ? null : linkPeer(forward.peer),
      backward: this.#overlay.backward.map((link) => linkPeer(link.peer)),
    });
  }

  // ---- members -----------------------------------------------------------

  #emitMembers(): void {
    this.#emit({
      type: "members",
      msid: this.#members.msid.toString(),
      members: this.#members.infos(),
      // Marks by name, as the renderers match them against `members`.
      forward: this.#overlay.forward?.peer.name ?? null,
      backward: this.#overlay.backward.map((link) => link.peer.name),
    });
  }

  /** Takes a member list; forgets the messages of members gone for `keepaliveMs`. */
  #setMembers(frame: MembersFrame): boolean {
    const { changed, forget } = this.#members.set(frame, Date.now());
    for (const key of forget) this.#seen.forget(key);
    return changed;
  }

  #onMembers(frame: MembersFrame): void {
    const place = this.#place();
    if (place === null) return;
    const changed = this.#setMembers(frame);
    this.#overlay.dropAbsent(Date.now(), place.room);
    if (!changed) return;
    this.#emitMembers();
    this.#overlay.relink();
  }
}
