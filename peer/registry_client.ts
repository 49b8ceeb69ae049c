/**
 * A peer's TCP connection to the registry (PROTOCOL.md §5, §6): one request at
 * a time (the reference server reads one request per `recv()`), each frame in
 * its own write, replies read through a {@linkcode FrameReader} bounded by
 * `maxFrameBytes` (default `REGISTRY_REPLY_MAX_FRAME_BYTES`).
 *
 * After a successful JOIN it keeps the membership: a keepalive JOIN every
 * `keepaliveMs`, and when the connection drops, a reconnect every
 * `reconnectMs` that re-registers with the same JOIN. Chat goes on over the
 * peer's links meanwhile.
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

const logger = getLogger(["ringchat", "peer", "registry_client"]);

const READ_BUFFER_BYTES = 64 * 1024;

/** Options of a {@linkcode RegistryClient}. */
export interface RegistryClientOptions {
  hostname: string;
  port: number;
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
  /** An `X` frame from the registry (PROTOCOL.md §9), such as a `member-info`. */
  onExtension?(frame: ExtensionFrame): void;
  /** The registry answered a keepalive, refresh or re-registration with `F`. */
  onFailure(message: string): void;
  /** The connection dropped while joined ("lost"), or came back and re-registered ("restored"). */
  onStatus(status: "lost" | "restored", detail: string): void;
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
}

interface Connection {
  conn: Deno.TcpConn;
  reading: Promise<void>;
}

/** The registry connection; see the module doc. */
export class RegistryClient {
  readonly #options: RegistryClientOptions;
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
  readonly #tasks = new Set<Promise<unknown>>();

  /** Creates a client; it connects on the first request. */
  constructor(options: RegistryClientOptions) {
    this.#options = options;
  }

  /** True while connected. */
  get connected(): boolean {
    return this.#connection !== null;
  }

  /** The local address of the last connection (what a peer advertises by default). */
  get localAddress(): string | null {
    return this.#localAddress;
  }

  /** Where the registry is, as `host:port`. */
  get address(): string {
    return `${this.#options.hostname}:${this.#options.port}`;
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
    const reply = await this.#request(frame);
    if (reply.type !== "M") throw this.#unexpected(reply);
    this.#join = frame;
    this.#scheduleKeepalive();
    return reply;
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
    if (reply.type !== "M" || this.#closed) return "failed";
    this.#options.onMembers(reply);
    return "members";
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

  async #open(): Promise<Connection> {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({
        hostname: this.#options.hostname,
        port: this.#options.port,
        signal: this.#abort.signal,
      });
    } catch (error) {
      throw new RegistryUnreachable(
        this.address,
        error instanceof Error ? error.message : String(error),
      );
    }
    if (this.#closed) {
      conn.close();
      throw new Error("Registry connection closed");
    }
    conn.setNoDelay(true);
    this.#localAddress = (conn.localAddr as Deno.NetAddr).hostname;
    const connection: Connection = { conn, reading: Promise.resolve() };
    connection.reading = this.#track(this.#read(connection));
    this.#connection = connection;
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
      this.#disconnect(connection, "The registry did not answer in time");
    }, this.#options.requestTimeoutMs);
    const bytes = encodeFrame(request.frame);
    this.#track(this.#writeAll(connection.conn, bytes)).catch((error) =>
      this.#disconnect(connection, `Write failed: ${error?.message ?? error}`)
    );
  }

  async #writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
  }

  #reply(frame: Frame): void {
    const request = this.#inflight;
    if (request === null) {
      logger.debug("Ignored an unsolicited {type} frame from the registry", { type: frame.type });
      return;
    }
    this.#inflight = null;
    clearTimeout(this.#requestTimer);
    if (frame.type === "F") request.reject(new RegistryFailure(frame.message));
    else request.resolve(frame);
    this.#pump();
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
            clearTimeout(this.#requestTimer);
            request?.reject(
              new Error(`The registry sent a malformed reply: ${(error as Error).message}`),
            );
            this.#pump();
            continue;
          }
          // Our registry's extension frames (member-info after each M) are not replies.
          if (frame.type === "X") this.#options.onExtension?.(frame);
          else this.#reply(frame);
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
    try {
      connection.conn.close();
    } catch {
      // Already closed.
    }
    clearTimeout(this.#requestTimer);
    const error = new Error(why);
    this.#inflight?.reject(error);
    this.#inflight = null;
    for (const request of this.#queue.splice(0)) request.reject(error);
    if (this.#closed) return;
    logger.info("{why}", { why });
    if (this.#join !== null) {
      if (!this.#lost) {
        this.#lost = true;
        this.#options.onStatus("lost", why);
      }
      this.#scheduleReconnect();
    }
  }

  #drop(error: Error): void {
    const connection = this.#connection;
    this.#connection = null;
    if (connection !== null) {
      try {
        connection.conn.close();
      } catch {
        // Already closed.
      }
    }
    clearTimeout(this.#requestTimer);
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

  #scheduleReconnect(): void {
    clearTimeout(this.#reconnectTimer);
    if (this.#closed) return;
    this.#reconnectTimer = setTimeout(() => {
      this.#track(this.#reconnect());
    }, this.#options.reconnectMs);
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
