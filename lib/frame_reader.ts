/**
 * An incremental frame reader over a TCP byte stream: it accepts frames split
 * over many reads and many frames in one read, and never holds more than
 * `maxFrameBytes` of an unfinished frame.
 *
 * Frame boundaries (PROTOCOL.md §2):
 * - a `T` frame is taken by its `msgLength`: header, that many content bytes,
 *   then `::\r\n`;
 * - every other frame ends at its first `\n`. Their fields cannot contain a
 *   newline, and cutting at `\n` (not only at `::\r\n`) lets a registry answer
 *   the reference's `LIST message - Wrong format!!` to `L::\n` instead of
 *   waiting forever. Whether the frame is well formed is the decoder's job.
 *
 * @example
 * ```ts
 * import { FrameReader } from "./frame_reader.ts";
 * const reader = new FrameReader({ maxFrameBytes: 4096 });
 * const bytes = new TextEncoder().encode("L::\r\nJ:room:al");
 * reader.push(bytes); // [the bytes of "L::\r\n"]
 * reader.push(new TextEncoder().encode("ice:127.0.0.1:5000::\r\n")); // [the JOIN]
 * ```
 *
 * @module
 */

import { ProtocolError } from "./errors.ts";
import { parseTextHeader } from "./frames.ts";
import { MAX_TEXT_HEADER_BYTES } from "./limits.ts";

const NEWLINE = 0x0a;
const T = 0x54;
const TERMINATOR = [0x3a, 0x3a, 0x0d, 0x0a];

/** Options of a {@linkcode FrameReader}. */
export interface FrameReaderOptions {
  /** Largest frame accepted, terminator included. Must be at least 16. */
  maxFrameBytes: number;
}

/** Splits a byte stream into whole raw frames; see the module doc. */
export class FrameReader {
  readonly #max: number;
  #buf: Uint8Array;
  #start = 0;
  #end = 0;
  /** How far past `#start` the current non-T frame was already searched for `\n`. */
  #scanned = 0;
  /** A fatal error found after frames that were returned; thrown by the next push. */
  #failure: ProtocolError | null = null;

  /** Creates a reader that refuses frames over `maxFrameBytes`. */
  constructor(options: FrameReaderOptions) {
    if (!Number.isInteger(options.maxFrameBytes) || options.maxFrameBytes < 16) {
      throw new RangeError(
        `maxFrameBytes must be an integer of at least 16, got ${options.maxFrameBytes}`,
      );
    }
    this.#max = options.maxFrameBytes;
    // Small at first: most connections never hold more than one short frame.
    this.#buf = new Uint8Array(Math.min(this.#max, 256));
  }

  /** The fatal error that follows the frames the last push returned, if any. */
  get failure(): ProtocolError | null {
    return this.#failure;
  }

  /** Bytes held of frames not yet complete. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * Adds the bytes of one read and returns the frames it completed, each a
   * fresh copy with its terminator.
   *
   * When a read completes good frames and then hits a fatal error, the good
   * frames are returned and the error is kept: {@linkcode failure} reports it
   * at once, and the next `push` throws it.
   *
   * @throws {ProtocolError} (fatal) when a frame exceeds `maxFrameBytes` or a
   * `T` frame's header or terminator is malformed; the reader is then unusable.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#failure !== null) throw this.#failure;
    this.#append(chunk);
    const frames: Uint8Array[] = [];
    for (;;) {
      let frame: Uint8Array | null;
      try {
        frame = this.#next();
      } catch (e) {
        if (!(e instanceof ProtocolError) || frames.length === 0) throw e;
        this.#failure = e;
        this.#start = this.#end = this.#scanned = 0;
        return frames;
      }
      if (frame === null) break;
      frames.push(frame);
    }
    if (this.#start === this.#end) {
      this.#start = this.#end = this.#scanned = 0;
    }
    return frames;
  }

  #append(chunk: Uint8Array): void {
    const held = this.#end - this.#start;
    if (this.#end + chunk.length > this.#buf.length) {
      const needed = held + chunk.length;
      if (needed > this.#buf.length) {
        // Grow, but never past what one unfinished frame plus this read can need.
        const grown = new Uint8Array(
          Math.max(needed, Math.min(this.#buf.length * 2, this.#max + chunk.length)),
        );
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      } else {
        this.#buf.copyWithin(0, this.#start, this.#end);
      }
      this.#end = held;
      this.#start = 0;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  #next(): Uint8Array | null {
    const held = this.#end - this.#start;
    if (held === 0) return null;
    const view = this.#buf.subarray(this.#start, this.#end);
    let length: number;
    if (view[0] === T) {
      const header = parseTextHeader(view, Math.min(MAX_TEXT_HEADER_BYTES, this.#max));
      if (header === null) return null;
      length = header.contentStart + header.contentLength + TERMINATOR.length;
      if (length > this.#max) {
        throw new ProtocolError(`TEXT frame of ${length} bytes exceeds the limit of ${this.#max}`, {
          frameType: "T",
          fatal: true,
        });
      }
      if (held < length) return null;
      for (let i = 0; i < TERMINATOR.length; i++) {
        if (view[length - TERMINATOR.length + i] !== TERMINATOR[i]) {
          throw new ProtocolError(
            `TEXT frame does not end with '::\\r\\n' after its ${header.contentLength} content bytes`,
            { frameType: "T", fatal: true },
          );
        }
      }
    } else {
      const found = view.indexOf(NEWLINE, this.#scanned);
      if (found < 0) {
        this.#scanned = held;
        if (held >= this.#max) {
          throw new ProtocolError(
            `Frame exceeds the limit of ${this.#max} bytes without a terminator`,
            {
              frameType: String.fromCharCode(view[0]!),
              fatal: true,
            },
          );
        }
        return null;
      }
      length = found + 1;
      if (length > this.#max) {
        throw new ProtocolError(`Frame of ${length} bytes exceeds the limit of ${this.#max}`, {
          frameType: String.fromCharCode(view[0]!),
          fatal: true,
        });
      }
    }
    const frame = view.slice(0, length);
    this.#start += length;
    this.#scanned = 0;
    return frame;
  }
}
