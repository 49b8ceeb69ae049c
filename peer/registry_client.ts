/**
 * A peer's TCP connection to the registry (PROTOCOL.md §5, §6): one request at
 * a time (the reference server reads one request per `recv()`), each frame in
 * its own write, replies read through a {@linkcode FrameReader} bounded by
 * `maxFrameBytes` (default `REGISTRY_REPLY_MAX_FRAME_BYTES`).
 *
 * After a successful JOIN it keeps the membership: a keepalive JOIN every
 * `keepaliveMs`, and when the connection drops, a reconnect every
 * `reconnectMs` that re-registers with the same JOIN. Chat goes on over the
 * peer's links meanwhile. With `fallbacks`, a registry that cannot be
 * reached is passed over for the next one, and a dropped connection is
 * re-registered at once through the next one (failover, issue 15;
 * `peer/registry_addresses.ts`).
 *
 * With `hello` set it opens every connection with the ringchat/2 hello
 * (`peer/registry_hello.ts`) and proves its key, before any other request.
 * A ringchat registry then pushes the room's `M` when the membership changes
 * (delivered through `onMembers`, as a keepalive's) and follows every `M`
 * with member-info (`hello.onMemberInfo`); a JOIN's `M` is taken as its
 * answer only with its member-info, so a list is never shown without it.
 * With `hello.onMembersDelta` the hello asks for changes as `members-delta`
 * ops instead (after a first full list); one that is not taken (it does not
 * apply to my list) is answered by a keepalive JOIN at once, whose reply is
 * the full list. A
 * registry that answers the hello
 * with `F` (the reference) is spoken to as plain P2PChat from then on, never
 * with `X` again, and `hello.onUnavailable` says so once.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { FrameReader } from "../lib/frame_reader.ts";
import {
  encodeFrame,
  type ExtensionFrame,
  type Frame,
  type JoinFrame,
  type MembersFrame,
} from "../lib/frames.ts";
import { REGISTRY_REPLY_MAX_FRAME_BYTES } from "../lib/limits.ts";
import { isDeltaReply, MEMBERS_DELTA, MEMBERS_FULL } from "../lib/members_delta.ts";
import { HelloSession, type RegistryHelloOptions } from "./registry_hello.ts";
import { advertisable, type RegistryAddress, RegistryAddresses } from "./registry_addresses.ts";

export type { RegistryHelloOptions } from "./registry_hello.ts";

const logger = getLogger(["ringchat", "peer", "registry_client"]);

const READ_BUFFER_BYTES = 64 * 1024;

/** How long a JOIN's `M` from a ringchat registry waits for its member-info, in ms. */
export const MEMBER_INFO_WAIT_MS = 500;

/** Options of a {@linkcode RegistryClient}. */
export interface RegistryClientOptions {
  /** The registry (a host name or an IP address). */
  hostname: string;
  port: number;
  /** Registries to use, in turn, when the one before cannot be reached or drops. */
  fallbacks?: readonly RegistryAddress[];
  /** Interval of the keepalive JOIN, in ms. */
  keepaliveMs: number;
  /** Interval of reconnect attempts after the connection dropped, in ms. */
  reconnectMs: number;
  /** How long a request may wait for its reply before the connection is dropped, in ms. */
  requestTimeoutMs: number;
  /** Largest reply accepted (default `REGISTRY_REPLY_MAX_FRAME_BYTES`, an `M` of 10,000 members). */
  maxFrameBytes?: number;
  /** A member list from a keepalive, a refresh or a re-registration. */
  onMembers(frame: MembersFrame): void;
  /** The registry answered a keepalive, refresh or re-registration with `F`. */
  onFailure(message: string): void;
  /** The connection dropped while joined ("lost"), or came back and re-registered ("restored"). */
  onStatus(status: "lost" | "restored", detail: string): void;
  /** Say the ringchat/2 hello on every connection; absent: plain P2PChat only. */
  hello?: RegistryHelloOptions;
  /** Registry ops with `ref` and pushes (docs/people.md; `peer/people.ts`). */
  ops?: RegistryOpsHost;
}

/** What the registry's people ops need of the client's owner (docs/people.md). */
export interface RegistryOpsHost {
  /** A push of a ringchat registry: an `X` without `ref` the client does not handle itself. */
  onPush(frame: ExtensionFrame): void;
  /**
   * Ops to send first on every new ringchat/2 connection, right after the
   * hello and proof and before any other request (a re-login before the
   * re-JOIN); each reply goes to its `onReply`.
   */
  onConnection?(): { frame: ExtensionFrame; onReply(reply: Frame): void }[];
}

/** The registry does not speak ringchat/2 (the reference, or a plain peer): no `X` ops. */
export class NotRingchat extends Error {
  constructor() {
    super("The registry does not speak ringchat/2");
    this.name = "NotRingchat";
  }
}

/** How a {@linkcode RegistryClient.refreshMembers} ended. */
export type Refreshed = "members" | "failed" | "unreachable";

/** The registry answered `F`; the message is the registry's text. */
export class RegistryFailure extends Error {
  /** Wraps the text of an `F` frame. */
  constructor(message: string) {
    super(message);
    this.name = "RegistryFailure";
  }
}

/** The registry cannot be reached: the connection to it failed. */
export class RegistryUnreachable extends Error {
  /** Where the registry was looked for, as `host:port`. */
  readonly address: string;
  /** Why the connection failed (the system's words). */
  readonly reason: string;

  /** The registry at `address` cannot be reached, because of `reason`. */
  constructor(address: string, reason: string) {
    super(`Cannot reach the registry at ${address}: ${reason}`);
    this.name = "RegistryUnreachable";
    this.address = address;
    this.reason = reason;
  }
}

interface Request {
  frame: Frame;
  resolve: (reply: Frame) => void;
  reject: (error: Error) => void;
  promise: Promise<Frame>;
  /** The bytes to write, when they take time to make (a signature); else `frame` encoded. */
  bytes?: Promise<Uint8Array>;
  /** Runs with the reply before the next request is sent (the hello queues its proof). */
  onReply?: (reply: Frame, connection: Connection) => void;
}

interface Connection {
  conn: Deno.TcpConn;
  reading: Promise<void>;
  /** The registry answered this connection's hello: it speaks ringchat/2. */
  ringchat: boolean;
  /** Settles once the hello is answered (or not said): whether the registry speaks ringchat/2. */
  said: PromiseWithResolvers<boolean>;
}

/**
 * Whether `frame` answers the `X` request `waiting`: a ref'd request takes
 * the frame with its `ref` (or an `error` without one, from a registry that
 * forgets refs); the hello and proof take `hello`, `proved` and `error`, a
 * `rename` takes `renamed` and `error`. Anything else is a push.
 */
function answers(waiting: ExtensionFrame, frame: ExtensionFrame): boolean {
  const ref = waiting.body.ref;
  if (typeof ref === "string") {
    return frame.body.ref === ref ||
      (frame.op === "error" && frame.body.ref === undefined && frame.body.code !== "taken-over");
  }
  if (waiting.op === "rename") return frame.op === "renamed" || frame.op === "error";
  if (waiting.op === MEMBERS_FULL) return frame.op === MEMBERS_FULL || frame.op === "error";
  return frame.op === "hello" || frame.op === "proved" || frame.op === "error";
}

/** The registry connection; see the module doc. */
export class RegistryClient {
  readonly #options: RegistryClientOptions;
  /** The registry connected to, and those to fail over to. */
  readonly #addresses: RegistryAddresses;
  readonly #abort = new AbortController();
  #connection: Connection | null = null;
  #connecting: Promise<Connection> | null = null;
  #queue: Request[] = [];
  #inflight: Request | null = null;
  #requestTimer: ReturnType<typeof setTimeout> | undefined;
  #join: JoinFrame | null = null;
  #keepaliveTimer: ReturnType<typeof setTimeout> | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #lost = false;
  #closed = false;
  #localAddress: string | null = null;
  /** The ringchat/2 hello; null: plain P2PChat only. */
  readonly #hello: HelloSession | null;
  /** A pushed `M` waiting for the member-info that follows it. */
  #heldPush: MembersFrame | null = null;
  /** A pushed `M` that came while a JOIN's reply was being taken: newer than that reply. */
  #joinPush: MembersFrame | null = null;
  /** A JOIN's `M` from a ringchat registry, waiting for the member-info that follows it. */
  #heldReply: MembersFrame | null = null;
  readonly #tasks = new Set<Promise<unknown>>();
  /** Keepalive answers that were deltas: whether each was taken. */
  readonly #deltaReplies = new WeakMap<Frame, boolean>();
  /** A `members-full` op is asked and not yet answered. */
  #askingFull = false;
  /** Lists handed to `onMembers` as they were read (a refresh then hands them on no more). */
  readonly #delivered = new WeakSet<Frame>();

  /** Creates a client; it connects on the first request. */
  constructor(options: RegistryClientOptions) {
    this.#options = options;
    this.#addresses = new RegistryAddresses([options, ...options.fallbacks ?? []]);
    this.#hello = options.hello === undefined ? null : new HelloSession(options.hello);
  }

  /** True while connected. */
  get connected(): boolean {
    return this.#connection !== null;
  }

  /** True while connected to a registry that answered the ringchat/2 hello. */
  get speaksRingchat(): boolean {
    return this.#connection?.ringchat ?? false;
  }

  /**
   * The local address of the last connection, as a peer advertises it by
   * default: IPv4 (an IPv4-mapped `::ffff:a.b.c.d` as `a.b.c.d`, IPv6 `::1`
   * as `127.0.0.1`: the peer listens on both); any other IPv6 address as it
   * is, which a member cannot advertise (PROTOCOL.md §3).
   */
  get localAddress(): string | null {
    return this.#localAddress === null ? null : advertisable(this.#localAddress);
  }

  /** Where the registry is (the current one of several), as `host:port`. */
  get address(): string {
    return this.#addresses.format(this.#addresses.current);
  }

  /** Opens the connection unless it is open. */
  async connect(): Promise<void> {
    await this.#connect();
  }

  /**
   * Sends `L` and returns the room names.
   *
   * @throws {RegistryFailure} on `F`; {@linkcode RegistryUnreachable} when the registry
   * cannot be reached; an Error when the connection fails or the reply is late
   */
  async list(): Promise<string[]> {
    const reply = await this.#request({ type: "L" });
    if (reply.type === "G") return reply.rooms;
    throw this.#unexpected(reply);
  }

  /**
   * Sends `J` and returns the members. From then on keeps the membership
   * alive (keepalive, reconnect and re-register) until {@linkcode close}.
   *
   * @throws {RegistryFailure} on `F`; {@linkcode RegistryUnreachable} when the registry
   * cannot be reached; an Error when the connection fails or the reply is late
   */
  async join(frame: JoinFrame): Promise<MembersFrame> {
    this.#joinPush = null;
    const reply = await this.#request(frame);
    if (reply.type !== "M") throw this.#unexpected(reply);
    this.#join = frame;
    this.#scheduleKeepalive();
    const pushed = this.#joinPush;
    this.#joinPush = null;
    return pushed ?? reply;
  }

  /**
   * Re-sends my JOIN to refresh the member list (a JOIN not yet written is
   * shared). Delivers the list through `onMembers` and returns true, or
   * returns false when not joined or the registry did not answer with `M`.
   */
  async refresh(): Promise<boolean> {
    return (await this.refreshMembers()) === "members";
  }

  /**
   * {@linkcode refresh}, telling why there is no list: `"unreachable"` when
   * the registry could not be reached or the connection failed before it
   * answered, `"failed"` when it answered otherwise (or I am not joined).
   */
  async refreshMembers(): Promise<Refreshed> {
    const join = this.#join;
    if (join === null || this.#closed) return "failed";
    const queued = this.#queue.find((r) => r.frame.type === "J");
    let reply: Frame;
    try {
      reply = await (queued?.promise ?? this.#request(join));
    } catch (error) {
      if (error instanceof RegistryFailure) {
        this.#options.onFailure(error.message);
        return "failed";
      }
      logger.debug("Refresh failed: {error}", { error });
      return this.#closed ? "failed" : "unreachable";
    }
    if (this.#closed) return "failed";
    // A registry that sends deltas may answer with one (taken as it was read).
    if (reply.type === "X") return this.#deltaReplies.get(reply) === true ? "members" : "failed";
    if (reply.type !== "M") return "failed";
    if (!this.#delivered.delete(reply)) this.#options.onMembers(reply);
    return "members";
  }

  /**
   * Leaves the room: stops the keepalive and the re-registration, then
   * departs my member, if the connection is up: by DEPART, or with `renameTo`
   * on a ringchat registry by the `rename` op (docs/extensions.md), so the
   * members hear of a nick. A plain registry's connection is closed after
   * the DEPART. A failure is only logged: the registry drops the member on
   * its own (its connection's close, or expiry).
   */
  async leave(renameTo?: string): Promise<void> {
    const join = this.#join;
    if (join === null) return;
    this.#join = null;
    this.#lost = false;
    this.#heldPush = null;
    this.#joinPush = null;
    clearTimeout(this.#keepaliveTimer);
    clearTimeout(this.#reconnectTimer);
    if (this.#connection === null || this.#closed) return;
    const connection = this.#connection;
    const frame: Frame = renameTo !== undefined && connection.ringchat
      ? { type: "X", op: "rename", body: { to: renameTo } }
      : { type: "D", room: join.room, name: join.name, ip: join.ip, port: join.port };
    try {
      const reply = await this.#request(frame);
      if (reply.type === "X" && reply.op === "error") {
        logger.info("The registry refused to rename us: {reply}", { reply: reply.body });
      }
    } catch (error) {
      logger.debug("Departing failed: {error}", { error });
    }
    // DEPART is not in the seed: a plain registry may keep the member, but
    // removes it with its connection (the next request opens another).
    if (!connection.ringchat) this.#disconnect(connection, "Left the room");
  }

  /**
   * Sends an `X` op with a `ref` (docs/people.md) after the connection's
   * hello, and returns the registry's `X` reply (an `error` op included).
   *
   * @throws {NotRingchat} when the registry does not speak ringchat/2; like
   * {@linkcode list} when it cannot be reached or the reply is late
   */
  async op(frame: ExtensionFrame): Promise<ExtensionFrame> {
    const connection = await this.#connect();
    // The hello waits in the queue of a connection just opened.
    this.#pump();
    if (!(await connection.said.promise)) throw new NotRingchat();
    const reply = await this.#request(frame);
    if (reply.type !== "X") throw this.#unexpected(reply);
    return reply;
  }

  /** Closes the connection, stops keepalive and reconnects, fails pending requests. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#abort.abort(new Error("Closed"));
      clearTimeout(this.#keepaliveTimer);
      clearTimeout(this.#reconnectTimer);
      this.#drop(new Error("Registry connection closed"));
    }
    const connecting = this.#connecting;
    if (connecting !== null) await connecting.catch(() => {});
    this.#drop(new Error("Registry connection closed"));
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#tasks.add(promise);
    promise.finally(() => this.#tasks.delete(promise)).catch(() => {});
    return promise;
  }

  #unexpected(reply: Frame): Error {
    if (reply.type === "F") return new RegistryFailure(reply.message);
    return new Error(`The registry answered with an unexpected ${reply.type} frame`);
  }

  #request(frame: Frame): Promise<Frame> {
    if (this.#closed) return Promise.reject(new Error("Registry connection closed"));
    const { promise, resolve, reject } = Promise.withResolvers<Frame>();
    const request: Request = { frame, resolve, reject, promise };
    this.#queue.push(request);
    this.#connect().then(
      () => this.#pump(),
      (error: Error) => {
        const i = this.#queue.indexOf(request);
        if (i >= 0) {
          this.#queue.splice(i, 1);
          reject(error);
        }
      },
    );
    return promise;
  }

  #connect(): Promise<Connection> {
    if (this.#closed) return Promise.reject(new Error("Registry connection closed"));
    if (this.#connection !== null) return Promise.resolve(this.#connection);
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = null;
    });
    return this.#connecting;
  }

  /** Connects to the current registry, or else to each next one in turn. */
  async #dial(): Promise<Deno.TcpConn> {
    const tried = this.#addresses.toString();
    let reason = "";
    for (let i = 0; i < this.#addresses.size; i++) {
      const { hostname, port } = this.#addresses.current;
      try {
        return await Deno.connect({ hostname, port, signal: this.#abort.signal });
      } catch (error) {
        reason = error instanceof Error ? error.message : String(error);
        if (this.#closed || this.#addresses.size === 1) break;
        logger.info("Cannot reach the registry at {address} ({reason}); trying the next", {
          address: this.address,
          reason,
        });
        this.#addresses.advance();
      }
    }
    throw new RegistryUnreachable(tried, reason);
  }

  async #open(): Promise<Connection> {
    const conn = await this.#dial();
    if (this.#closed) {
      conn.close();
      throw new Error("Registry connection closed");
    }
    conn.setNoDelay(true);
    this.#localAddress = (conn.localAddr as Deno.NetAddr).hostname;
    const connection: Connection = {
      conn,
      reading: Promise.resolve(),
      ringchat: false,
      said: Promise.withResolvers<boolean>(),
    };
    connection.reading = this.#track(this.#read(connection));
    this.#connection = connection;
    const hello = this.#hello;
    if (hello !== null && hello.wanted) this.#queue.unshift(this.#helloRequest(hello));
    else connection.said.resolve(false);
    logger.debug("Connected to the registry at {address}", { address: this.address });
    return connection;
  }

  #pump(): void {
    const connection = this.#connection;
    if (connection === null || this.#inflight !== null) return;
    const request = this.#queue.shift();
    if (request === undefined) return;
    this.#inflight = request;
    this.#requestTimer = setTimeout(() => {
      logger.warn("The registry did not answer within {ms} ms", {
        ms: this.#options.requestTimeoutMs,
      });
      if (request.frame.type === "X" && request.frame.op === "hello") this.#hello?.degrade();
      this.#disconnect(connection, "The registry did not answer in time");
    }, this.#options.requestTimeoutMs);
    const bytes = request.bytes ?? Promise.resolve(encodeFrame(request.frame));
    this.#track(bytes.then((b) => this.#writeAll(connection.conn, b))).catch((error) =>
      this.#disconnect(connection, `Write failed: ${error?.message ?? error}`)
    );
  }

  async #writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
  }

  #reply(frame: Frame, connection: Connection): void {
    if (connection.ringchat && this.#unsolicited(frame)) return;
    const request = this.#inflight;
    if (request === null) {
      logger.debug("Ignored an unsolicited {type} frame from the registry", { type: frame.type });
      return;
    }
    if (connection.ringchat && frame.type === "M" && request.frame.type === "J") {
      // Its member-info follows (#unsolicited answers the request with both);
      // a registry that sends none is taken without it, after a moment.
      this.#heldReply = frame;
      clearTimeout(this.#requestTimer);
      this.#requestTimer = setTimeout(() => {
        if (this.#inflight === request && this.#heldReply === frame) {
          logger.debug("No member-info came with the JOIN's reply");
          this.#answered(request, frame, connection);
        }
      }, MEMBER_INFO_WAIT_MS);
      return;
    }
    this.#answered(request, frame, connection);
  }

  /** Settles the request in flight with `frame`, and sends the next one. */
  #answered(request: Request, frame: Frame, connection: Connection): void {
    this.#inflight = null;
    this.#heldReply = null;
    clearTimeout(this.#requestTimer);
    // A list that answers a keepalive or refresh is taken now, before any
    // frame read after it (a members-delta from this very list).
    if (frame.type === "M" && request.frame.type === "J" && this.#join !== null && !this.#closed) {
      this.#delivered.add(frame);
      this.#options.onMembers(frame);
    }
    try {
      request.onReply?.(frame, connection);
    } catch (error) {
      logger.error("Handling the registry's reply failed: {error}", { error });
    }
    if (frame.type === "F") request.reject(new RegistryFailure(frame.message));
    else request.resolve(frame);
    this.#pump();
  }

  /**
   * From a ringchat registry: true when `frame` is not a reply but a push
   * (an `M` while no JOIN waits), member-info, or a notice, and was handled.
   */
  #unsolicited(frame: Frame): boolean {
    const waiting = this.#inflight?.frame;
    if (frame.type === "M") {
      if (waiting?.type === "J" && this.#heldReply === null) return false;
      // Its member-info follows: deliver the two together (a push held before is let go).
      this.#deliverPush();
      this.#heldPush = frame;
      return true;
    }
    if (frame.type !== "X") return false;
    if (waiting?.type === "X" && frame.op !== "member-info" && answers(waiting, frame)) {
      return false;
    }
    if (frame.op === MEMBERS_DELTA) {
      if (this.#closed) return true;
      this.#deliverPush();
      const taken = this.#hello?.feedDelta(frame) ?? "refused";
      const request = this.#inflight;
      // A keepalive's answer (whole): the JOIN is answered, the list brought up to date.
      if (
        isDeltaReply(frame) && taken !== "partial" && request?.frame.type === "J" &&
        this.#connection !== null
      ) {
        this.#deltaReplies.set(frame, taken === "taken");
        this.#answered(request, frame, this.#connection);
      }
      // Not taken (a missed or broken change): the whole list, asked for once at a time.
      if (taken === "refused" && this.#join !== null) this.#askFull();
    } else if (frame.op === "member-info") {
      const info = this.#hello?.feed(frame) ?? null;
      if (info === null || this.#closed) return true;
      this.#hello?.memberInfo(info);
      const reply = this.#heldReply;
      const request = this.#inflight;
      if (reply?.msid === info.msid && request?.frame.type === "J" && this.#connection !== null) {
        this.#answered(request, reply, this.#connection);
      }
      if (this.#heldPush?.msid === info.msid) this.#deliverPush();
    } else if (frame.op === "error" && frame.body.code === "taken-over") {
      logger.info("The registry says another connection of ours took our membership over");
    } else if (this.#options.ops !== undefined && !this.#closed) {
      this.#options.ops.onPush(frame);
    } else {
      logger.debug("Ignored an unsolicited {op} op from the registry", { op: frame.op });
    }
    return true;
  }

  /**
   * Asks for the whole member list again: a ringchat registry by
   * `members-full` (a delta did not apply), a plain one by a keepalive.
   */
  resync(): void {
    if (this.#join === null || this.#closed) return;
    if (this.speaksRingchat) this.#askFull();
    else this.#track(this.refresh());
  }

  /**
   * Asks a registry that sent a delta that did not apply for the whole list
   * (`members-full`: it answers with its `M` and member-info, taken as a
   * push), unless that is asked already.
   */
  #askFull(): void {
    if (this.#askingFull) return;
    logger.debug("A members-delta did not apply; asking for the whole list");
    this.#askingFull = true;
    const request = this.#internal({ type: "X", op: MEMBERS_FULL, body: {} });
    request.promise.finally(() => this.#askingFull = false).catch(() => {});
    this.#queue.push(request);
    this.#pump();
  }

  /** Delivers the pushed `M` held for its member-info, if any. */
  #deliverPush(): void {
    const frame = this.#heldPush;
    this.#heldPush = null;
    if (frame === null || this.#closed) return;
    if (this.#join !== null) this.#options.onMembers(frame);
    else this.#joinPush = frame;
  }

  /** The hello request of a new connection; its reply queues the proof before anything else. */
  #helloRequest(hello: HelloSession): Request {
    const request = this.#internal(hello.hello());
    request.onReply = (reply, connection) => {
      const said = hello.answer(reply);
      connection.said.resolve(said.ringchat);
      if (!said.ringchat) return;
      connection.ringchat = true;
      // A re-login goes before anything queued (a re-JOIN with a registered name needs it).
      for (const { frame, onReply } of (this.#options.ops?.onConnection?.() ?? []).reverse()) {
        const op = this.#internal(frame);
        op.onReply = (answer) => onReply(answer);
        this.#queue.unshift(op);
      }
      logger.debug("The registry speaks ringchat/2 ({features})", {
        features: said.features.join(", "),
      });
      if (said.prove === null) return;
      const prove = this.#internal({ type: "X", op: "prove", body: {} });
      prove.bytes = said.prove.then(encodeFrame);
      prove.onReply = (answer) => hello.proved(answer);
      this.#queue.unshift(prove);
    };
    return request;
  }

  /** A request of the client itself: nobody awaits it, a failure is only logged. */
  #internal(frame: ExtensionFrame): Request {
    const { promise, resolve, reject } = Promise.withResolvers<Frame>();
    promise.catch((error) => logger.debug("{op} failed: {error}", { op: frame.op, error }));
    return { frame, resolve, reject, promise };
  }

  async #read(connection: Connection): Promise<void> {
    const reader = new FrameReader({
      maxFrameBytes: this.#options.maxFrameBytes ?? REGISTRY_REPLY_MAX_FRAME_BYTES,
    });
    const buf = new Uint8Array(READ_BUFFER_BYTES);
    let why = "The registry closed the connection";
    try {
      for (;;) {
        const n = await connection.conn.read(buf);
        if (n === null) break;
        for (const raw of reader.feed(buf.subarray(0, n))) {
          let frame: Frame;
          try {
            frame = raw.decode();
          } catch (error) {
            // A malformed reply still answers the request in flight.
            const request = this.#inflight;
            this.#inflight = null;
            this.#heldReply = null;
            clearTimeout(this.#requestTimer);
            request?.reject(
              new Error(`The registry sent a malformed reply: ${(error as Error).message}`),
            );
            this.#pump();
            continue;
          }
          this.#reply(frame, connection);
        }
        // Garbage after good frames: the reader kept the error for us.
        if (reader.failure !== null) throw reader.failure;
      }
    } catch (error) {
      why = `Registry connection failed: ${error instanceof Error ? error.message : error}`;
    }
    this.#disconnect(connection, why);
  }

  /** Drops `connection` (if current), failing its requests; starts reconnecting if joined. */
  #disconnect(connection: Connection, why: string): void {
    if (this.#connection !== connection) return;
    this.#connection = null;
    connection.said.resolve(false);
    try {
      connection.conn.close();
    } catch {
      // Already closed.
    }
    clearTimeout(this.#requestTimer);
    this.#heldReply = null;
    const error = new Error(why);
    this.#inflight?.reject(error);
    this.#inflight = null;
    for (const request of this.#queue.splice(0)) request.reject(error);
    if (this.#closed) return;
    logger.info("{why}", { why });
    // Several registries: start from the next one, at once (this one just failed).
    const failover = this.#addresses.size > 1;
    if (failover) this.#addresses.advance();
    if (this.#join !== null) {
      if (!this.#lost) {
        this.#lost = true;
        this.#options.onStatus("lost", why);
      }
      this.#scheduleReconnect(failover ? 0 : this.#options.reconnectMs);
    }
  }

  #drop(error: Error): void {
    const connection = this.#connection;
    this.#connection = null;
    if (connection !== null) {
      connection.said.resolve(false);
      try {
        connection.conn.close();
      } catch {
        // Already closed.
      }
    }
    clearTimeout(this.#requestTimer);
    this.#heldReply = null;
    this.#inflight?.reject(error);
    this.#inflight = null;
    for (const request of this.#queue.splice(0)) request.reject(error);
  }

  #scheduleKeepalive(): void {
    clearTimeout(this.#keepaliveTimer);
    if (this.#closed) return;
    this.#keepaliveTimer = setTimeout(() => {
      if (this.#closed) return;
      if (this.#connection !== null) this.#track(this.refresh());
      this.#scheduleKeepalive();
    }, this.#options.keepaliveMs);
  }

  #scheduleReconnect(delayMs = this.#options.reconnectMs): void {
    clearTimeout(this.#reconnectTimer);
    if (this.#closed) return;
    this.#reconnectTimer = setTimeout(() => {
      this.#track(this.#reconnect());
    }, delayMs);
  }

  async #reconnect(): Promise<void> {
    if (this.#closed || this.#join === null) return;
    try {
      await this.#connect();
    } catch (error) {
      logger.debug("Reconnect failed: {error}", { error });
      this.#scheduleReconnect();
      return;
    }
    if (await this.refresh()) {
      if (!this.#lost) return;
      this.#lost = false;
      this.#options.onStatus("restored", `Re-registered with the registry at ${this.address}`);
    } else {
      // Still lost until a JOIN is answered with M.
      this.#scheduleReconnect();
    }
  }
}
