/**
 * The catch-up ops of `docs/extensions.md`: a peer that joins or comes back
 * asks a ringchat/2 member it links to for what it missed
 * (`history-request`), and the member answers with its recent messages
 * (`history`, in as many frames as the JSON bound needs). This module makes
 * and reads their bodies (the JSON object without `op`, for an `X` frame
 * `{ type: "X", op, body }`); the history itself is `./history.ts`.
 *
 * A response frame holds at most {@linkcode MAX_JSON_BYTES} of JSON
 * as the frame encoder writes it (ASCII, `\uXXXX` escapes). A message too
 * long for one frame goes as consecutive chunks (`offset`, `total`) that
 * {@linkcode HistoryChunks} joins again.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { historyResponseBodies, parseHistoryResponse } from "./catch_up.ts";
 * const entries = [{ originHid: "1", originName: "alice", msgId: 5n, at: 0, text: "hi" }];
 * const [body] = historyResponseBodies("room1", "r1", entries);
 * deepEqual(parseHistoryResponse(body!).messages, entries);
 * ```
 *
 * @module
 */

import { groupFields, parseGroupFields, type PartsGroup, splitText } from "./long_text.ts";
import { decimalUint64, opError } from "./op_fields.ts";

/**
 * Longest JSON of one `X` frame: `MAX_JSON_BYTES` of `lib/limits.ts`
 * (64 KiB) once the frame codec's branch is merged.
 */
export const MAX_JSON_BYTES = 64 * 1024;

/** Most messages one request may ask for (the default history holds 1,000). */
export const MAX_HISTORY_MESSAGES = 1000;
/** Most origins in a request's `since`. */
export const MAX_SINCE_ORIGINS = 1024;
/**
 * Bytes of text per chunk of a message too long for one frame: any text's
 * JSON (at most 6 characters per byte, `\u0001`) then fits a frame.
 */
export const CHUNK_TEXT_BYTES = 8000;

const encoder = new TextEncoder();

/** A `history-request`. */
export interface HistoryRequest {
  /** The room as on the wire. */
  room: string;
  /** The requester's name for this request (1–32 printable ASCII), echoed in the answer. */
  ref: string;
  /**
   * What to send: the messages after the highest msgID seen per origin
   * (plus every message of an origin not in it), or the newest `n`.
   */
  want: { since: Map<string, bigint> } | { newest: number };
  /** At most this many messages in the whole answer (1–1,000, default 1,000). */
  limit: number;
}

/** Why a responder does not answer a request. */
export type HistoryErrorCode = "bad-request" | "wrong-room" | "busy" | "unavailable";

const ERROR_CODES: readonly HistoryErrorCode[] = [
  "bad-request",
  "wrong-room",
  "busy",
  "unavailable",
];

/** One message (or a chunk of one) in a `history` answer. */
export interface HistoryEntry {
  originHid: string;
  originName: string;
  msgId: bigint;
  /** When it was said or first received, ms since the epoch. */
  at: number;
  /** The `T` content (in a private room: encrypted, as on the wire). */
  text: string;
  /** The long text it is a part of, when announced. */
  group?: PartsGroup;
  /** The origin's Ed25519 signature of the whole text (64 bytes), when the responder has it. */
  sig?: Uint8Array;
  /** For a chunk: where `text` starts in the message's UTF-8, and the message's bytes. */
  chunk?: { offset: number; total: number };
}

/** One `history` frame. */
export interface HistoryResponse {
  room: string;
  ref: string;
  messages: HistoryEntry[];
  /** True on the answer's last frame. */
  end: boolean;
  /** On the last frame: the responder had more than the request's limit. */
  truncated: boolean;
  /** On a refusal (then `end` and no messages). */
  error?: HistoryErrorCode;
}

/** The body of a `history-request` op. */
export function historyRequestBody(request: HistoryRequest): Record<string, unknown> {
  const body: Record<string, unknown> = { room: request.room, ref: request.ref };
  if ("since" in request.want) {
    body.since = Object.fromEntries(
      [...request.want.since].map(([origin, msgId]) => [origin, msgId.toString()]),
    );
  } else {
    body.newest = request.want.newest;
  }
  body.limit = request.limit;
  return body;
}

/**
 * Reads the body of a `history-request` op.
 *
 * @throws {ProtocolError} when it is malformed: answer `bad-request`
 */
export function parseHistoryRequest(body: Record<string, unknown>): HistoryRequest {
  const { room, ref, since, newest } = body;
  const limit = body.limit ?? MAX_HISTORY_MESSAGES;
  if (typeof room !== "string") throw opError("history-request room must be a string");
  if (typeof ref !== "string" || !/^[\x20-\x7e]{1,32}$/.test(ref)) {
    throw opError("history-request ref must be 1 to 32 printable ASCII characters");
  }
  if (!isCount(limit, MAX_HISTORY_MESSAGES)) {
    throw opError(`history-request limit must be 1 to ${MAX_HISTORY_MESSAGES}`);
  }
  if ((since === undefined) === (newest === undefined)) {
    throw opError("history-request needs exactly one of since and newest");
  }
  if (newest !== undefined) {
    if (!isCount(newest, MAX_HISTORY_MESSAGES)) {
      throw opError(`history-request newest must be 1 to ${MAX_HISTORY_MESSAGES}`);
    }
    return { room, ref, want: { newest: newest as number }, limit: limit as number };
  }
  if (typeof since !== "object" || since === null || Array.isArray(since)) {
    throw opError("history-request since must be an object");
  }
  const entries = Object.entries(since);
  if (entries.length > MAX_SINCE_ORIGINS) {
    throw opError(`history-request since has over ${MAX_SINCE_ORIGINS} origins`);
  }
  const cursor = new Map(
    entries.map(([origin, id]) => [origin, decimalUint64(id, "history-request since")]),
  );
  return { room, ref, want: { since: cursor }, limit: limit as number };
}

/** The body of a `history` frame that refuses a request. */
export function historyErrorBody(
  room: string,
  ref: string,
  error: HistoryErrorCode,
): Record<string, unknown> {
  return { room, ref, messages: [], end: true, error };
}

/**
 * The bodies of the `history` frames that answer request `ref` with
 * `entries` (whole messages, in the order to send): entries packed in order,
 * each frame's JSON within `maxJsonBytes`, a message too long for a frame cut
 * into chunks of at most `chunkBytes` text bytes, the last frame with
 * `end` (and `truncated` when the responder left messages out). No entries
 * still make one frame. An entry whose other fields are so long (far beyond
 * the protocol's name limits) that not even a chunk fits is left out.
 */
export function historyResponseBodies(
  room: string,
  ref: string,
  entries: readonly HistoryEntry[],
  options: { truncated?: boolean; maxJsonBytes?: number; chunkBytes?: number } = {},
): Record<string, unknown>[] {
  const maxJsonBytes = options.maxJsonBytes ?? MAX_JSON_BYTES;
  const chunkBytes = options.chunkBytes ?? CHUNK_TEXT_BYTES;
  const frame = (messages: unknown[], end: boolean): Record<string, unknown> =>
    end ? { room, ref, messages, end, truncated: options.truncated ?? false } : {
      room,
      ref,
      messages,
      end,
    };
  // The emptiest last frame: what every frame must leave room for.
  const overhead = asciiJsonLength({ op: "history", ...frame([], true) });
  if (overhead + chunkBytes * 6 + 400 > maxJsonBytes) {
    throw new RangeError(`maxJsonBytes ${maxJsonBytes} cannot hold a chunk of ${chunkBytes}`);
  }
  const bodies: Record<string, unknown>[] = [];
  let current: unknown[] = [];
  let size = overhead;
  const push = (json: Record<string, unknown>) => {
    const length = asciiJsonLength(json) + 1; // and a comma
    if (size + length > maxJsonBytes && current.length > 0) {
      bodies.push(frame(current, false));
      current = [];
      size = overhead;
    }
    current.push(json);
    size += length;
  };
  const fits = (json: Record<string, unknown>) =>
    overhead + asciiJsonLength(json) + 1 <= maxJsonBytes;
  for (const entry of entries) {
    const json = entryJson(entry);
    if (fits(json)) {
      push(json);
      continue;
    }
    const total = encoder.encode(entry.text).length;
    let offset = 0;
    const chunks = splitText(entry.text, chunkBytes).map((slice) => {
      const chunk = entryJson({ ...entry, text: slice, chunk: { offset, total } });
      offset += encoder.encode(slice).length;
      return chunk;
    });
    // Only fields far over the protocol's limits keep a chunk from fitting: leave it out.
    if (chunks.every(fits)) chunks.forEach(push);
  }
  bodies.push(frame(current, true));
  return bodies;
}

/**
 * Reads the body of a `history` frame.
 *
 * @throws {ProtocolError} when it is malformed: ignore the frame
 */
export function parseHistoryResponse(body: Record<string, unknown>): HistoryResponse {
  const { room, ref, messages, end, truncated, error } = body;
  if (typeof room !== "string" || typeof ref !== "string") {
    throw opError("history room and ref must be strings");
  }
  if (!Array.isArray(messages)) throw opError("history messages must be an array");
  if (typeof end !== "boolean") throw opError("history end must be true or false");
  if (truncated !== undefined && typeof truncated !== "boolean") {
    throw opError("history truncated must be true or false");
  }
  if (error !== undefined && !ERROR_CODES.includes(error as HistoryErrorCode)) {
    throw opError("history error is not a known code");
  }
  const response: HistoryResponse = {
    room,
    ref,
    messages: messages.map(parseEntry),
    end,
    truncated: truncated === true,
  };
  if (error !== undefined) response.error = error as HistoryErrorCode;
  return response;
}

/**
 * Joins the chunks of messages too long for one `history` frame, in bounded
 * memory: one message at a time, at most {@linkcode MAX_JSON_BYTES}
 * (64 KiB) of text. Feed it every entry of an answer in order; it returns
 * each whole message once complete. A chunk run that breaks off (another
 * message comes between, an offset is not the next, the total changes, the
 * answer ends, or it is too long) is dropped.
 */
export class HistoryChunks {
  #pending: { entry: HistoryEntry; parts: string[]; received: number } | null = null;

  /** Takes the next entry; returns the whole message it completes or is, else null. */
  accept(entry: HistoryEntry): HistoryEntry | null {
    const pending = this.#pending;
    if (entry.chunk === undefined) {
      this.#pending = null;
      return entry;
    }
    const { offset, total } = entry.chunk;
    const bytes = encoder.encode(entry.text).length;
    const continues = pending !== null && offset > 0 &&
      pending.entry.originHid === entry.originHid && pending.entry.msgId === entry.msgId &&
      pending.entry.chunk!.total === total && pending.received === offset;
    if (!continues) {
      this.#pending = null;
      if (offset !== 0 || total > MAX_JSON_BYTES) return null;
      this.#pending = { entry, parts: [], received: 0 };
    }
    const current = this.#pending!;
    current.parts.push(entry.text);
    current.received += bytes;
    if (current.received > total) {
      this.#pending = null;
      return null;
    }
    if (current.received < total) return null;
    this.#pending = null;
    const whole: HistoryEntry = { ...current.entry, text: current.parts.join("") };
    delete whole.chunk;
    return whole;
  }

  /** The answer ended: a message still in chunks is dropped. Returns true if one was. */
  end(): boolean {
    const dropped = this.#pending !== null;
    this.#pending = null;
    return dropped;
  }
}

function entryJson(entry: HistoryEntry): Record<string, unknown> {
  const json: Record<string, unknown> = {
    origin: entry.originHid,
    name: entry.originName,
    msgId: entry.msgId.toString(),
    at: entry.at,
    text: entry.text,
  };
  if (entry.group !== undefined) json.group = groupFields(entry.group);
  if (entry.sig !== undefined) {
    json.sig = entry.sig.toBase64({ alphabet: "base64url", omitPadding: true });
  }
  if (entry.chunk !== undefined) {
    json.offset = entry.chunk.offset;
    json.total = entry.chunk.total;
  }
  return json;
}

function parseEntry(value: unknown): HistoryEntry {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw opError("history message must be an object");
  }
  const { origin, name, msgId, at, text, group, sig, offset, total } = value as Record<
    string,
    unknown
  >;
  if (typeof origin !== "string" || typeof name !== "string" || typeof text !== "string") {
    throw opError("history message origin, name and text must be strings");
  }
  if (!Number.isSafeInteger(at)) throw opError("history message at must be an integer");
  const entry: HistoryEntry = {
    originHid: origin,
    originName: name,
    msgId: decimalUint64(msgId, "history message msgId"),
    at: at as number,
    text,
  };
  if (group !== undefined) {
    if (typeof group !== "object" || group === null || Array.isArray(group)) {
      throw opError("history group must be an object");
    }
    entry.group = parseGroupFields(group as Record<string, unknown>, "history group");
  }
  if (sig !== undefined) {
    const bytes = typeof sig === "string" && /^[A-Za-z0-9_-]{86}$/.test(sig)
      ? Uint8Array.fromBase64(sig, { alphabet: "base64url" })
      : null;
    if (bytes === null || bytes.length !== 64) {
      throw opError("history sig must be 64 bytes of unpadded base64url");
    }
    entry.sig = bytes;
  }
  if ((offset === undefined) !== (total === undefined)) {
    throw opError("history chunk needs both offset and total");
  }
  if (offset !== undefined) {
    if (!isCount(total, Number.MAX_SAFE_INTEGER) || !Number.isSafeInteger(offset)) {
      throw opError("history chunk offset and total must be integers");
    }
    if ((offset as number) < 0 || (offset as number) >= (total as number)) {
      throw opError("history chunk offset must be within the total");
    }
    entry.chunk = { offset: offset as number, total: total as number };
  }
  return entry;
}

/** The length of `value`'s JSON once every non-ASCII character is a `\uXXXX` escape. */
export function asciiJsonLength(value: unknown): number {
  const json = JSON.stringify(value);
  let length = json.length;
  for (let i = 0; i < json.length; i++) if (json.charCodeAt(i) > 0x7f) length += 5;
  return length;
}

function isCount(value: unknown, max: number): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= max;
}
