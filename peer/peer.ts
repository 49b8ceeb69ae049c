/**
 * The P2PChat peer of PROTOCOL.md §6 as an in-process engine: the state
 * machine START → NAMED → JOINING → JOINED → CONNECTED (→ QUITTING → QUIT),
 * the ring forward link and the backward links, flooding with exactly-once
 * delivery, and UDP pokes. It never prints: everything that happens is a
 * {@linkcode PeerEvent}. A command that cannot run rejects with a
 * {@linkcode PeerError} (a `code` and a message); what other members or the
 * registry do wrong is an `error` or `info` event, never an exception.
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

import type { MembersFrame } from "../lib/frames.ts";
import { nameProblem } from "../lib/names.ts";
import { hashId } from "../lib/sdbm.ts";
import { joinBackoff, joinRetrying } from "./join_retry.ts";
import { bindOnePort } from "./one_port.ts";
import type { PeerHandle } from "./peer_handle.ts";
import { TaskSet } from "./tasks.ts";
import { describe, errorEvent, PeerError, registryError } from "./errors.ts";
import { ECLIPSE_GRACE_MS } from "./eclipse.ts";
import { Emitter } from "./emitter.ts";
import type { PeerEvent } from "./events.ts";
import { RecentFrames, SeenWindow } from "./flood.ts";
import { type Identity, loadIdentity } from "./identity.ts";
import { MemberLookup } from "./member_lookup.ts";
import { Membership } from "./membership.ts";
import { type PeerOptions, type ResolvedOptions, resolvePeerOptions } from "./options.ts";
import type { Link } from "./links.ts";
import { Overlay, type Place } from "./overlay.ts";
import { junkMessage, pokeLimitMessage, PokeSocket } from "./poke.ts";
import { type Refreshed, RegistryClient } from "./registry_client.ts";
import type { RegistryMemberInfo } from "./registry_hello.ts";
import { Relay, textError } from "./relay.ts";
import { Reports } from "./reports.ts";
import { recordHistory, serveWeb, type WebServer } from "./web/server.ts";
import { need, type PeerState, type PeerStatus, publicState, stillRunning } from "./state.ts";
import type { PeerStats } from "./stats.ts";
import { OwnSignatures, SigFetcher } from "./sig_fetch.ts";
import { TEXT_OP } from "./signed_text.ts";
import { TextGuard } from "./text_guard.ts";

export type { PeerEvent } from "./events.ts";
export { PEER_DEFAULTS, type PeerOptions } from "./options.ts";
export { PeerError, type PeerErrorCode } from "./errors.ts";
export type { PeerState } from "./state.ts";
export type { PeerStats } from "./stats.ts";
export type { PeerHandle } from "./peer_handle.ts";

/**
 * Starts a peer: binds the TCP listener and the UDP socket on one port, emits
 * "ready", then applies `name` and `room` from the options. With a room, a
 * registry that cannot be reached is tried again and again (the delay
 * doubling from `retryMs`) until it answers or the peer quits.
 *
 * With `web`, also serves the web page (`web/server.ts`) until it quits.
 *
 * @throws when the port (or the web page's) cannot be bound (the only
 * failure that throws, with a `RangeError` for an option out of range, and
 * an `IdentityError` for a key file in `dataDir` that cannot be used)
 */
export async function startPeer(options: PeerOptions = {}): Promise<PeerHandle> {
  const opts = resolvePeerOptions(options);
  const identity = opts.plain ? null : await loadIdentity(opts.dataDir ?? null);
  const peer = new Peer(opts, identity);
  if (options.onEvent !== undefined) peer.on(options.onEvent);
  const history = options.web === undefined ? undefined : recordHistory(peer);
  peer.serve();
  await peer.boot();
  if (options.web !== undefined) {
    try {
      await peer.serveWeb(await serveWeb(peer, { ...options.web, history }));
    } catch (error) {
      await peer.quit();
      throw error;
    }
  }
  return peer;
}

class Peer implements PeerHandle {
  readonly #opts: ResolvedOptions;
  readonly #events = new Emitter<PeerEvent>();
  readonly #tasks = new TaskSet();
  readonly #abort = new AbortController();
  readonly #registry: RegistryClient;
  readonly #seen: SeenWindow;
  readonly #members: Membership;
  readonly #lookup: MemberLookup<Refreshed>;
  readonly #reports = new Reports((report) => this.#emit(report));
  readonly #overlay: Overlay;
  readonly #relay: Relay;
  readonly #guard: TextGuard;
  readonly #own = new OwnSignatures();
  readonly #listener: Deno.TcpListener;
  readonly #poker: PokeSocket;
  #status: PeerStatus = { code: "START" };
  #web: WebServer | null = null;
  readonly #closed = Promise.withResolvers<void>();
  /** The eclipse watch's clock while joined (eclipse.ts). */
  #eclipseTimer: ReturnType<typeof setInterval> | undefined;
  /** This peer's Ed25519 key: said in the registry hello and proved; null when plain. */
  readonly #identity: Identity | null;

  constructor(opts: ResolvedOptions, identity: Identity | null) {
    this.#opts = opts;
    this.#identity = identity;
    this.#members = new Membership(opts.keepaliveMs);
    // A member that drops off the lists stays one for a keepalive: its last
    // messages still circulate, and a restarted registry lists members again
    // only as they re-register.
    this.#seen = new SeenWindow({ departedMs: opts.keepaliveMs });
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
      hello: opts.plain ? undefined : {
        identity,
        onMemberInfo: (info) => this.#onMemberInfo(info),
        onUnavailable: (message) => this.#emit({ type: "info", message }),
      },
    });
    this.#lookup = new MemberLookup(
      opts.refreshIntervalMs,
      () => this.#tasks.track(this.#registry.refreshMembers()),
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
      track: <T>(promise: Promise<T>) => this.#tasks.track(promise),
    };
    this.#guard = new TextGuard({
      ...host,
      identity,
      plain: opts.plain ?? false,
      fetcher: new SigFetcher(opts.handshakeTimeoutMs, this.#abort.signal),
      own: this.#own,
      relay: (from, frame, raw) => this.#relay.receive(from, frame, raw),
      refused: () => void this.#relay.counts.refused++,
      maxTextBytes: opts.maxTextBytes,
    });
    const encodings = {
      bytesFor: (link: Link, raw: Uint8Array) => this.#guard.bytesFor(link, raw),
    };
    this.#relay = new Relay({
      ...host,
      ...encodings,
      links: () => this.#overlay.all(),
      verified: (raw) => this.#guard.verified(raw),
      sign: (frame, raw, content) => this.#guard.own(frame, raw, content),
    }, opts);
    this.#overlay = new Overlay({
      ...host,
      ...encodings,
      identity,
      placeForHandshake: () => this.#placeForHandshake(),
      lastMsgId: () => this.#relay.lastMsgId,
      refresh: () => this.#registry.refresh(),
      onText: (link, frame, raw, content) => this.#guard.onT(link, frame, raw, content),
      onExtension: (link, frame) => {
        if (frame.op === TEXT_OP) this.#guard.onTextOp(link, frame);
      },
      probe: (probed) => {
        // A plain peer closes it, as a seed client does.
        if (opts.plain) return probed.conn.close();
        const place = this.#place();
        this.#tasks.track(
          this.#own.answer(probed, place?.room ?? null, place?.me.hashId.toString() ?? null),
        );
      },
    }, opts);
    [this.#listener, this.#poker] = this.#bind();
  }

  // ---- lifecycle -------------------------------------------------------

  /** Binds TCP and UDP on one port number. */
  #bind(): [Deno.TcpListener, PokeSocket] {
    const limits = {
      pokesPerSecond: this.#opts.maxPokeRate,
      pokeBurst: this.#opts.pokeBurst,
      strangerPokesPerSecond: this.#opts.maxStrangerPokeRate,
    };
    return bindOnePort(
      this.#opts.hostname,
      this.#opts.port,
      (port) =>
        new PokeSocket(this.#opts.hostname, port, {
          onPoke: (frame, from, fromMember) =>
            this.#emit(
              fromMember
                ? { type: "poke", from: frame.name }
                : { type: "poke", from: `${from.hostname}:${from.port}`, claimed: frame.name },
            ),
          room: () => "room" in this.#status ? this.#status.room : undefined,
          members: () => this.#members.members,
          onLimited: (report) =>
            this.#report(`poke ${report.scope}`, "info", pokeLimitMessage(report, limits)),
          onJunk: (why, from) => this.#report("junk", "info", junkMessage(why, from)),
        }, limits),
    );
  }

  /** Starts accepting links. */
  serve(): void {
    this.#overlay.serve(this.#listener);
  }

  /** Emits "ready" and applies the start options. */
  async boot(): Promise<void> {
    this.#emit({ type: "ready", port: this.port });
    const { name, room } = this.#opts;
    if (name !== undefined) {
      try {
        this.user(name);
      } catch (error) {
        this.showError(error);
      }
    }
    if (room === undefined) return;
    if (this.#status.code === "START") {
      return this.showError(new PeerError("no-name", "A room to join at start needs a user name"));
    }
    await joinRetrying({
      join: () => this.join(room),
      stillWanted: () => this.#status.code === "NAMED",
      info: (message) => this.#emit({ type: "info", message }),
      fail: (error) => this.showError(error),
      track: (promise) => this.#tasks.track(promise),
      signal: this.#abort.signal,
    }, joinBackoff(this.#opts.retryMs));
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  get webUrl(): string | null {
    return this.#web?.url ?? null;
  }

  /** Owns `web` (closed on quit) and announces its URL. */
  async serveWeb(web: WebServer): Promise<void> {
    if (this.#quitting()) return await web.close();
    this.#web = web;
    this.#emit({ type: "web", url: web.url });
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
    clearInterval(this.#eclipseTimer);
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
    await this.#tasks.drain();
    await linksDone;
    this.#overlay.stopRetrying();
    this.#status = { code: "QUIT" };
    this.#emit({ type: "quit" });
    // After "quit", so the pages see it before their sockets close.
    await this.#web?.close();
    this.#events.clear();
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

  // ---- events ----------------------------------------------------------

  on(listener: (event: PeerEvent) => void): () => void {
    return this.#events.on(listener);
  }

  events(): AsyncIterableIterator<PeerEvent> {
    return this.#events.events((event) => event.type === "quit", this.closed);
  }

  #emit(event: PeerEvent): void {
    this.#events.emit(event);
  }

  /** Reports misbehaviour of one kind (`key`) without flooding the user (see reports.ts). */
  #report(key: string, type: "info" | "error", message: string): void {
    if (!this.#quitting()) this.#reports.report(key, type, message);
  }

  showError(error: unknown): void {
    const event = errorEvent(error);
    if (event !== null) this.#emit(event);
  }

  stats(): PeerStats {
    return {
      ...this.#relay.counts,
      remembered: this.#seen.entries,
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
      stillRunning(this.#status);
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
      stillRunning(this.#status);
      this.#status = {
        code: "JOINED",
        name,
        room,
        me: { name, ip, port, hashId: hashId(name, ip, port) },
      };
    } catch (error) {
      if (this.#status.code === "JOINING") this.#status = { code: "NAMED", name };
      stillRunning(this.#status);
      throw registryError(`join ${room}`, error);
    }
    this.#setMembers(frame);
    this.#emit({ type: "joined", room, members: this.#members.infos() });
    this.#overlay.relink();
    if (!this.#opts.plain) {
      this.#eclipseTimer = setInterval(
        () => this.#overlay.watchEclipse(Date.now()),
        ECLIPSE_GRACE_MS / 2,
      );
    }
  }

  async send(text: string): Promise<void> {
    const { me } = need(this.#status, "send");
    const problem = textError(text, this.#opts.maxTextBytes);
    if (problem !== null) throw problem;
    // A link being repaired right now is worth a short wait.
    if (this.#members.hasOthers(me) && !(await this.#overlay.awaitLink(this.closed))) {
      stillRunning(this.#status);
      throw new PeerError("not-connected", "Not connected to the other members yet");
    }
    await this.#relay.originate(need(this.#status, "send"), text);
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
    if (result === "closed") stillRunning(this.#status);
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
    this.#emit(this.#overlay.linksEvent());
  }

  // ---- members -----------------------------------------------------------

  #emitMembers(): void {
    this.#emit(this.#overlay.membersEvent());
  }

  /**
   * Takes a member list: its HashIDs and names are the origins whose
   * messages are shown (on every list: the window counts a member's absence
   * from them); forgets the messages of members gone for `keepaliveMs`.
   */
  #setMembers(frame: MembersFrame): boolean {
    const { changed, forget } = this.#members.set(frame, Date.now());
    this.#seen.setMembers(this.#members.originKeys);
    for (const key of forget) this.#seen.forget(key);
    return changed;
  }

  #onMembers(frame: MembersFrame): void {
    const place = this.#place();
    if (place === null) return;
    const changed = this.#setMembers(frame);
    this.#overlay.dropAbsent(Date.now(), place.room);
    // Member info kept for this list applies now.
    this.#overlay.reauthenticate();
    if (!changed) return;
    this.#emitMembers();
    this.#overlay.relink();
  }

  /** Takes the registry's member info: who speaks ringchat/2, with which key. */
  #onMemberInfo(info: RegistryMemberInfo): void {
    const place = this.#place();
    if (place !== null && info.room !== place.room) return;
    // A change for the list I show (a member proved its key) is shown; one for the next list
    // is shown with that list.
    if (this.#members.setInfo(info) && place !== null) this.#emitMembers();
    // Links to members with a new key prove it (the info may apply with the next list).
    this.#overlay.reauthenticate();
  }
}
