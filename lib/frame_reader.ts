/**
 * An incremental frame reader over a TCP byte stream: it accepts frames split
 * over many reads and many frames in one read, and never holds more than
 * `maxFrameBytes` of an unfinished frame. It parses each frame once: what it
 * found (the type, and for `T` and `X` the header and the content's span)
 * comes with the frame's bytes as a {@linkcode RawFrame}, so a size check
 * needs no decoding and the decoder does not parse the header again.
 *
 * Frame boundaries (PROTOCOL.md §2, §9):
 * - a `T` frame is taken by its `msgLength`: header, that many content bytes,
 *   then `::\r\n`;
 * - an `X` frame that starts `X:` and a digit is taken by its `<len>` the same
 *   way;
 * - every other frame ends at its first `\n`. Their fields cannot contain a
 *   newline, and cutting at `\n` (not only at `::\r\n`) lets a registry answer
 *   the reference's `LIST message - Wrong format!!` to `L::\n` instead of
 *   waiting forever. Whether the frame is well formed is the decoder's job.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FrameReader } from "./frame_reader.ts";
 * const reader = new FrameReader({ maxFrameBytes: 4096 });
 * const enc = new TextEncoder();
 * const [list] = reader.feed(enc.encode("L::\r\nT:room:1:al"));
 * assert.equal(list?.type, "L");
 * const [text] = reader.feed(enc.encode("ice:1:2:hi::\r\n"));
 * assert.equal(text?.header?.type, "T");
 * assert.equal(new TextDecoder().decode(text?.contentBytes), "hi"); // a view of text.bytes
 * assert.equal(text?.decode().type, "T");
 * ```
 *
 * @module
 */

import { ProtocolError } from "./errors.ts";
import {
  type ContentHeader,
  decodeWithHeader,
  type Frame,
  isLengthFramedExtension,
  parseExtensionHeader,
  parseTextHeader,
} from "./frames.ts";
import { MAX_TEXT_HEADER_BYTES } from "./limits.ts";

const NEWLINE = 0x0a;
const T = 0x54;
const TERMINATOR = [0x3a, 0x3a, 0x0d, 0x0a];
/** The first buffer a connection gets when a frame spans reads. */
const INITIAL_BUFFER_BYTES = 256;
const EMPTY = new Uint8Array(0);

/** Options of a {@linkcode FrameReader}. */
export interface FrameReaderOptions {
  /** Largest frame accepted, terminator included. Must be at least 16. */
  maxFrameBytes: number;
  /**
   * False: each frame's bytes are a view of the chunk given to `feed` or of
   * the reader's buffer, valid only until the next `feed` or until the caller
   * reuses the chunk; copy what you keep. That saves one allocation per frame
   * (about 0.5 µs, as much as the rest of a registry keepalive costs to
   * recognise). Default true: every frame is a fresh copy.
   */
  copyFrames?: boolean;
}

/** One whole frame as a {@linkcode FrameReader} found it. */
export class RawFrame {
  /**
   * The frame's bytes, terminator included: a fresh copy the caller may keep,
   * or a view when the reader was made with `copyFrames: false`.
   */
  readonly bytes: Uint8Array;
  /** What the reader parsed of a `T` or `X` frame taken by length; null for every other frame. */
  readonly header: ContentHeader | null;

  /** Wraps the bytes of one whole frame and the header parsed from them (trusted, not checked). */
  constructor(bytes: Uint8Array, header: ContentHeader | null) {
    this.bytes = bytes;
    this.header = header;
  }

  /** The frame's first character: its type, or whatever a garbage frame starts with. */
  get type(): string {
    return String.fromCharCode(this.bytes[0]!);
  }

  /**
   * The content of a `T` frame or the JSON of an `X` frame: a view of
   * {@linkcode bytes}, no copy (hash it, do not change it). Empty for every
   * other frame.
   */
  get contentBytes(): Uint8Array {
    const header = this.header;
    if (header === null) return EMPTY;
    return this.bytes.subarray(header.contentStart, header.contentStart + header.contentLength);
  }

  /**
   * Decodes the frame from what the reader found (`decodeWithHeader(bytes, header)`).
   *
   * @throws {ProtocolError} when the frame is malformed (never fatal: the next frame is intact)
   */
  decode(): Frame {
    return decodeWithHeader(this.bytes, this.header);
  }
}

/** Splits a byte stream into whole raw frames; see the module doc. */
export class FrameReader {
  readonly #max: number;
  readonly #copy: boolean;
  /** Holds the start of an unfinished frame; allocated when a frame first spans reads. */
  #buf: Uint8Array = EMPTY;
  #start = 0;
  #end = 0;
  /** How far past `#start` the current line-framed frame was already searched for `\n`. */
  #scanned = 0;
  /** The header of the unfinished `T` or `X` frame held, once it has all arrived. */
  #header: ContentHeader | null = null;
  /** A fatal error; thrown by every later feed. */
  #failure: ProtocolError | null = null;

  /** Creates a reader that refuses frames over `maxFrameBytes`. */
  constructor(options: FrameReaderOptions) {
    if (!Number.isInteger(options.maxFrameBytes) || options.maxFrameBytes < 16) {
      throw new RangeError(
        `maxFrameBytes must be an integer of at least 16, got ${options.maxFrameBytes}`,
      );
    }
    this.#max = options.maxFrameBytes;
    this.#copy = options.copyFrames ?? true;
  }

  /**
   * The fatal error the reader hit, if any: after the frames the last
   * {@linkcode feed} returned, or the one it threw.
   */
  get failure(): ProtocolError | null {
    return this.#failure;
  }

  /** Bytes held of frames not yet complete. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * Adds the bytes of one read and returns the frames it completed, in
   * order, each with its bytes (with the terminator; a fresh copy unless
   * `copyFrames` is false) and what was parsed of it. The reader does not
   * keep `chunk`: with copied frames the caller may reuse it at once.
   *
   * When a read completes good frames and then hits a fatal error, the good
   * frames are returned and the error is kept: {@linkcode failure} reports it
   * at once, and the next `feed` throws it.
   *
   * @throws {ProtocolError} (fatal) when a frame exceeds `maxFrameBytes`, or a
   * `T` or `X` frame's header or terminator is malformed; the reader is then
   * unusable.
   */
  feed(chunk: Uint8Array): RawFrame[] {
    if (this.#failure !== null) throw this.#failure;
    // Nothing held (the usual case): frames are cut from the chunk itself, and
    // only an unfinished rest is copied into the buffer.
    const direct = this.#start === this.#end;
    if (!direct) this.#append(chunk);
    const source = direct ? chunk : this.#buf.subarray(this.#start, this.#end);
    const frames: RawFrame[] = [];
    let at = 0;
    while (at < source.length) {
      let frame: RawFrame | null;
      try {
        frame = this.#next(at === 0 ? source : source.subarray(at));
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
        this.#failure = e;
        this.#start = this.#end = this.#scanned = 0;
        this.#header = null;
        if (frames.length === 0) throw e;
        return frames;
      }
      if (frame === null) break;
      frames.push(frame);
      at += frame.bytes.length;
      this.#scanned = 0;
      this.#header = null;
    }
    if (direct) {
      if (at < chunk.length) this.#append(chunk.subarray(at));
    } else {
      this.#start += at;
      if (this.#start === this.#end) this.#start = this.#end = 0;
    }
    return frames;
  }

  /** The bytes of each frame {@linkcode feed} returns, for callers that need no more. */
  push(chunk: Uint8Array): Uint8Array[] {
    return this.feed(chunk).map((frame) => frame.bytes);
  }

  #append(chunk: Uint8Array): void {
    const held = this.#end - this.#start;
    if (this.#end + chunk.length > this.#buf.length) {
      const needed = held + chunk.length;
      if (needed > this.#buf.length) {
        // Grow, but never past what one unfinished frame plus this read can need.
        const grown = new Uint8Array(
          Math.max(
            needed,
            Math.min(
              Math.max(this.#buf.length * 2, INITIAL_BUFFER_BYTES),
              this.#max + chunk.length,
            ),
          ),
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

  /** The whole frame at the start of `view` (not empty), or null when it has not all arrived. */
  #next(view: Uint8Array): RawFrame | null {
    let header = this.#header;
    if (header === null) {
      if (view[0] === T) {
        header = parseTextHeader(view, Math.min(MAX_TEXT_HEADER_BYTES, this.#max));
        if (header === null) return null;
      } else {
        const extension = isLengthFramedExtension(view);
        if (extension === null) return null;
        if (extension) {
          header = parseExtensionHeader(view);
          if (header === null) return null;
        }
      }
    }
    const length = header === null ? this.#lineLength(view) : this.#contentLength(view, header);
    if (length === null) {
      // Parsed once: the next read completes the frame without parsing its header again.
      this.#header = header;
      return null;
    }
    const bytes = this.#copy
      ? view.slice(0, length)
      : length === view.length
      ? view
      : view.subarray(0, length);
    return new RawFrame(bytes, header);
  }

  /** The length of the frame taken by `header`'s length, or null when it has not all arrived. */
  #contentLength(view: Uint8Array, header: ContentHeader): number | null {
    const name = header.type === "T" ? "TEXT" : "EXTENSION";
    const length = header.contentStart + header.contentLength + TERMINATOR.length;
    if (length > this.#max) {
      throw new ProtocolError(
        `${name} frame of ${length} bytes exceeds the limit of ${this.#max}`,
        {
          frameType: header.type,
          fatal: true,
        },
      );
    }
    if (view.length < length) return null;
    for (let i = 0; i < TERMINATOR.length; i++) {
      if (view[length - TERMINATOR.length + i] !== TERMINATOR[i]) {
        throw new ProtocolError(
          `${name} frame does not end with '::\\r\\n' after its ${header.contentLength} ` +
            `${header.type === "T" ? "content" : "JSON"} bytes`,
          { frameType: header.type, fatal: true },
        );
      }
    }
    return length;
  }

  /** The length of the frame that ends at the first `\n`, or null when it has not arrived. */
  #lineLength(view: Uint8Array): number | null {
    const found = view.indexOf(NEWLINE, this.#scanned);
    if (found < 0) {
      this.#scanned = view.length;
      if (view.length >= this.#max) {
        throw new ProtocolError(
          `Frame exceeds the limit of ${this.#max} bytes without a terminator`,
          { frameType: String.fromCharCode(view[0]!), fatal: true },
        );
      }
      return null;
    }
    const length = found + 1;
    if (length > this.#max) {
      throw new ProtocolError(`Frame of ${length} bytes exceeds the limit of ${this.#max}`, {
        frameType: String.fromCharCode(view[0]!),
        fatal: true,
      });
    }
    return length;
  }
}
