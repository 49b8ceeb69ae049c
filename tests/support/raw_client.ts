/**
 * A tiny raw TCP client for tests: connect to `127.0.0.1:port`, write raw
 * bytes or strings, read the next whole frames (split with the library's
 * {@linkcode FrameReader}), and close. Every read has a deadline: a frame that
 * does not come fails the test instead of hanging it.
 *
 * @example
 * ```ts
 * import { RawClient } from "./raw_client.ts";
 * await using client = await RawClient.connect(port);
 * await client.write("L::\r\n");
 * const reply = await client.frame(); // "G::\r\n"
 * ```
 *
 * @module
 */

import { FrameReader } from "../../lib/frame_reader.ts";
import { REGISTRY_REPLY_MAX_FRAME_BYTES } from "../../lib/limits.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** How long a read waits by default before it fails the test. */
export const DEFAULT_TIMEOUT_MS = 5000;

/** A raw connection to a ringchat server, for tests. */
export class RawClient implements AsyncDisposable {
  readonly #conn: Deno.TcpConn;
  readonly #reader = new FrameReader({ maxFrameBytes: REGISTRY_REPLY_MAX_FRAME_BYTES });
  readonly #buf = new Uint8Array(64 * 1024);
  readonly #frames: Uint8Array[] = [];
  #eof = false;
  #closed = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** Connects to `hostname:port` (default 127.0.0.1), with Nagle off. */
  static async connect(port: number, hostname = "127.0.0.1"): Promise<RawClient> {
    const conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    return new RawClient(conn);
  }

  /** The local port of this connection. */
  get localPort(): number {
    return this.#conn.localAddr.port;
  }

  /** Writes all of `data` (a string is sent as UTF-8) with one or more writes. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    let written = 0;
    while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
  }

  /** The next whole frame as raw bytes, terminator included. */
  async frameBytes(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Uint8Array> {
    const deadline = Date.now() + timeoutMs;
    while (this.#frames.length === 0) {
      if (this.#eof) throw new Error("Connection closed before a whole frame arrived");
      await this.#readMore(deadline, timeoutMs);
    }
    return this.#frames.shift()!;
  }

  /** The next whole frame as text, terminator included. */
  async frame(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
    return decoder.decode(await this.frameBytes(timeoutMs));
  }

  /** The next `count` frames as text. */
  async frames(count: number, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(await this.frame(timeoutMs));
    return out;
  }

  /** Writes `request` and returns the one frame that answers it. */
  async request(request: string | Uint8Array, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
    await this.write(request);
    return await this.frame(timeoutMs);
  }

  /**
   * Waits until the other side closes the connection (end of stream or a
   * reset) and returns the frames that arrived before, as text.
   */
  async closedByPeer(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#eof) await this.#readMore(deadline, timeoutMs);
    return this.#frames.splice(0).map((f) => decoder.decode(f));
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

  async #readMore(deadline: number, timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
    });
    const read = this.#conn.read(this.#buf);
    let n: number | null | "timeout";
    try {
      n = await Promise.race([read, timeout]);
    } catch (error) {
      if (
        error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe
      ) {
        this.#eof = true;
        return;
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
    if (n === "timeout") {
      this.close();
      await read.catch(() => null);
      throw new Error(`Nothing from the server within ${timeoutMs} ms`);
    }
    if (n === null) {
      this.#eof = true;
      return;
    }
    this.#frames.push(...this.#reader.push(this.#buf.subarray(0, n)));
  }
}
