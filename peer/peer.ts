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
import type { RingMember } from "../lib/ring.ts";
import { nameProblem } from "../lib/names.ts";
import { hashId } from "../lib/sdbm.ts";
import { ECLIPSE_GRACE_MS } from "./eclipse.ts";
import { Emitter } from "./emitter.ts";
import { describe, errorEvent, PeerError, registryError } from "./errors.ts";
import type { PeerEvent } from "./events.ts";
import { type Identity, loadIdentity } from "./identity.ts";
import { joinBackoff, joinRetrying } from "./join_retry.ts";
import { type PeerOptions, type ResolvedOptions, resolvePeerOptions } from "./options.ts";
import type { Place } from "./overlay.ts";
import type { JoinOptions, PeerHandle } from "./peer_handle.ts";
import { textError } from "./relay.ts";
import { Reports } from "./reports.ts";
import { need, type PeerState, type PeerStatus, publicState, stillRunning } from "./state.ts";
import { type PeerStats, peerStats } from "./stats.ts";
import { TaskSet } from "./tasks.ts";
import { recordHistory, serveWeb, type WebServer } from "./web/server.ts";
import { type PeerParts, wirePeer } from "./wiring.ts";

export type { PeerEvent } from "./events.ts";
export { PEER_DEFAULTS, type PeerOptions } from "./options.ts";
export { PeerError, type PeerErrorCode } from "./errors.ts";
export type { PeerState } from "./state.ts";
export type { PeerStats } from "./stats.ts";
export type { JoinOptions, PeerHandle } from "./peer_handle.ts";

/** How long a quit waits for the registry to answer its DEPART, in ms. */
const QUIT_DEPART_MS = 1000;

/** `departing`, waited for at most {@linkcode QUIT_DEPART_MS}. */
function quitDepart(departing: Promise<void>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => timer = setTimeout(resolve, QUIT_DEPART_MS));
  return Promise.race([departing, late]).finally(() => clearTimeout(timer));
}

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
  readonly #reports = new Reports((report) => this.#emit(report));
  readonly #parts: PeerParts;
  #status: PeerStatus = { code: "START" };
  #web: WebServer | null = null;
  readonly #closed = Promise.withResolvers<void>();
  /** The eclipse watch's clock while joined (eclipse.ts). */
  #eclipseTimer: ReturnType<typeof setInterval> | undefined;

  constructor(opts: ResolvedOptions, identity: Identity | null) {
    this.#opts = opts;
    this.#parts = wirePeer(opts, identity, {
      place: () => this.#place(),
      placeForHandshake: () => this.#placeForHandshake(),
      room: () => "room" in this.#status ? this.#status.room : undefined,
      quitting: () => this.#quitting(),
      emit: (event) => this.#emit(event),
      report: (key, type, message) => this.#report(key, type, message),
      track: (promise) => this.#tasks.track(promise),
      signal: this.#abort.signal,
      people: {
        joinedName: () => "room" in this.#status ? this.#status.name : null,
        loggedIn: (name) => this.#renamed(name),
        kicked: () => void this.quit(),
        switchRoom: (room) => this.#switchRoom(room),
      },
    });
  }

  // ---- lifecycle -------------------------------------------------------

  /** Starts accepting links. */
  serve(): void {
    this.#parts.overlay.serve(this.#parts.listener);
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
    const password = this.#opts.password;
    await joinRetrying({
      join: () => this.join(room, password === undefined ? {} : { password }),
      stillWanted: () => this.#status.code === "NAMED",
      info: (message) => this.#emit({ type: "info", message }),
      fail: (error) => this.showError(error),
      track: (promise) => this.#tasks.track(promise),
      signal: this.#abort.signal,
    }, joinBackoff(this.#opts.retryMs));
  }

  get port(): number {
    return this.#parts.listener.addr.port;
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
    return publicState(this.#status, this.#parts.overlay.count > 0);
  }

  get closed(): Promise<void> {
    return this.#closed.promise;
  }

  quit(): Promise<void> {
    if (this.#quitting()) return this.#closed.promise;
    const joined = this.#status.code === "JOINED";
    this.#status = { code: "QUITTING", done: this.#closed.promise };
    return this.#shutdown(joined);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.quit();
  }

  /** Releases everything; `joined`: a ringchat registry is told I left (DEPART), as `/leave`. */
  async #shutdown(joined: boolean): Promise<void> {
    clearInterval(this.#eclipseTimer);
    // On a ringchat registry a DEPART makes my quit a `left`, not `lost` (a plain one is not sent it).
    const departing = joined && this.#parts.registry.speaksRingchat
      ? quitDepart(this.#parts.registry.leave())
      : undefined;
    this.#parts.lookup.close();
    this.#abort.abort(new Error("Quit"));
    try {
      this.#parts.listener.close();
    } catch {
      // Already closed.
    }
    const linksDone = this.#parts.overlay.close();
    await departing;
    await this.#parts.people.close();
    await this.#parts.registry.close();
    await this.#parts.poker.close();
    await this.#tasks.drain();
    await linksDone;
    this.#parts.overlay.stopRetrying();
    this.#parts.history.close();
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
    return peerStats(this.#parts);
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
      rooms = await this.#parts.registry.list();
    } catch (error) {
      stillRunning(this.#status);
      throw registryError("list the rooms", error);
    }
    this.#emit({ type: "rooms", rooms });
  }

  join(room: string, options: JoinOptions = {}): Promise<void> {
    let name;
    try {
      ({ name } = need(this.#status, "join"));
      const problem = nameProblem(room, "Room name");
      if (problem !== null) throw new PeerError("bad-name", problem);
    } catch (error) {
      return Promise.reject(error);
    }
    const joining = this.#join(name, room, options.password);
    this.#status = { code: "JOINING", name, room, done: joining.catch(() => {}) };
    return joining;
  }

  async #join(name: string, shown: string, password?: string): Promise<void> {
    let frame: MembersFrame;
    let me: RingMember;
    const port = this.port;
    let room = shown;
    try {
      // A private room is joined under its derived name (private_session.ts).
      room = await this.#parts.privacy.enter(shown, password);
      stillRunning(this.#status);
      await this.#parts.registry.connect();
      const ip = this.#opts.advertise ?? this.#parts.registry.localAddress ?? "127.0.0.1";
      if (ip.includes(":")) throw noIpv4Address(ip);
      frame = await this.#parts.registry.join({ type: "J", room, name, ip, port });
      stillRunning(this.#status);
      me = { name, ip, port, hashId: hashId(name, ip, port) };
      this.#status = { code: "JOINED", name, room, me };
    } catch (error) {
      if (this.#status.code === "JOINING") this.#status = { code: "NAMED", name };
      stillRunning(this.#status);
      throw registryError(`join ${shown}`, error);
    }
    this.#parts.updates.start(frame, me);
    const members = this.#parts.members.infos();
    this.#emit({ type: "joined", room: this.#parts.privacy.shown(room), members });
    this.#parts.history.joined(room);
    this.#parts.overlay.relink();
    if (!this.#opts.plain) {
      this.#eclipseTimer = setInterval(
        () => this.#parts.overlay.watchEclipse(Date.now()),
        ECLIPSE_GRACE_MS / 2,
      );
    }
  }

  async leave(): Promise<void> {
    const { room } = need(this.#status, "leave");
    const shown = this.#parts.privacy.shown(room);
    await this.#leave();
    this.#emit({ type: "left", room: shown });
  }

  async nick(name: string): Promise<void> {
    const { room, name: from } = need(this.#status, "nick");
    const problem = nameProblem(name, "User name");
    if (problem !== null) throw new PeerError("bad-name", problem);
    if (name === from) throw new PeerError("bad-name", `You are already ${name}`);
    if (this.#parts.members.named(name) !== undefined) {
      throw new PeerError("bad-name", `${name} is already a member of room ${room}`);
    }
    // The links of my old name close once I am listed under the new one: a
    // member that relinks then finds the new list (a plain registry: one
    // with neither name, for a moment).
    const old = this.#parts.overlay.all();
    await this.#leave(name);
    stillRunning(this.#status);
    this.#status = { code: "NAMED", name };
    this.#emit({ type: "nick", from, to: name, at: new Date().toISOString(), self: true });
    try {
      await this.join(room);
    } finally {
      await this.#parts.overlay.leave(old);
    }
  }

  /**
   * Back to NAMED from JOINED: departs (as renamed to `renameTo`, for a nick),
   * forgets the room's members and recent frames, and closes every link
   * (for a nick the caller closes them).
   */
  async #leave(renameTo?: string): Promise<void> {
    const { name } = need(this.#status, "leave");
    clearInterval(this.#eclipseTimer);
    this.#status = { code: "NAMED", name };
    this.#parts.updates.stop();
    this.#parts.recent.clear();
    // Texts waiting for an earlier one are shown; then long texts still held, as their parts;
    // a nick stays in the private room.
    this.#parts.order.flush();
    this.#parts.texts.flush();
    if (renameTo === undefined) this.#parts.privacy.leave();
    this.#parts.history.left();
    await this.#parts.registry.leave(renameTo);
    if (renameTo === undefined) await this.#parts.overlay.leave();
  }

  async send(text: string): Promise<void> {
    const { me } = need(this.#status, "send");
    const problem = textError(text, this.#opts.maxTextBytes);
    if (problem !== null) throw problem;
    // A link being repaired right now is worth a short wait.
    if (this.#parts.members.hasOthers(me) && !(await this.#parts.overlay.awaitLink(this.closed))) {
      stillRunning(this.#status);
      throw new PeerError("not-connected", "Not connected to the other members yet");
    }
    await this.#parts.texts.send(need(this.#status, "send"), text);
  }

  async poke(name?: string): Promise<void> {
    const { me, room } = need(this.#status, "poke");
    if (name === undefined || name.length === 0) return this.who();
    if (name === me.name) throw new PeerError("self-poke", "Cannot poke yourself");
    const target = this.#parts.members.named(name);
    if (target === undefined) {
      throw new PeerError("unknown-member", `No member named ${name} in room ${room}`);
    }
    let result;
    try {
      result = await this.#parts.poker.poke(
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
    this.#parts.updates.emitMembers(true);
  }

  links(): void {
    need(this.#status, "links");
    this.#emit(this.#parts.overlay.linksEvent());
  }

  // ---- people (issue 12): peer/people.ts ----------------------------------

  register(name: string, password: string): Promise<void> {
    return this.#people((people) => people.register(name, password));
  }

  login(name: string, password: string): Promise<void> {
    return this.#people((people) => people.login(name, password));
  }

  online(): Promise<void> {
    return this.#people((people) => people.online());
  }

  search(name: string): Promise<void> {
    return this.#people((people) => people.search(name));
  }

  dm(to: string, text: string): Promise<string> {
    return this.#people((people) => people.dm(to, text));
  }

  dmAnswer(to: string, accept: boolean): Promise<void> {
    return this.#people((people) => people.dmAnswer(to, accept));
  }

  block(name: string): Promise<void> {
    return this.#people((people) => people.block(name));
  }

  unblock(name: string): Promise<void> {
    return this.#people((people) => people.unblock(name));
  }

  broadcast(text: string): Promise<void> {
    return this.#people((people) => people.broadcast(text));
  }

  invite(to: string, room?: string): Promise<void> {
    return this.#people((people) => people.invite(to, room));
  }

  inviteAnswer(to: string, room: string, accept: boolean): Promise<void> {
    return this.#people((people) => people.inviteAnswer(to, room, accept));
  }

  answer(from: string, accept: boolean, room?: string): Promise<void> {
    return this.#people((people) => people.answer(from, accept, room));
  }

  away(on: boolean): Promise<void> {
    return this.#people((people) => people.away(on));
  }

  /** Runs a people command while the peer runs. */
  async #people<T>(run: (people: PeerParts["people"]) => Promise<T>): Promise<T> {
    stillRunning(this.#status);
    const result = await run(this.#parts.people);
    stillRunning(this.#status);
    return result;
  }

  /** A login as `name`: my user name before joining. */
  #renamed(name: string): void {
    if (this.#status.code !== "START" && this.#status.code !== "NAMED") return;
    if (this.#status.code === "NAMED" && this.#status.name === name) return;
    this.user(name);
  }

  /** Joins `room` for an accepted invitation, leaving the room I am in. */
  async #switchRoom(room: string): Promise<void> {
    if (this.#status.code === "JOINING") await this.#status.done;
    if (this.#status.code === "JOINED") {
      if (this.#status.room === room) return;
      await this.leave();
      stillRunning(this.#status);
    }
    await this.join(room);
  }

  history(count = 50): void {
    const { room, me } = need(this.#status, "history");
    if (!Number.isSafeInteger(count) || count < 1) {
      throw new PeerError("bad-count", "The count of /history must be a positive integer");
    }
    this.#emit(this.#parts.history.historyEvent(room, count, me.hashId.toString()));
  }
}

/** The error of a JOIN whose default ip would be the IPv6 address `ip` (PROTOCOL.md §3). */
function noIpv4Address(ip: string): PeerError {
  return new PeerError(
    "no-ipv4-address",
    `The registry connection is IPv6 (from ${ip}) and a member's address cannot hold ':': give --advertise with this host's IPv4 address`,
  );
}
