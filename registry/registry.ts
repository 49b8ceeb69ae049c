/**
 * The registry (the P2PChat "Room server"): one TCP listener that keeps rooms
 * and their members and answers `L`, `J` and `D` byte for byte as the
 * reference server does (PROTOCOL.md §3, §5), without its crashes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startRegistry } from "./registry.ts";
 * await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
 * assert.equal(registry.hostname, "127.0.0.1");
 * assert.notEqual(registry.port, 0); // the port the system picked
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { isDisconnect, ProtocolError } from "../lib/errors.ts";
import { FrameReader, type RawFrame } from "../lib/frame_reader.ts";
import {
  decodeFrame,
  type DepartFrame,
  encodeFrame,
  type ExtensionFrame,
  type Frame,
  type JoinFrame,
} from "../lib/frames.ts";
import { MAX_IP_BYTES, MAX_NAME_BYTES } from "../lib/limits.ts";
import { hashId } from "../lib/sdbm.ts";
import { TokenBucket } from "../lib/token_bucket.ts";
import {
  answerHello,
  helloError,
  type HelloSession,
  RENAME_OP,
  renamedReply,
  renameTarget,
} from "./hello.ts";
import { type LeftReason, MemberPush } from "./member_push.ts";
import { DeltaPush } from "./delta_push.ts";
import { MEMBERS_FULL } from "../lib/members_delta.ts";
import { REGISTRY_DEFAULTS, type RegistryOptions, resolveRegistryOptions } from "./options.ts";
import { Outbox } from "./outbox.ts";
import { type MemberView, People, PEOPLE_OPS, type PeopleHost } from "./people_ops.ts";
import { claim, JOIN_HELD } from "./ownership.ts";
import { type JoinRefusal, type Removal, Rooms } from "./rooms.ts";
import { type AcceptCounts, acceptLoop } from "./accept_loop.ts";
import { idleCheckEveryMs, isIdle } from "./idle.ts";
import { AddressList, mayAdvertise, normalAddress } from "./source_address.ts";
import { SourceLimits, type SourceRefusal } from "./source_limits.ts";
import { type SharedHost, SharedRooms, STORE_DOWN } from "./store_shared.ts";
import { openSharedStores, type SharedStores } from "./store_open.ts";
import { RegistryMetrics } from "./metrics.ts";
import {
  EMBEDDED_STORE_HEALTH,
  type MetricsServer,
  serveMetrics,
  type StoreHealth,
} from "./metrics_server.ts";

export { REGISTRY_DEFAULTS, type RegistryOptions };

/** A snapshot of what a registry holds. */
export interface RegistryStats {
  /** Client connections being served. */
  connections: number;
  /** Rooms that exist. */
  rooms: number;
  /** Members of all rooms together. */
  members: number;
}

/** A running registry. Disposing it closes it. */
export interface RegistryHandle extends AsyncDisposable {
  /** The address it listens on. */
  readonly hostname: string;
  /** The port it listens on (the real one when started with port 0). */
  readonly port: number;
  /** What it holds now. */
  stats(): RegistryStats;
  /** Where `/metrics` and `/healthz` are served (option `metrics`); null when they are not. */
  readonly metricsAddress: { hostname: string; port: number } | null;
  /** Closes the listener and every client connection, and stops the monitor. */
  close(): Promise<void>;
}

/**
 * Starts a registry listening on `options.hostname`:`options.port`.
 *
 * @throws {Deno.errors.AddrInUse} and other listen errors
 * @throws {RangeError} on an option out of range
 */
export async function startRegistry(options: RegistryOptions = {}): Promise<RegistryHandle> {
  const resolved = resolveRegistryOptions(options);
  const host = new PeopleConnections();
  // `--store redis://…`: rooms and people in Redis, shared with other registries.
  const stores = await openSharedStores(resolved);
  let people;
  try {
    people = await People.open(
      { ...resolved, dataDir: resolved.dataDir ?? ":memory:" },
      host,
      stores?.people,
    );
  } catch (error) {
    await stores?.close();
    throw error;
  }
  let registry: Registry;
  try {
    registry = new Registry(resolved, people, host, stores);
  } catch (error) {
    people.close();
    await stores?.close();
    throw error;
  }
  if (resolved.metrics === undefined) return registry;
  try {
    await registry.serveMetrics(resolved.metrics);
  } catch (error) {
    await registry.close();
    throw error;
  }
  return registry;
}

const logger = getLogger(["ringchat", "registry"]);
const encoder = new TextEncoder();

/** Each connection's read buffer. A JOIN is under 350 bytes; more arrives in further reads. */
const READ_BUFFER_BYTES = 2048;

/**
 * What answers one frame: its bytes, or bytes still being made (hello'd
 * connections, and every connection with `--store`: then maybe several frames).
 */
type Reply = Uint8Array | Promise<Uint8Array | readonly Uint8Array[]>;

function failure(text: string): Uint8Array {
  return encoder.encode(`F:${text}::\r\n`);
}

const DEPARTED = encoder.encode("S::\r\n");
/** The ops of registry/hello.ts, for the request counts. */
const HELLO_OPS = ["hello", "prove", RENAME_OP];
/** The first byte of an `M` frame. */
const M_TYPE = 0x4d;
const DEPART_NOT_OWNER = failure("DEPART message - Not a member joined on this connection!!");
const JOIN_WRONG_FORMAT = failure("JOIN message - Wrong format!!");
const JOIN_OTHER_ROOM = failure("JOIN message - Already joined another chatroom!!");
const JOIN_OTHER_MEMBER = failure("JOIN message - Already joined as another member!!");
const JOIN_NAME_IN_USE = failure("JOIN message - Name already in use in this chatroom!!");
const JOIN_ROOM_TOO_LONG = failure(
  `JOIN message - Room name longer than ${MAX_NAME_BYTES} bytes!!`,
);
const JOIN_NAME_TOO_LONG = failure(
  `JOIN message - User name longer than ${MAX_NAME_BYTES} bytes!!`,
);
const JOIN_IP_TOO_LONG = failure(`JOIN message - IP address longer than ${MAX_IP_BYTES} bytes!!`);
const JOIN_TOO_MANY_ROOMS = failure("JOIN message - Too many chatrooms!!");
const JOIN_ROOM_FULL = failure("JOIN message - Chatroom is full!!");
const LIST_WRONG_FORMAT = failure("LIST message - Wrong format!!");
const DEPART_WRONG_FORMAT = failure("DEPART message - Wrong format!!");
const UNKNOWN_REQUEST = failure("Unknown message - Unknown request!!");
const TOO_LONG = failure("Message too long - Closing connection!!");
const SERVER_BUSY = failure("Server busy - too many connections!!");
const SOURCE_BUSY = failure("Server busy - too many connections from this address!!");

/** One client connection. */
class Client {
  readonly conn: Deno.TcpConn;
  readonly remote: string;
  /** The source address, in normal form (per-source limits, the JOIN ip check). */
  readonly source: string;
  /** When the last whole frame arrived (`performance.now()`); idle connections are closed. */
  lastHeard = performance.now();
  /** Splits this client's byte stream into frames. */
  readonly reader: FrameReader;
  /** The bytes of this client's last accepted JOIN: a repeat is a keepalive. */
  lastJoin: Uint8Array | null = null;
  /** Closes the connection if no valid frame arrives in time; cleared by the first. */
  firstFrameTimer: ReturnType<typeof setTimeout> | undefined;
  /** The request rate limit; null when it is off. */
  readonly bucket: TokenBucket | null;
  closed = false;
  /** What it said in its ringchat/2 hello; null for a seed client. */
  hello: HelloSession | null = null;
  /** Its ordered writes once it said hello (replies and pushes); null for a seed client. */
  outbox: Outbox | null = null;
  /** Ends a {@linkcode pause} early (the connection is closing). */
  #wake: (() => void) | null = null;

  constructor(conn: Deno.TcpConn, bucket: TokenBucket | null, maxFrameBytes: number) {
    this.conn = conn;
    this.bucket = bucket;
    // Frames are views of the read buffer: each is answered before the next read.
    this.reader = new FrameReader({ maxFrameBytes, copyFrames: false });
    const addr = conn.remoteAddr;
    this.remote = `${addr.hostname}:${addr.port}`;
    this.source = normalAddress(addr.hostname);
  }

  /** Resolves after `ms`, or at once when the connection closes. */
  pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#wake?.();
    try {
      this.conn.close();
    } catch {
      // Already closed by the other side's reset; nothing left to release.
    }
  }
}

class Registry implements RegistryHandle {
  readonly hostname: string;
  readonly port: number;
  readonly #options: Required<RegistryOptions>;
  readonly #listener: Deno.TcpListener;
  readonly #rooms: Rooms<Client>;
  readonly #clients = new Set<Client>();
  /** Connections refused for the limit, still being answered. */
  readonly #refused = new Set<Deno.TcpConn>();
  /** Every running loop: accept, one per client, one per refusal. */
  readonly #tasks = new Set<Promise<void>>();
  readonly #sweeper: ReturnType<typeof setInterval>;
  readonly #idleChecker: ReturnType<typeof setInterval>;
  readonly #sources: SourceLimits<object>;
  /** What the accept loop has seen (per-connection errors, resource back-offs). */
  readonly #accepts: AcceptCounts = {
    accepted: 0,
    perConnectionErrors: 0,
    resourceErrors: 0,
    backoffMs: 0,
  };
  /** Pushed membership and member-info for hello'd connections. */
  readonly #push: MemberPush<Client>;
  /** Pushes as deltas, to the hello'd connections that take them (./delta_push.ts). */
  readonly #deltas = new DeltaPush<Client>();
  /** Accounts, presence, blocks, mail: the people ops of hello'd connections (./people_ops.ts). */
  readonly #people: People<Client>;
  /** With `--store`: the rooms shared with other registries (./store_shared.ts); null: embedded. */
  readonly #shared: SharedRooms<Client> | null;
  readonly #stores: SharedStores | null;
  #closing: Promise<void> | null = null;
  /** Requests by type, their durations, store errors (./metrics.ts); counted with `metrics` only. */
  readonly #metrics = new RegistryMetrics([...PEOPLE_OPS, ...HELLO_OPS]);
  /** Whether the store answers (`/healthz`); a shared store replaces the embedded one's. */
  readonly #store: StoreHealth;
  #metricsServer: MetricsServer | null = null;
  /** Answers one frame: {@linkcode #answer}, counted and timed when metrics are served. */
  #respond: (client: Client, frame: RawFrame) => Reply = (client, frame) =>
    this.#answer(client, frame);

  constructor(
    options: Required<RegistryOptions>,
    people: People<Client>,
    host: PeopleConnections,
    stores: SharedStores | null,
  ) {
    this.#options = options;
    this.#people = people;
    this.#stores = stores;
    this.#store = stores ?? EMBEDDED_STORE_HEALTH;
    this.#shared = stores === null
      ? null
      : new SharedRooms(stores.rooms, this.#sharedHost(), stores.people.origin);
    this.#rooms = new Rooms<Client>({
      maxRooms: options.maxRooms,
      maxMembersPerRoom: options.maxMembersPerRoom,
      allowDuplicateNames: options.allowDuplicateNames,
    });
    this.#push = new MemberPush<Client>({
      rooms: this.#rooms,
      session: (client) => client.hello,
      outbox: (client) => client.outbox,
    });
    this.#listener = Deno.listen({ hostname: options.hostname, port: options.port });
    const shared = this.#shared;
    if (shared !== null) host.membersOf = (room) => shared.members(room);
    host.bind(this.#clients, (client) => this.#memberOf(client), (client) => {
      if (this.#shared !== null) return this.#track(this.#shared.release(client));
      const removal = this.#rooms.release(client);
      if (removal !== null) this.#removed(removal, "left (logged out)", "lost");
    });
    const addr = this.#listener.addr;
    this.hostname = addr.hostname;
    this.port = addr.port;
    this.#sources = new SourceLimits({
      maxConnectionsPerSource: options.maxConnectionsPerSource,
      maxMembersPerSource: options.maxMembersPerSource,
      maxRoomsPerSource: options.maxRoomsPerSource,
      connectsPerSecond: options.connectsPerSecond,
      connectBurst: options.connectBurst,
      trusted: new AddressList(options.trustedSources),
    });
    this.#sweeper = setInterval(() => this.#sweep(), options.sweepMs);
    this.#idleChecker = setInterval(
      () => this.#closeIdle(),
      idleCheckEveryMs(options.idleTimeoutMs),
    );
    this.#track(
      acceptLoop(
        this.#listener,
        (conn) => this.#accepted(conn),
        () => this.#closing !== null,
        this.#accepts,
      ),
    );
    logger.info("Listening on {hostname}:{port}", { hostname: this.hostname, port: this.port });
  }

  stats(): RegistryStats {
    if (this.#shared !== null) return { connections: this.#clients.size, ...this.#shared.counts };
    return {
      connections: this.#clients.size,
      rooms: this.#rooms.roomCount,
      members: this.#rooms.memberCount,
    };
  }

  get metricsAddress(): { hostname: string; port: number } | null {
    const server = this.#metricsServer;
    return server === null ? null : { hostname: server.hostname, port: server.port };
  }

  /** Serves `/metrics` and `/healthz` on `address`, and from now on counts every request. */
  async serveMetrics(address: { hostname: string; port: number }): Promise<void> {
    this.#metricsServer = await serveMetrics(address, {
      metrics: this.#metrics,
      stats: () => this.stats(),
      serving: () => this.#closing === null,
      store: this.#store,
    });
    this.#respond = this.#metrics.metered((client, frame) => this.#answer(client, frame));
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    clearInterval(this.#sweeper);
    clearInterval(this.#idleChecker);
    this.#push.close();
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    for (const client of this.#clients) client.close();
    for (const conn of this.#refused) closeQuietly(conn);
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
    // Until here /healthz answered 503 (closing), for a balancer to take the registry out.
    await this.#metricsServer?.close();
    this.#people.close();
    await this.#shared?.close();
    await this.#stores?.close();
    logger.info(
      "Closed; accepted {accepted}, {perConnectionErrors} accepts failed for a reset, {resourceErrors} for a resource ({backoffMs} ms of back-off)",
      { ...this.#accepts },
    );
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
  }

  /** Serves, or refuses, a connection just accepted. */
  #accepted(conn: Deno.TcpConn): void {
    if (this.#closing !== null) {
      closeQuietly(conn);
      return;
    }
    const address = conn.remoteAddr.hostname;
    const connect = this.#sources.connect(address);
    if (!connect.allowed) {
      this.#refuseFast(conn, address, connect.first);
      return;
    }
    if (connect.ended > 0) {
      logger.info("{source} is back under its connect rate; {count} connections were refused", {
        source: address,
        count: connect.ended,
      });
    }
    if (this.#clients.size >= this.#options.maxConnections) {
      this.#metrics.refusedConnection("max-connections");
      this.#track(
        this.#refuse(conn, SERVER_BUSY, `${this.#options.maxConnections} connections already`),
      );
      return;
    }
    if (!this.#sources.open(address)) {
      this.#metrics.refusedConnection("connections-per-source");
      this.#track(
        this.#refuse(
          conn,
          SOURCE_BUSY,
          `${this.#options.maxConnectionsPerSource} connections from its address already`,
        ),
      );
      return;
    }
    const client = new Client(
      conn,
      this.#options.requestsPerSecond === Infinity ? null : new TokenBucket({
        ratePerSecond: this.#options.requestsPerSecond,
        burst: this.#options.requestBurst,
      }),
      this.#options.maxFrameBytes,
    );
    this.#clients.add(client);
    this.#track(this.#serve(client));
  }

  /**
   * Refuses a connection over its source's connect rate: closed at once,
   * nothing read, nothing written, nothing kept; a burst of refusals is
   * logged once (`first`). (The seed's busy line would cost a write op per
   * refusal: 51-61 µs of the registry's CPU a refusal against 39-42 µs
   * closing only, measured in docs/security.md.)
   */
  #refuseFast(conn: Deno.TcpConn, address: string, first: boolean): void {
    this.#metrics.refusedConnection("connect-rate");
    if (first) {
      logger.warn("Refusing new connections from {source}: over {rate} a second", {
        source: address,
        rate: this.#options.connectsPerSecond,
      });
    }
    closeQuietly(conn);
  }

  async #refuse(conn: Deno.TcpConn, reply: Uint8Array, why: string): Promise<void> {
    this.#refused.add(conn);
    try {
      logger.warn("Refused {remote}: {why}", {
        remote: `${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`,
        why,
      });
      conn.setNoDelay(true);
      await writeAll(conn, reply);
    } catch {
      // The client went away first; it is being closed anyway.
    } finally {
      this.#refused.delete(conn);
      closeQuietly(conn);
    }
  }

  async #serve(client: Client): Promise<void> {
    const { conn, reader } = client;
    const buf = new Uint8Array(Math.min(READ_BUFFER_BYTES, this.#options.maxFrameBytes));
    let pending: Promise<void> | null = null;
    try {
      conn.setNoDelay(true);
      client.firstFrameTimer = setTimeout(() => {
        logger.info("Closing {remote}: no valid frame within {ms} ms", {
          remote: client.remote,
          ms: this.#options.firstFrameTimeoutMs,
        });
        client.close();
      }, this.#options.firstFrameTimeoutMs);
      logger.debug("Connection from {remote}", { remote: client.remote });
      for (;;) {
        // Over its request rate: stop reading (the client's writes back up) until it is under.
        const wait = client.bucket?.delayMs(performance.now()) ?? 0;
        if (wait > 0) {
          logger.debug("Slowing {remote} for {ms} ms: over its request rate", {
            remote: client.remote,
            ms: Math.ceil(wait),
          });
          await client.pause(wait);
          if (client.closed) break;
        }
        const n = await conn.read(buf);
        // The previous reply went out while this read waited; it must be done
        // before more input is handled (backpressure: one reply in flight).
        if (pending !== null) {
          await pending;
          pending = null;
        }
        if (n === null) break;
        // A keepalive (the read is exactly the last accepted JOIN, nothing held before it: one
        // whole frame) is answered without framing or decoding it.
        const metered = this.#metricsServer !== null;
        const started = metered ? performance.now() : 0;
        const renewed = reader.buffered === 0 ? this.#keepalive(client, buf, n) : null;
        if (renewed !== null) {
          // Counted as every JOIN is, when metrics are served.
          if (metered) this.#metrics.request("J", (performance.now() - started) / 1000);
          client.lastHeard = performance.now();
          client.bucket?.take(1, client.lastHeard);
          pending = this.#sendKeepalive(client, renewed);
          pending.catch(ignore);
          continue;
        }
        let frames: RawFrame[];
        let fatal: ProtocolError | null = null;
        try {
          frames = reader.feed(buf.subarray(0, n));
        } catch (error) {
          if (!(error instanceof ProtocolError)) throw error;
          frames = [];
          fatal = error;
        }
        if (frames.length > 0) client.lastHeard = performance.now();
        // Frames completed before a fatal error are answered, then the error.
        fatal ??= reader.failure;
        // One frame (what nearly every client sends per write): its reply is
        // written while the next read waits.
        if (frames.length === 1 && fatal === null) {
          client.bucket?.take(1, performance.now());
          pending = this.#send(client, this.#respond(client, frames[0]!));
          pending.catch(ignore);
          continue;
        }
        // A read that completes no frame still cost a read: count it as one request.
        if (frames.length === 0) client.bucket?.take(1, performance.now());
        for (const frame of frames) {
          if (!(await this.#throttle(client))) break;
          await this.#send(client, this.#respond(client, frame));
        }
        if (client.closed) break;
        if (fatal !== null) {
          logger.info("Closing {remote}: {reason}", {
            remote: client.remote,
            reason: fatal.message,
          });
          // A TEXT or EXTENSION frame the reader cannot frame is still an unknown request.
          const known = fatal.frameType === "T" || fatal.frameType === "X";
          await this.#send(client, known ? UNKNOWN_REQUEST : TOO_LONG);
          break;
        }
      }
    } catch (error) {
      if (!client.closed && !isDisconnect(error)) {
        logger.error("Connection {remote} failed: {error}", { remote: client.remote, error });
      }
    } finally {
      this.#drop(client);
      // Closing the socket ends a reply still being written; let its op finish.
      if (pending !== null) await pending.catch(() => {});
    }
  }

  /**
   * Writes `reply` to `client`: directly to a seed client, through its outbox
   * to a hello'd one, an `M` followed by the room's member-info.
   */
  #send(client: Client, reply: Reply): Promise<void> {
    const outbox = client.outbox;
    if (outbox === null) {
      if (reply instanceof Uint8Array) return writeAll(client.conn, reply);
      return reply.then((frames) => writeFrames(client.conn, frames));
    }
    if (reply instanceof Uint8Array && reply[0] === M_TYPE) {
      const room = this.#rooms.memberOf(client)?.room;
      const frames = room === undefined ? null : this.#push.frames(room);
      if (frames !== null) return outbox.reply([reply, ...frames.slice(1)]);
    }
    return outbox.reply(reply);
  }

  /**
   * Writes the reply to a keepalive: to a connection that takes deltas (and
   * was written its room's list), the `members-delta` from that list, made
   * when its turn comes (`delta_push.ts`); to any other, `reply` (the `M`).
   */
  #sendKeepalive(client: Client, reply: Uint8Array): Promise<void> {
    const outbox = client.outbox;
    if (outbox === null || client.hello?.membersDelta !== true || this.#shared !== null) {
      return this.#send(client, reply);
    }
    return outbox.reply(() => {
      const room = this.#rooms.memberOf(client)?.room;
      const frames = room === undefined ? null : this.#push.frames(room);
      return frames === null ? [reply] : this.#deltas.reply(client, frames);
    });
  }

  /**
   * A `members-full` op: the connection's list did not chain with a delta.
   * Answered with the room's whole `M` and member-info, then the op; its
   * next push is whole too.
   */
  #membersFull(client: Client): Reply {
    this.#valid(client);
    this.#deltas.forget(client);
    const ack = encodeFrame({ type: "X", op: MEMBERS_FULL, body: {} });
    let frames: readonly Uint8Array[] | null;
    if (this.#shared !== null) {
      frames = this.#shared.frames(client);
    } else {
      const room = this.#rooms.memberOf(client)?.room;
      frames = room === undefined ? null : this.#push.frames(room);
    }
    return Promise.resolve(frames === null ? [ack] : [...frames, ack]);
  }

  /** The answer to an `X` frame: the hello ops (registry/hello.ts), or the reference's `F`. */
  #extension(client: Client, frame: ExtensionFrame): Reply {
    if (client.hello !== null && frame.op === RENAME_OP) return this.#rename(client, frame);
    if (client.hello !== null && frame.op === MEMBERS_FULL) return this.#membersFull(client);
    if (client.hello !== null && this.#people.handles(frame.op)) {
      return this.#people.answer(client, frame);
    }
    const answer = answerHello(client.hello, frame, () => {
      const room = this.#rooms.memberOf(client)?.room;
      logger.debug("{remote} proved its key", { remote: client.remote });
      if (room !== undefined) this.#push.infoChanged(room);
      if (this.#shared !== null) this.#track(this.#shared.infoChanged(client));
    });
    switch (answer.kind) {
      case "unknown":
        return UNKNOWN_REQUEST;
      case "hello": {
        this.#valid(client);
        client.hello = answer.session;
        const deltas = answer.session.membersDelta ? this.#deltas : null;
        client.outbox = new Outbox(client.conn, () => {
          let frames;
          if (this.#shared !== null) {
            frames = this.#shared.frames(client);
          } else {
            const room = this.#rooms.memberOf(client)?.room;
            frames = room === undefined ? null : this.#push.frames(room);
          }
          return frames === null || deltas === null ? frames : deltas.push(client, frames);
        }, (frames) => deltas?.written(client, frames));
        logger.debug("{remote} said hello", { remote: client.remote });
        const room = this.#rooms.memberOf(client)?.room;
        if (room !== undefined) this.#push.infoChanged(room);
        if (this.#shared !== null) this.#track(this.#shared.infoChanged(client));
        return answer.reply;
      }
      case "reply":
        this.#valid(client);
        return answer.reply;
    }
  }

  /** Tells the connection that held a member it was taken over (if hello'd), and closes it. */
  #takenOver(client: Client): void {
    const outbox = client.outbox;
    if (outbox === null) return client.close();
    outbox.reply(helloError("taken-over", "Another connection proved this member's key"))
      .catch(() => {})
      .finally(() => client.close());
  }

  /**
   * Counts one request of `client` against its rate; when that puts it in
   * debt, waits until it is not (pipelined frames already read wait here).
   * False when the connection closed meanwhile.
   */
  async #throttle(client: Client): Promise<boolean> {
    if (client.bucket === null) return true;
    const now = performance.now();
    client.bucket.take(1, now);
    const wait = client.bucket.delayMs(now);
    if (wait > 0) {
      logger.debug("Slowing {remote} for {ms} ms: over its request rate", {
        remote: client.remote,
        ms: Math.ceil(wait),
      });
      await client.pause(wait);
    }
    return !client.closed;
  }

  /**
   * The reply to a keepalive: the first `length` bytes of `bytes` repeat the
   * client's last accepted JOIN byte for byte, and the client still owns that
   * member. Null otherwise.
   */
  #keepalive(client: Client, bytes: Uint8Array, length: number): Uint8Array | null {
    const last = client.lastJoin;
    if (last === null || last.length !== length) return null;
    for (let i = 0; i < length; i++) if (bytes[i] !== last[i]) return null;
    return this.#rooms.renewReply(client, Date.now());
  }

  /** Removes a client that is gone: its timer, its membership, its socket. */
  #drop(client: Client): void {
    clearTimeout(client.firstFrameTimer);
    client.close();
    if (this.#clients.delete(client)) this.#sources.close(client.source);
    try {
      // Logged out first, then out of its room: one presence change, not two.
      this.#people.closed(client);
      if (this.#shared !== null) {
        // Counted per connection with a shared store (a member taken over elsewhere is not released).
        this.#sources.removed(client);
        return this.#track(this.#shared.release(client));
      }
      const removal = this.#rooms.release(client);
      if (removal !== null) this.#removed(removal, "left (connection closed)", "lost");
    } catch (error) {
      logger.error("Releasing {remote} failed: {error}", { remote: client.remote, error });
    }
  }

  /** The reply to one whole frame. `frame` is a view of the read buffer: do not keep it. */
  #answer(client: Client, frame: RawFrame): Reply {
    try {
      const keepalive = this.#keepalive(client, frame.bytes, frame.bytes.length);
      if (keepalive !== null) return keepalive;
      const renewal = this.#shared?.renewal(client, frame.bytes);
      if (renewal != null) return this.#renewed(client, client.lastJoin!, renewal);
      let decoded: Frame;
      try {
        decoded = frame.decode();
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        logger.debug("Rejected a frame from {remote}: {reason}", {
          remote: client.remote,
          reason: error.message,
        });
        switch (error.frameType) {
          case "J":
            return JOIN_WRONG_FORMAT;
          case "L":
            return LIST_WRONG_FORMAT;
          case "D":
            return DEPART_WRONG_FORMAT;
          default:
            return UNKNOWN_REQUEST;
        }
      }
      switch (decoded.type) {
        case "X":
          return this.#extension(client, decoded);
        case "L":
          this.#valid(client);
          return this.#shared?.roomsReply() ?? this.#rooms.roomsReply();
        case "J":
          return this.#join(client, decoded, frame.bytes);
        case "D":
          return this.#shared?.depart(client, decoded) ?? this.#depart(client, decoded);
        default:
          logger.debug("Rejected a {type} frame from {remote}", {
            type: decoded.type,
            remote: client.remote,
          });
          return UNKNOWN_REQUEST;
      }
    } catch (error) {
      // A bug, not the client's fault: answer, keep serving everyone else.
      logger.error("Handling a frame from {remote} failed: {error}", {
        remote: client.remote,
        error,
      });
      return UNKNOWN_REQUEST;
    }
  }

  /** The reply to a JOIN; `frame` is its bytes, a view (copied: a repeat of them is a keepalive). */
  #join(client: Client, join: JoinFrame, frame: Uint8Array): Reply {
    if (this.#shared !== null) return this.#sharedJoin(client, join, frame.slice());
    return this.#embeddedJoin(client, join, frame);
  }

  /**
   * With `--store`, the reply to a keepalive (`last`: the JOIN it repeats);
   * a full JOIN when the store says the connection owns no member any more.
   */
  async #renewed(
    client: Client,
    last: Uint8Array,
    renewal: Promise<Uint8Array | Uint8Array[] | null>,
  ): Promise<Uint8Array | readonly Uint8Array[]> {
    const reply = await renewal;
    return reply ?? await this.#sharedJoin(client, decodeFrame(last) as JoinFrame, last);
  }

  /** A JOIN with `--store`: the registry's own checks, then the store's. */
  #sharedJoin(client: Client, join: JoinFrame, frame: Uint8Array): Reply {
    const refused = this.#joinChecks(client, join) ??
      (this.#ipRefusal(client, join) === null ? null : REFUSALS["ip-not-source"].reply);
    if (refused !== null) return refused;
    // The per-source limits are counted in the store, across registries.
    const source = this.#sources.trusts(client.source) ? "" : client.source;
    return this.#shared!.join(client, join, frame, source);
  }

  /** The `F` reply of a refused JOIN, logged. */
  #refusedJoin(client: Client, join: JoinFrame, refused: keyof typeof REFUSALS): Uint8Array {
    const { why, reply } = REFUSALS[refused];
    logger.debug("Refused a JOIN of {name}@{ip}:{port} into {room} from {remote}: {why}", {
      ...memberFields(join),
      remote: client.remote,
      why: why(this.#options),
    });
    return reply;
  }

  /** The `F` reply when a field of `join` is too long or its name is not `client`'s to use. */
  #joinChecks(client: Client, join: JoinFrame): Uint8Array | null {
    const tooLong = byteLength(join.room) > MAX_NAME_BYTES
      ? JOIN_ROOM_TOO_LONG
      : byteLength(join.name) > MAX_NAME_BYTES
      ? JOIN_NAME_TOO_LONG
      : byteLength(join.ip) > MAX_IP_BYTES
      ? JOIN_IP_TOO_LONG
      : null;
    if (tooLong !== null) {
      logger.debug("Rejected a JOIN from {remote}: field too long", { remote: client.remote });
      return tooLong;
    }
    const nameRefused = this.#people.joinRefusal(join.name, client);
    if (nameRefused !== null) {
      logger.debug("Refused a JOIN of {name} from {remote}: {why}", {
        name: join.name,
        remote: client.remote,
        why: nameRefused,
      });
      return failure(nameRefused);
    }
    return null;
  }

  /** The reply to a JOIN over the embedded rooms. */
  #embeddedJoin(client: Client, join: JoinFrame, frame: Uint8Array): Uint8Array {
    const checked = this.#joinChecks(client, join);
    if (checked !== null) return checked;
    const mine = this.#rooms.memberOf(client);
    if (mine !== undefined) {
      if (mine.room !== join.room) return JOIN_OTHER_ROOM;
      if (mine.hashId !== hashId(join.name, join.ip, join.port)) return JOIN_OTHER_MEMBER;
    }
    const ipRefused = this.#ipRefusal(client, join);
    const holder = ipRefused === null ? this.#rooms.ownerOf(join.room, join) : undefined;
    if (
      holder !== undefined && holder !== client &&
      claim(holder.hello?.provedKey ?? null, client.hello?.provedKey ?? null) === "refuse"
    ) {
      logger.info(
        "Refused a JOIN of {name}@{ip}:{port} into {room} from {remote}: held by {holder}",
        {
          ...memberFields(join),
          remote: client.remote,
          holder: holder.remote,
        },
      );
      return JOIN_HELD;
    }
    const refused = ipRefused ?? this.#rooms.refusal(join.room, join) ??
      this.#sourceRefusal(client, join);
    if (refused !== null) return this.#refusedJoin(client, join, refused);
    const outcome = this.#rooms.join(join.room, join, client, Date.now());
    this.#valid(client);
    client.lastJoin = frame.slice();
    if (outcome.added || outcome.takenFrom !== null) {
      this.#sources.added(outcome.member, client.source, join.room);
    }
    if (outcome.takenFrom !== null) {
      outcome.takenFrom.lastJoin = null;
      logger.info("{name}@{ip}:{port} in {room} is now served by {remote}", {
        ...memberFields(outcome.member),
        remote: client.remote,
      });
      this.#takenOver(outcome.takenFrom);
      this.#push.infoChanged(join.room);
      this.#people.entered(client, join.name, join.room, false);
    }
    if (outcome.added) {
      logger.info("{name}@{ip}:{port} joined {room}", memberFields(outcome.member));
      this.#push.changed(join.room);
      this.#people.entered(client, join.name, join.room, true);
    }
    return this.#rooms.membersReply(join.room);
  }

  #depart(client: Client, depart: DepartFrame): Uint8Array {
    this.#valid(client);
    const removal = this.#rooms.depart(depart.room, depart, client);
    if (removal === "not-owner") {
      logger.info("{remote} tried to depart {name}@{ip}:{port}, which another connection owns", {
        remote: client.remote,
        ...memberFields({ ...depart }),
      });
      return DEPART_NOT_OWNER;
    }
    if (removal !== null) this.#removed(removal, "departed", "left");
    return DEPARTED;
  }

  /** A hello'd connection's `rename` op: its member departs, as renamed to the op's `to`. */
  #rename(client: Client, frame: ExtensionFrame): Reply {
    this.#valid(client);
    const to = renameTarget(frame.body);
    if (to instanceof Uint8Array) return to;
    if (this.#shared !== null) {
      return this.#shared.rename(client, to).then(
        (done) =>
          done
            ? renamedReply(to)
            : helloError("bad-request", "This connection holds no member to rename"),
        () => STORE_DOWN,
      );
    }
    const member = this.#rooms.memberOf(client);
    const removal = member === undefined ? null : this.#rooms.depart(member.room, member, client);
    if (removal === null || removal === "not-owner") {
      return helloError("bad-request", "This connection holds no member to rename");
    }
    this.#removed(removal, `renamed to ${to}`, "renamed", to);
    return renamedReply(to);
  }

  /** Logs a removed member, forgets its owner's keepalive bytes, pushes the room with `reason`. */
  #removed(removal: Removal<Client>, why: string, reason: LeftReason, to?: string): void {
    if (removal.owner !== null) removal.owner.lastJoin = null;
    this.#sources.removed(removal.member);
    logger.info(`{name}@{ip}:{port} ${why} from {room}`, memberFields(removal.member));
    this.#people.left(removal.owner, removal.member.name, removal.member.room);
    if (removal.roomDestroyed) {
      logger.info("Room {room} is empty and destroyed", { room: removal.member.room });
      this.#push.forget(removal.member.room);
    } else {
      this.#push.removed(removal.member.room, removal.member, reason, to);
    }
  }

  /** `"ip-not-source"` when `join` advertises an ip its connection may not (./source_address.ts). */
  #ipRefusal(client: Client, join: JoinFrame): "ip-not-source" | null {
    if (this.#options.allowAnyIp || this.#sources.trusts(client.source)) return null;
    return mayAdvertise(join.ip, client.source) ? null : "ip-not-source";
  }

  /** Why a per-source limit refuses `join` from `client`, or null (also when it adds no member). */
  #sourceRefusal(client: Client, join: JoinFrame): SourceRefusal | null {
    if (this.#sources.trusts(client.source)) return null;
    const exists = this.#rooms.hasRoom(join.room);
    if (exists && this.#rooms.lookup(join.room, join) !== undefined) return null;
    return this.#sources.joinRefusal(client.source, join.room, exists);
  }

  /**
   * Closes each connection in no room silent for more than `idleTimeoutMs`
   * after its first frame (./idle.ts).
   */
  #closeIdle(): void {
    const now = performance.now();
    for (const client of this.#clients) {
      if (client.firstFrameTimer !== undefined || client.closed) continue;
      const inRoom = this.#memberOf(client) !== undefined;
      // A logged-in session in no room may be silent for as long as a member.
      const timeoutMs = !inRoom && this.#people.isLoggedIn(client)
        ? Math.max(this.#options.expiryMs, this.#options.idleTimeoutMs)
        : this.#options.idleTimeoutMs;
      if (!isIdle(client.lastHeard, now, inRoom, timeoutMs)) continue;
      logger.info("Closing {remote}: in no room and silent for {ms} ms", {
        remote: client.remote,
        ms: Math.round(now - client.lastHeard),
      });
      client.close();
    }
  }

  #valid(client: Client): void {
    if (client.firstFrameTimer !== undefined) {
      clearTimeout(client.firstFrameTimer);
      client.firstFrameTimer = undefined;
    }
  }

  /** The member `client` owns, in whichever store runs. */
  #memberOf(client: Client): MemberView | undefined {
    return this.#shared === null ? this.#rooms.memberOf(client) : this.#shared.memberOf(client);
  }

  /** What the shared rooms need of this registry. */
  #sharedHost(): SharedHost<Client> {
    return {
      valid: (c) => this.#valid(c),
      takenOver: (c) => this.#takenOver(c),
      denied: (denial) =>
        denial === "other-room"
          ? JOIN_OTHER_ROOM
          : denial === "other-member"
          ? JOIN_OTHER_MEMBER
          : denial === "held"
          ? JOIN_HELD
          : REFUSALS[denial].reply,
      departNotOwner: DEPART_NOT_OWNER,
      departed: DEPARTED,
      entered: (c, name, room, added) => this.#people.entered(c, name, room, added),
      left: (c, name, room) => this.#people.left(c, name, room),
      storeError: () => this.#metrics.storeError(),
    };
  }

  #sweep(): void {
    if (this.#shared !== null) {
      this.#track(this.#shared.sweep(this.#options.expiryMs));
      this.#people.sweep(Date.now());
      return;
    }
    try {
      for (const removal of this.#rooms.sweep(Date.now(), this.#options.expiryMs)) {
        this.#removed(removal, "expired", "expired");
      }
      this.#people.sweep(Date.now());
    } catch (error) {
      logger.error("Sweep failed: {error}", { error });
    }
  }
}

/** The registry's connections as the people ops see them (./people_ops.ts). */
class PeopleConnections implements PeopleHost<Client> {
  #clients: ReadonlySet<Client> = new Set();
  #memberOf: (c: Client) => MemberView | undefined = () => undefined;
  #release: (c: Client) => void = () => {};
  /** With a shared store: the members of a room, whichever registry serves them. */
  membersOf?: (room: string) => Promise<readonly MemberView[]>;

  /** Binds the registry's connections, member lookup and member release, once they exist. */
  bind(
    clients: ReadonlySet<Client>,
    memberOf: (c: Client) => MemberView | undefined,
    release: (c: Client) => void,
  ): void {
    this.#clients = clients;
    this.#memberOf = memberOf;
    this.#release = release;
  }

  release(c: Client): void {
    this.#release(c);
  }

  connections(): Iterable<Client> {
    return this.#clients;
  }

  saidHello(c: Client): boolean {
    return c.outbox !== null;
  }

  memberOf(c: Client): MemberView | undefined {
    return this.#memberOf(c);
  }

  source(c: Client): string {
    return c.source;
  }

  write(c: Client, frame: Uint8Array): Promise<void> {
    return c.outbox === null ? Promise.resolve() : c.outbox.reply(frame);
  }

  close(c: Client): void {
    c.close();
  }

  isClosed(c: Client): boolean {
    return c.closed;
  }
}

/** What each refusal of {@linkcode Rooms.refusal} logs and answers. */
const REFUSALS: Record<
  JoinRefusal | SourceRefusal | "ip-not-source",
  { why: (options: Required<RegistryOptions>) => string; reply: Uint8Array }
> = {
  "too-many-rooms": { why: (o) => `${o.maxRooms} rooms already`, reply: JOIN_TOO_MANY_ROOMS },
  "room-full": { why: (o) => `${o.maxMembersPerRoom} members already`, reply: JOIN_ROOM_FULL },
  "name-in-use": {
    why: () => "another member of the room has that name",
    reply: JOIN_NAME_IN_USE,
  },
  "ip-not-source": {
    why: () => "the ip is not the connection's source address",
    reply: failure("JOIN message - IP address is not this connection's address!!"),
  },
  "members-per-source": {
    why: (o) => `${o.maxMembersPerSource} members of the room from its address already`,
    reply: failure("JOIN message - Too many members from this address!!"),
  },
  "rooms-per-source": {
    why: (o) => `its address has members in ${o.maxRoomsPerSource} rooms already`,
    reply: failure("JOIN message - Too many chatrooms from this address!!"),
  },
};

function memberFields(m: { name: string; ip: string; port: number; room: string }) {
  return { name: m.name, ip: m.ip, port: m.port, room: m.room };
}

async function writeFrames(
  conn: Deno.Conn,
  frames: Uint8Array | readonly Uint8Array[],
): Promise<void> {
  if (frames instanceof Uint8Array) return await writeAll(conn, frames);
  for (const frame of frames) await writeAll(conn, frame);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = await conn.write(bytes);
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

function byteLength(text: string): number {
  let ascii = true;
  for (let i = 0; i < text.length && ascii; i++) ascii = text.charCodeAt(i) < 0x80;
  return ascii ? text.length : encoder.encode(text).length;
}

/** A rejection handler that drops the error (the read loop sees it, or the connection is closing). */
function ignore(): void {}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
