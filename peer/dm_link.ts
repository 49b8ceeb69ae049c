/**
 * One direct-message connection between two peers (`docs/extensions.md`,
 * "Direct messages between peers"): a TCP connection that the asking side
 * opens to the address the registry gave it after consent, presenting the
 * consent's token as its first frame (`dm-hello`), answered `dm-welcome`.
 * After that either side writes `dm` ops and the other answers each with
 * `dm-ack`. Nothing here knows about consent: {@linkcode DmLink} frames,
 * bounds and carries; `peer/dm.ts` decides what a frame means.
 *
 * Bounds: frames of at most `maxFrameBytes` (a longer one closes the link),
 * `ratePerSecond` ops per link with a burst of `burst` (an op over the rate
 * closes the link), every frame an `X` op (anything else closes it).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { FrameReader, type RawFrame } from "../lib/frame_reader.ts";
import { encodeFrame, type ExtensionFrame, type Frame } from "../lib/frames.ts";
import { TokenBucket } from "../lib/token_bucket.ts";

const logger = getLogger(["ringchat", "peer", "dm_link"]);

const READ_BUFFER_BYTES = 16 * 1024;

/** The first frame of a DM connection (asking side → accepting side). */
export const DM_HELLO_OP = "dm-hello";
/** The accepting side's answer to a good `dm-hello`. */
export const DM_WELCOME_OP = "dm-welcome";
/** A direct message. */
export const DM_OP = "dm";
/** The receipt of a direct message. */
export const DM_ACK_OP = "dm-ack";

/** The bounds of one DM link. */
export interface DmLinkLimits {
  /** Largest frame read, terminator included. */
  maxFrameBytes: number;
  /** Ops per second a link may send, on average. */
  ratePerSecond: number;
  /** Ops a link may send at once. */
  burst: number;
}

/** What a link tells its owner. */
export interface DmLinkHandlers {
  /** An `X` op from the other side, within the bounds. */
  onOp(link: DmLink, frame: ExtensionFrame): void;
  /** The link closed (either side, or a bound was passed), once. */
  onClose(link: DmLink, why: string): void;
}

/** A DM connection with `name`; see the module doc. */
export class DmLink {
  /** The user at the other end. */
  readonly name: string;
  /** The consent's token this link was opened with. */
  readonly token: string;
  readonly #conn: Deno.TcpConn;
  readonly #reader: FrameReader;
  readonly #handlers: DmLinkHandlers;
  readonly #bucket: TokenBucket;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #done: Promise<void>;

  /**
   * Carries `conn` (after its hello) for `name`; `pending` are frames the
   * hello's read already took, handled first.
   */
  constructor(
    conn: Deno.TcpConn,
    name: string,
    token: string,
    handlers: DmLinkHandlers,
    limits: DmLinkLimits,
    reader?: FrameReader,
    pending: RawFrame[] = [],
  ) {
    this.#conn = conn;
    this.name = name;
    this.token = token;
    this.#handlers = handlers;
    this.#reader = reader ?? new FrameReader({ maxFrameBytes: limits.maxFrameBytes });
    this.#bucket = new TokenBucket({ ratePerSecond: limits.ratePerSecond, burst: limits.burst });
    conn.setNoDelay(true);
    // Reading starts on the next turn: what the owner writes at once (a `dm-welcome`) goes first.
    this.#done = Promise.resolve().then(() => this.#read(pending));
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves when the link has closed and its reading stopped. */
  get done(): Promise<void> {
    return this.#done;
  }

  /** Writes `frame` (its own write, after those before it); rejects when the link is closed. */
  send(frame: ExtensionFrame): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("The direct connection is closed"));
    const bytes = encodeFrame(frame);
    const write = this.#writing.then(async () => {
      let off = 0;
      while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
    });
    this.#writing = write.catch(() => {});
    return write.catch((error) => {
      this.close(`Write failed: ${error instanceof Error ? error.message : error}`);
      throw error;
    });
  }

  /** Closes the connection (once); `onClose` says why. */
  close(why = "Closed"): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    this.#handlers.onClose(this, why);
  }

  async #read(pending: RawFrame[]): Promise<void> {
    const buf = new Uint8Array(READ_BUFFER_BYTES);
    let why = "The other side closed the direct connection";
    try {
      if (!this.#take(pending)) return;
      while (!this.#closed) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        if (!this.#take(this.#reader.feed(buf.subarray(0, n)))) return;
        if (this.#reader.failure !== null) throw this.#reader.failure;
      }
    } catch (error) {
      why = `Direct connection failed: ${error instanceof Error ? error.message : error}`;
    }
    this.close(why);
  }

  /** Hands the frames on; false (and closed) when one breaks a bound. */
  #take(frames: RawFrame[]): boolean {
    for (const raw of frames) {
      if (this.#closed) return false;
      let frame: Frame;
      try {
        frame = raw.decode();
      } catch (error) {
        this.close(`Malformed frame: ${error instanceof Error ? error.message : error}`);
        return false;
      }
      if (frame.type !== "X") {
        this.close(`Sent a ${frame.type} frame on a direct connection`);
        return false;
      }
      const now = performance.now();
      if (this.#bucket.tokens(now) < 1) {
        logger.info("{name} sent ops faster than allowed on a direct connection", {
          name: this.name,
        });
        this.close("Too many ops on the direct connection");
        return false;
      }
      this.#bucket.take(1, now);
      this.#handlers.onOp(this, frame);
    }
    return true;
  }
}
