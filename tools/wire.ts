/**
 * A raw P2PChat connection for tools and tests: bytes out, whole frames in
 * (through the frame reader), every read with a deadline. A read that times
 * out closes the connection, so nothing is left pending. The chaos tool and
 * the tests' raw client are built on it.
 *
 * @example
 * ```ts
 * import { startRegistry } from "../registry/registry.ts";
 * import { Wire } from "./wire.ts";
 * await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
 * await using wire = await Wire.connect("127.0.0.1", registry.port, { timeoutMs: 2000 });
 * await wire.request("L::\r\n"); // "G::\r\n"
 * ```
 *
 * @module
 */

import { isDisconnect } from "../lib/errors.ts";
import { FrameReader } from "../lib/frame_reader.ts";
import { REGISTRY_REPLY_MAX_FRAME_BYTES } from "../lib/limits.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A wire that timed out or was closed where an answer was expected. */
export class WireError extends Error {
  override name = "WireError";
}

/** Options of {@linkcode Wire.connect}. */
export interface WireOptions {
  /** Default deadline of a connect and of every wait for frames. */
  timeoutMs: number;
  /**
   * Ignore bytes the frame reader refuses (a target's own garbage) instead
   * of throwing its `ProtocolError`. Default false.
   */
  lenient?: boolean;
}

/** A TCP connection that reads whole frames with a deadline on every read. */
export class Wire implements AsyncDisposable {
  readonly #conn: Deno.TcpConn;
  readonly #timeoutMs: number;
  readonly #lenient: boolean;
  readonly #reader = new FrameReader({ maxFrameBytes: REGISTRY_REPLY_MAX_FRAME_BYTES });
  readonly #frames: Uint8Array[] = [];
  #buf: Uint8Array | null = null;
  #eof = false;
  #closed = false;
  #garbled = false;

  private constructor(conn: Deno.TcpConn, options: WireOptions) {
    this.#conn = conn;
    this.#timeoutMs = options.timeoutMs;
    this.#lenient = options.lenient ?? false;
  }

  /** Connects, with Nagle off and a deadline. */
  static async connect(hostname: string, port: number, options: WireOptions): Promise<Wire> {
    const signal = AbortSignal.timeout(options.timeoutMs);
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname, port, signal });
    } catch (error) {
      if (signal.aborted) throw new WireError(`connect timed out after ${options.timeoutMs} ms`);
      throw error;
    }
    conn.setNoDelay(true);
    return new Wire(conn, options);
  }

  /** True once the other side closed (end of stream or reset). */
  get eof(): boolean {
    return this.#eof;
  }

  /** The local port of this connection. */
  get localPort(): number {
    return this.#conn.localAddr.port;
  }

  /** Writes all of `data` (a string as UTF-8); false when the other side had closed. */
  async write(data: string | Uint8Array): Promise<boolean> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    let written = 0;
    try {
      while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
    } catch (error) {
      if (isDisconnect(error)) return false;
      throw error;
    }
    return true;
  }

  /** Writes `request` and returns the next frame as text. */
  async request(request: string | Uint8Array, timeoutMs = this.#timeoutMs): Promise<string> {
    if (!(await this.write(request))) {
      throw new WireError("the connection was closed before the request");
    }
    return await this.frame(timeoutMs);
  }

  /** The next whole frame as raw bytes; throws on a timeout or a close. */
  async frameBytes(timeoutMs = this.#timeoutMs): Promise<Uint8Array> {
    const frame = await this.#nextBytes(timeoutMs);
    if (frame === null) throw new WireError("the connection was closed instead of answered");
    return frame;
  }

  /** The next whole frame as text; throws on a timeout or a close. */
  async frame(timeoutMs = this.#timeoutMs): Promise<string> {
    return decoder.decode(await this.frameBytes(timeoutMs));
  }

  /** The next whole frame as text, or null when the other side closed first. */
  async next(timeoutMs = this.#timeoutMs): Promise<string | null> {
    const frame = await this.#nextBytes(timeoutMs);
    return frame === null ? null : decoder.decode(frame);
  }

  /**
   * Waits until the other side closes, returning the frames that came first;
   * throws if it has not closed within `timeoutMs`.
   */
  async closedByPeer(timeoutMs = this.#timeoutMs): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#eof) {
      if (!(await this.#readMore(deadline))) {
        throw new WireError(`still open after ${timeoutMs} ms`);
      }
    }
    return this.#frames.splice(0).map((f) => decoder.decode(f));
  }

  /**
   * Reads whatever arrives for `ms` (or until the close); returns the frames,
   * and whether the other side closed. The connection is closed afterwards.
   */
  async drain(ms: number): Promise<{ frames: string[]; closed: boolean }> {
    const deadline = Date.now() + ms;
    while (!this.#eof && (await this.#readMore(deadline)));
    this.close();
    return { frames: this.#frames.splice(0).map((f) => decoder.decode(f)), closed: this.#eof };
  }

  /** Closes the connection; safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  async #nextBytes(timeoutMs: number): Promise<Uint8Array | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.#frames.length === 0) {
      if (this.#eof) return null;
      if (!(await this.#readMore(deadline))) {
        throw new WireError(`no answer within ${timeoutMs} ms`);
      }
    }
    return this.#frames.shift()!;
  }

  /** One read; false on a timeout, which closes the connection (a pending read cannot be cancelled otherwise). */
  async #readMore(deadline: number): Promise<boolean> {
    if (this.#closed) throw new WireError("the connection was closed");
    this.#buf ??= new Uint8Array(64 * 1024);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
    });
    const read = this.#conn.read(this.#buf);
    let n: number | null | "timeout";
    try {
      n = await Promise.race([read, timeout]);
    } catch (error) {
      if (!isDisconnect(error)) throw error;
      this.#eof = true;
      return true;
    } finally {
      clearTimeout(timer);
    }
    if (n === "timeout") {
      this.close();
      await read.catch(() => null);
      return false;
    }
    if (n === null) {
      this.#eof = true;
      return true;
    }
    if (this.#garbled) return true;
    try {
      this.#frames.push(...this.#reader.push(this.#buf.subarray(0, n)));
    } catch (error) {
      if (!this.#lenient) throw error;
      this.#garbled = true;
    }
    return true;
  }
}
