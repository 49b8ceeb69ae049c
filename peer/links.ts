/**
 * Peer-to-peer TCP links (PROTOCOL.md §6): the `P` → `S` handshake from both
 * sides, and {@linkcode Link}, an established forward or backward link that
 * reads `T` frames through a {@linkcode FrameReader} bounded by
 * {@linkcode linkMaxFrameBytes} and writes each frame with its own write, in
 * order.
 *
 * What a link does with a misbehaving other side:
 * - bytes that are not a frame, or a frame over the bound: the link is closed
 *   and the reason reported (`onClose` with `error`);
 * - a frame that starts and does not complete within `frameTimeoutMs` (a
 *   sender stalled mid-frame, or one whose `msgLength` promises more than it
 *   sends): the same;
 * - a well-framed `T` whose text is over `maxTextBytes`: that frame is
 *   dropped and reported (`onRejected`) before it is decoded, the link stays;
 * - an `X` frame after the handshake: handed to `onExtension` (ignored
 *   without one); frames of other types: ignored.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { ProtocolError } from "../lib/errors.ts";
import { FrameReader, type RawFrame } from "../lib/frame_reader.ts";
import {
  encodeFrame,
  type ExtensionFrame,
  type Frame,
  type HandshakeFrame,
  type Member,
  type TextFrame,
} from "../lib/frames.ts";
import { LINK_MAX_FRAME_BYTES, MAX_TEXT_BYTES } from "../lib/limits.ts";
import type { RingMember } from "../lib/ring.ts";
import { isAuthOp, type LinkAuth } from "./link_auth.ts";

const logger = getLogger(["ringchat", "peer", "links"]);

const READ_BUFFER_BYTES = 16 * 1024;

/** Bytes a link may have queued for writing before it is dropped as too slow (default). */
export const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

/** How long a frame may take from its first byte to its last by default, in ms. */
export const FRAME_TIMEOUT_MS = 10_000;

/**
 * The largest frame a link reads when texts may be `maxTextBytes` long: the
 * text plus 1 KiB for the header (room, originHID, name, msgID, length) and
 * terminator, so `LINK_MAX_FRAME_BYTES` for the default 64 KiB.
 */
export function linkMaxFrameBytes(maxTextBytes: number): number {
  return maxTextBytes + (LINK_MAX_FRAME_BYTES - MAX_TEXT_BYTES);
}

/** The limits of a {@linkcode Link}; each has a default. */
export interface LinkOptions {
  /** How long a link that is ending may take to finish, in ms (default 2000). */
  graceMs?: number;
  /** How long a frame may take from its first byte to its last, in ms (default 10 s). */
  frameTimeoutMs?: number;
  /** Longest text accepted, in UTF-8 bytes (default `MAX_TEXT_BYTES`). */
  maxTextBytes?: number;
  /** Bytes queued for writing before the link is dropped as too slow (default 16 MiB). */
  maxQueuedBytes?: number;
}

/** Which side opened the link. */
export type LinkDirection = "forward" | "backward";

/** What a link reports to its owner. */
export interface LinkHandlers {
  /**
   * A decoded `T` frame, its bytes as received, and its content bytes (a view
   * of `raw`, no copy: hash them, do not change them).
   */
  onText(link: Link, frame: TextFrame, raw: Uint8Array, content: Uint8Array): void;
  /** The link closed; `error` is true when it was dropped for misbehaving or failing. */
  onClose(link: Link, reason: string, error: boolean): void;
  /** A frame was dropped for breaking a limit, and why; the link stays. */
  onRejected?(link: Link, reason: string): void;
  /** A well-formed `X` frame (PROTOCOL.md §9) arrived. */
  onExtension?(link: Link, frame: ExtensionFrame): void;
}

/** A connection whose handshake is done, with what was read past the handshake. */
export interface Handshaken {
  conn: Deno.TcpConn;
  reader: FrameReader;
  /** Whole frames read after the handshake frame. */
  frames: RawFrame[];
  /** The link's authentication (link_auth.ts), when the handshake ran one. */
  auth?: LinkAuth;
}

/** The forward side's handshake result. */
export interface Dialed extends Handshaken {
  /** The msgID of the accepting peer's `S`. */
  msgId: bigint | null;
}

/** The backward side's first frame. */
export interface Greeted extends Handshaken {
  hello: HandshakeFrame;
}

/** A connection that opened with an `X` frame instead of a `P` (PROTOCOL.md §9, a probe). */
export interface Probed extends Handshaken {
  probe: ExtensionFrame;
}

/** The other side closed the connection before a whole first frame arrived. */
export class PeerClosed extends Error {
  constructor() {
    super("Closed without reply");
    this.name = "PeerClosed";
  }
}

/** Writes all of `bytes` (one frame) before resolving. */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/**
 * Reads until one whole frame arrives, or fails when the peer closes, sends
 * garbage, or `signal` aborts (which closes `conn`).
 */
async function readFirstFrame(
  conn: Deno.TcpConn,
  reader: FrameReader,
  signal: AbortSignal,
): Promise<{ first: RawFrame; rest: RawFrame[] }> {
  const onAbort = () => closeQuietly(conn);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    const buf = new Uint8Array(READ_BUFFER_BYTES);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch (error) {
        if (signal.aborted) throw new Error("Handshake timed out");
        throw error;
      }
      if (n === null) {
        if (signal.aborted) throw new Error("Handshake timed out");
        throw new PeerClosed();
      }
      const frames = reader.feed(buf.subarray(0, n));
      if (frames.length > 0) return { first: frames[0]!, rest: frames.slice(1) };
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

function timeoutSignal(timeoutMs: number, outer?: AbortSignal): {
  signal: AbortSignal;
  dispose: () => void;
} {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("Timed out")), timeoutMs);
  const onOuter = () => controller.abort(outer?.reason);
  if (outer?.aborted) controller.abort(outer.reason);
  else outer?.addEventListener("abort", onOuter, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onOuter);
    },
  };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A connection to `member` (no delay), or an Error saying why there is none. */
async function connectTo(member: Member, signal: AbortSignal): Promise<Deno.TcpConn> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: member.ip, port: member.port, signal });
  } catch (error) {
    throw new Error(signal.aborted ? "Connect timed out" : message(error));
  }
  conn.setNoDelay(true);
  return conn;
}

/**
 * Connects to `member`, sends `hello` and waits for `S`. Closes the
 * connection and throws an Error saying why when any of that fails.
 */
export async function dial(
  member: Member,
  hello: HandshakeFrame,
  timeoutMs: number,
  outer?: AbortSignal,
  maxFrameBytes: number = LINK_MAX_FRAME_BYTES,
  auth?: LinkAuth,
): Promise<Dialed> {
  const { opened, answer } = await openWith(
    member,
    encodeFrame(hello),
    timeoutMs,
    outer,
    maxFrameBytes,
    auth,
  );
  if (answer.type === "S") return { ...opened, msgId: answer.msgId };
  closeQuietly(opened.conn);
  throw new Error(`Answered the handshake with a ${answer.type} frame`);
}

/**
 * A probe (PROTOCOL.md §9): connects to `member`, sends `request` (an `X`
 * frame, so a seed peer closes at once) as the first frame, and returns the
 * first frame of the answer, closing the connection either way. Throws an
 * Error saying why when there is none in time.
 */
export async function probe(
  member: Member,
  request: ExtensionFrame,
  timeoutMs: number,
  outer?: AbortSignal,
  maxFrameBytes: number = LINK_MAX_FRAME_BYTES,
): Promise<Frame> {
  const { signal, dispose } = timeoutSignal(timeoutMs, outer);
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await connectTo(member, signal);
    await writeAll(conn, encodeFrame(request));
    const { first } = await readFirstFrame(conn, new FrameReader({ maxFrameBytes }), signal);
    return first.decode();
  } finally {
    if (conn !== undefined) closeQuietly(conn);
    dispose();
  }
}

/**
 * Opens a connection to `member` that starts with `first` (a `P`, or an `X`
 * frame such as a finger hello, docs/overlay.md) and waits for the first
 * frame of the answer; unlike {@linkcode probe} it keeps the connection, to
 * be made a {@linkcode Link}. With `auth` (link_auth.ts), this is the
 * linking side's half of link authentication: my challenge right after
 * `first` when the other side must prove a key, its challenge answered and
 * its proof checked as they come before the answer (which is the first
 * frame that is neither). Closes the connection and throws an Error saying
 * why when its proof is wrong or there is no answer in time.
 */
export async function openWith(
  member: Member,
  first: Uint8Array,
  timeoutMs: number,
  outer?: AbortSignal,
  maxFrameBytes: number = LINK_MAX_FRAME_BYTES,
  auth?: LinkAuth,
): Promise<{ opened: Handshaken; answer: Frame }> {
  const { signal, dispose } = timeoutSignal(timeoutMs, outer);
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await connectTo(member, signal);
    await writeAll(conn, first);
    // To a member with a registered key: my challenge, right after the first frame.
    if (auth?.required) await writeAll(conn, auth.challenge());
    if (auth !== undefined) {
      const open = conn;
      auth.sink = (bytes) => void writeAll(open, bytes).catch(() => {});
    }
    const reader = new FrameReader({ maxFrameBytes });
    let pending: RawFrame[] = [];
    for (;;) {
      let next = pending.shift();
      if (next === undefined) {
        ({ first: next, rest: pending } = await readFirstFrame(conn, reader, signal));
      }
      const frame = next.decode();
      if (frame.type === "X" && auth !== undefined && isAuthOp(frame.op)) {
        // The accepting side's challenge (answered) or proof (checked) before its answer.
        const outcome = await auth.handle(frame);
        if (outcome.kind === "failed") throw new Error(`Refused its key: ${outcome.why}`);
        if (outcome.kind === "none" && outcome.reply !== undefined) {
          await writeAll(conn, outcome.reply);
        }
        continue;
      }
      return { opened: { conn, reader, frames: pending, auth }, answer: frame };
    }
  } catch (error) {
    if (conn !== undefined) closeQuietly(conn);
    throw error instanceof Error ? error : new Error(String(error));
  } finally {
    if (auth !== undefined) auth.sink = null;
    dispose();
  }
}

/** Writes `frame` on a probe's connection and closes it (failures are quiet). */
export async function answerProbe(conn: Deno.TcpConn, frame: ExtensionFrame): Promise<void> {
  try {
    await writeAll(conn, encodeFrame(frame));
  } catch {
    // It left: nothing to answer.
  } finally {
    closeQuietly(conn);
  }
}

/**
 * Reads the `P` an accepted connection must start with. Closes the connection
 * and throws an Error saying why when it does not arrive in time or is not a `P`.
 */
export async function greet(
  conn: Deno.TcpConn,
  timeoutMs: number,
  outer?: AbortSignal,
  maxFrameBytes?: number,
): Promise<Greeted>;
/** With `probes`: a first `X` frame is returned as a {@linkcode Probed} (not closed). */
export async function greet(
  conn: Deno.TcpConn,
  timeoutMs: number,
  outer: AbortSignal | undefined,
  maxFrameBytes: number,
  probes: true,
): Promise<Greeted | Probed>;
export async function greet(
  conn: Deno.TcpConn,
  timeoutMs: number,
  outer?: AbortSignal,
  maxFrameBytes: number = LINK_MAX_FRAME_BYTES,
  probes = false,
): Promise<Greeted | Probed> {
  const { signal, dispose } = timeoutSignal(timeoutMs, outer);
  try {
    conn.setNoDelay(true);
    const reader = new FrameReader({ maxFrameBytes });
    const { first, rest } = await readFirstFrame(conn, reader, signal);
    const frame = first.decode();
    if (frame.type === "X" && probes) return { conn, reader, frames: rest, probe: frame };
    if (frame.type !== "P") throw new Error(`Sent a ${frame.type} frame instead of a handshake`);
    return { conn, reader, frames: rest, hello: frame };
  } catch (error) {
    closeQuietly(conn);
    throw error instanceof Error ? error : new Error(String(error));
  } finally {
    dispose();
  }
}

/**
 * The accepting side's half of link authentication (link_auth.ts), before
 * its `S`: sends my challenge, answers the other side's, and reads until
 * its proof verifies. Closes the connection and throws an Error saying why
 * when the proof is wrong, another frame comes first, or none arrives within
 * `timeoutMs`.
 */
export async function authenticate(
  handshaken: Handshaken,
  auth: LinkAuth,
  timeoutMs: number,
  outer?: AbortSignal,
): Promise<void> {
  const { conn, reader } = handshaken;
  const { signal, dispose } = timeoutSignal(timeoutMs, outer);
  auth.sink = (bytes) => void writeAll(conn, bytes).catch(() => {});
  try {
    await writeAll(conn, auth.challenge());
    const pending = handshaken.frames;
    for (;;) {
      let first = pending.shift();
      if (first === undefined) {
        const read = await readFirstFrame(conn, reader, signal);
        first = read.first;
        pending.push(...read.rest);
      }
      const frame = first.decode();
      if (frame.type !== "X") {
        throw new Error(`Sent a ${frame.type} frame instead of its key proof`);
      }
      const outcome = await auth.handle(frame);
      if (outcome.kind === "failed") throw new Error(`Refused its key: ${outcome.why}`);
      if (outcome.kind === "proved") return;
      if (outcome.reply !== undefined) await writeAll(conn, outcome.reply);
    }
  } catch (error) {
    closeQuietly(conn);
    const why = error instanceof PeerClosed ? "Closed before proving its key" : message(error);
    throw new Error(signal.aborted ? "It did not prove its key in time" : why);
  } finally {
    auth.sink = null;
    dispose();
  }
}

/**
 * An established link; see the module doc.
 *
 * A link is *open* (frames can be queued) until {@linkcode Link.close},
 * {@linkcode Link.end}, the other side's EOF, or a failure; `onClose` reports
 * that moment once. What was queued before is still written (unless the link
 * failed), and after {@linkcode Link.end} the frames the other side sent
 * before it saw our EOF are still read and reported, so retiring a link loses
 * nothing in flight.
 */
export class Link {
  /** Which side opened it. */
  readonly direction: LinkDirection;
  /** The member at the other end. */
  readonly peer: RingMember;
  /** Its authentication, when its handshake ran one (link_auth.ts). */
  readonly auth: LinkAuth | undefined;
  readonly #conn: Deno.TcpConn;
  readonly #reader: FrameReader;
  readonly #handlers: LinkHandlers;
  readonly #graceMs: number;
  readonly #frameTimeoutMs: number;
  readonly #maxTextBytes: number;
  readonly #maxQueuedBytes: number;
  readonly #queue: Uint8Array[] = [];
  #pending: RawFrame[];
  #queuedBytes = 0;
  #writer: Promise<void> | null = null;
  #reading: Promise<void> = Promise.resolve();
  #state: "open" | "ending" | "closed" = "open";
  /** Set when the connection is to be closed once the queue is written. */
  #closeAfterFlush = false;
  /** Set when our write side is to be shut once the queue is written. */
  #halfCloseAfterFlush = false;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  /** Runs while a frame is incomplete: since the read that brought its first bytes. */
  #frameTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #finished = Promise.withResolvers<void>();

  /** Wraps a handshaken connection; call {@linkcode Link.start} to read. */
  constructor(
    handshaken: Handshaken,
    direction: LinkDirection,
    peer: RingMember,
    handlers: LinkHandlers,
    options: LinkOptions = {},
  ) {
    this.#conn = handshaken.conn;
    this.#reader = handshaken.reader;
    this.#pending = handshaken.frames;
    this.auth = handshaken.auth;
    this.direction = direction;
    this.peer = peer;
    this.#handlers = handlers;
    this.#graceMs = options.graceMs ?? 2000;
    this.#frameTimeoutMs = options.frameTimeoutMs ?? FRAME_TIMEOUT_MS;
    this.#maxTextBytes = options.maxTextBytes ?? MAX_TEXT_BYTES;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? MAX_QUEUED_BYTES;
  }

  /** False once the link takes no more frames. */
  get open(): boolean {
    return this.#state === "open";
  }

  /** Bytes queued for writing and not yet handed to the socket. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Starts reading; frames that arrived with the handshake are handled first. */
  start(): void {
    this.#reading = this.#read();
  }

  /** Resolves when the connection is closed and reading has stopped. */
  async done(): Promise<void> {
    await this.#finished.promise;
    await this.#reading;
    await this.#writer;
  }

  /**
   * Queues one frame; frames go out in order, each with its own write. Returns
   * false (and drops the link) when the peer does not keep up.
   */
  send(bytes: Uint8Array): boolean {
    if (this.#state !== "open") return false;
    if (this.#queuedBytes + bytes.length > this.#maxQueuedBytes) {
      this.close(`Dropped: more than ${this.#maxQueuedBytes} bytes waiting to be sent`, true);
      return false;
    }
    this.#queue.push(bytes);
    this.#queuedBytes += bytes.length;
    this.#writer ??= this.#write();
    return true;
  }

  /**
   * Retires the link gracefully: writes what is queued, shuts our write side,
   * and keeps reading until the other side closes (at most `graceMs`).
   */
  end(reason = "Ended"): void {
    if (this.#state !== "open") return;
    this.#leave(reason, false);
    this.#halfCloseAfterFlush = true;
    this.#armGrace();
    this.#afterFlush();
  }

  /**
   * Closes the link. With `flush` (the default for a clean close) what is
   * queued is written first, within `graceMs`; a failure closes at once.
   */
  close(reason = "Closed", error = false, flush = !error): void {
    if (this.#isClosed()) return;
    if (this.#state === "open") this.#leave(reason, error);
    if (flush && this.#queue.length + (this.#writer === null ? 0 : 1) > 0) {
      this.#closeAfterFlush = true;
      this.#armGrace();
      this.#afterFlush();
    } else {
      this.#shut();
    }
  }

  #isClosed(): boolean {
    return this.#state === "closed";
  }

  #leave(reason: string, error: boolean): void {
    this.#state = "ending";
    this.#handlers.onClose(this, reason, error);
  }

  #armGrace(): void {
    if (this.#graceTimer !== undefined) return;
    this.#graceTimer = setTimeout(() => this.#shut(), this.#graceMs);
  }

  /** Applies a pending half-close or close once nothing is left to write. */
  #afterFlush(): void {
    if (this.#isClosed() || this.#writer !== null || this.#queue.length > 0) return;
    if (this.#closeAfterFlush) {
      this.#shut();
    } else if (this.#halfCloseAfterFlush) {
      this.#halfCloseAfterFlush = false;
      this.#conn.closeWrite().catch(() => this.#shut());
    }
  }

  /** Closes the connection for good. */
  #shut(): void {
    if (this.#isClosed()) return;
    if (this.#state === "open") this.#leave("Closed", false);
    this.#state = "closed";
    clearTimeout(this.#graceTimer);
    clearTimeout(this.#frameTimer);
    closeQuietly(this.#conn);
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.#finished.resolve();
  }

  async #write(): Promise<void> {
    try {
      while (!this.#isClosed()) {
        const bytes = this.#queue.shift();
        if (bytes === undefined) break;
        this.#queuedBytes -= bytes.length;
        await writeAll(this.#conn, bytes);
      }
    } catch (error) {
      if (!this.#isClosed()) this.close(`Write failed: ${message(error)}`, true);
    } finally {
      this.#writer = null;
    }
    if (this.#isClosed()) return;
    // A frame queued while the last write finished.
    if (this.#queue.length > 0) this.#writer ??= this.#write();
    else this.#afterFlush();
  }

  async #read(): Promise<void> {
    try {
      const pending = this.#pending;
      this.#pending = [];
      for (const raw of pending) {
        if (this.#isClosed()) return;
        this.#handle(raw);
      }
      // Garbage right after good frames: the reader returned those and kept the error.
      if (this.#reader.failure !== null) throw this.#reader.failure;
      this.#watchFrame(pending.length > 0);
      const buf = new Uint8Array(READ_BUFFER_BYTES);
      while (!this.#isClosed()) {
        let n: number | null;
        try {
          n = await this.#conn.read(buf);
        } catch (error) {
          // The other side vanished (reset): nothing queued can be written.
          if (!this.#isClosed()) {
            this.close(`Connection failed: ${message(error)}`, false, false);
          }
          return;
        }
        if (n === null) {
          // The other side is done: write what is queued, then close.
          this.close("Closed by the other side");
          return;
        }
        const frames = this.#reader.feed(buf.subarray(0, n));
        for (const raw of frames) {
          if (this.#isClosed()) return;
          this.#handle(raw);
        }
        if (this.#reader.failure !== null) throw this.#reader.failure;
        this.#watchFrame(frames.length > 0);
      }
    } catch (error) {
      const why = error instanceof ProtocolError ? error.message : `Failed: ${message(error)}`;
      this.close(`Dropped: ${why}`, true);
    }
  }

  /**
   * Times the frame the reader holds part of: from the read that brought its
   * first bytes (`completed`: this read also completed a frame, so what is
   * held is a new one) until the read that completes it.
   */
  #watchFrame(completed: boolean): void {
    if (this.#isClosed()) return;
    if (this.#reader.buffered === 0) {
      clearTimeout(this.#frameTimer);
      this.#frameTimer = undefined;
      return;
    }
    if (this.#frameTimer !== undefined && !completed) return;
    clearTimeout(this.#frameTimer);
    const held = this.#reader.buffered;
    this.#frameTimer = setTimeout(() => {
      this.#frameTimer = undefined;
      this.close(
        `Dropped: a frame did not complete within ${this.#frameTimeoutMs} ms ` +
          `(${this.#reader.buffered} bytes of it arrived, ${held} in its first read)`,
        true,
      );
    }, this.#frameTimeoutMs);
  }

  /** Handles one frame; a malformed one throws its ProtocolError (the link is dropped). */
  #handle(raw: RawFrame): void {
    const header = raw.header;
    if (header?.type === "T") {
      // The reader parsed the header: check the size before decoding anything.
      if (header.contentLength > this.#maxTextBytes) {
        this.#handlers.onRejected?.(
          this,
          `a message of ${header.contentLength} bytes from ${JSON.stringify(header.fields[2])}, ` +
            `over the limit of ${this.#maxTextBytes}`,
        );
        return;
      }
      this.#handlers.onText(this, raw.decode() as TextFrame, raw.bytes, raw.contentBytes);
      return;
    }
    const frame = raw.decode();
    if (frame.type === "X" && this.#handlers.onExtension !== undefined) {
      return this.#handlers.onExtension(this, frame);
    }
    logger.debug("Ignored a {type} frame on the link with {name}", {
      type: frame.type,
      name: this.peer.name,
    });
  }
}
