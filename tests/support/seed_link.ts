/**
 * A seed client's link, for tests of what seed clients get: it reads at most
 * 1,024 bytes per `read()`, as the seed's clients `recv(1024)`, and keeps
 * every whole frame with its raw bytes.
 *
 * @module
 */

import { decodeFrame, type TextFrame } from "../../lib/frames.ts";
import { FrameReader } from "../../lib/frame_reader.ts";
import { LINK_MAX_FRAME_BYTES } from "../../lib/limits.ts";
import { textContent } from "../../peer/flood.ts";

const encoder = new TextEncoder();

/** A `T` frame a seed client got: decoded, with its bytes as they came. */
export interface SeedText {
  frame: TextFrame;
  raw: Uint8Array;
  content: Uint8Array;
}

/** One link of a seed client that dialed a peer; see the module doc. */
export class SeedLink implements AsyncDisposable {
  /** The size of every read, in order. */
  readonly reads: number[] = [];
  /** Every whole frame, as its bytes. */
  readonly frames: Uint8Array[] = [];
  readonly #conn: Deno.TcpConn;
  readonly #reading: Promise<void>;
  #wake: (() => void) | null = null;
  #eof = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    conn.setNoDelay(true);
    this.#reading = this.#read();
  }

  /** Dials `port` as member `name` listening on `myPort` of `room`, and waits for the `S`. */
  static async dial(port: number, room: string, name: string, myPort: number): Promise<SeedLink> {
    const link = new SeedLink(await Deno.connect({ hostname: "127.0.0.1", port }));
    await link.write(`P:${room}:${name}:127.0.0.1:${myPort}:0::\r\n`);
    await link.until(() => link.frames.length > 0, "the S");
    const reply = new TextDecoder().decode(link.frames.shift()!);
    if (!/^S:\d+::\r\n$/.test(reply)) throw new Error(`Unexpected reply ${JSON.stringify(reply)}`);
    return link;
  }

  /** Writes `data` whole. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }

  /** The `T` frames received so far. */
  texts(): SeedText[] {
    return this.frames.filter((raw) => raw[0] === 0x54).map((raw) => ({
      frame: decodeFrame(raw) as TextFrame,
      raw,
      content: textContent(raw),
    }));
  }

  /** True when a frame that is not `T` came (an `X` would break a seed client). */
  otherFrames(): string[] {
    return this.frames.filter((raw) => raw[0] !== 0x54).map((raw) => new TextDecoder().decode(raw));
  }

  /** Waits until `condition` holds, checked on every read. */
  async until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (this.#eof) throw new Error(`Closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out waiting for ${what}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#wake = null;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // Closed already.
    }
    await this.#reading;
  }

  async #read(): Promise<void> {
    const reader = new FrameReader({ maxFrameBytes: LINK_MAX_FRAME_BYTES });
    const buf = new Uint8Array(1024);
    try {
      for (;;) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        this.reads.push(n);
        for (const frame of reader.push(buf.slice(0, n))) this.frames.push(frame.slice());
        this.#wake?.();
      }
    } catch {
      // Closed.
    }
    this.#eof = true;
    this.#wake?.();
  }
}
