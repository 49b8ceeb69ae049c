/**
 * The P2PChat frames of PROTOCOL.md §3, and the extension frame `X` of §9, as
 * a typed discriminated union, with an encoder and a decoder. Every frame is
 * text, fields separated by `:`, ending with `::\r\n`; the content of a `T`
 * frame (its `msgLength`) and the JSON of an `X` frame (its `<len>`) are taken
 * by length, so they may contain `:`, newlines and even `::\r\n`.
 *
 * @example
 * ```ts
 * import { decodeFrame, encodeFrame } from "./frames.ts";
 * const bytes = encodeFrame({ type: "J", room: "room1", name: "alice", ip: "127.0.0.1", port: 50001 });
 * // "J:room1:alice:127.0.0.1:50001::\r\n"
 * const frame = decodeFrame(bytes); // { type: "J", room: "room1", ... }
 * ```
 *
 * @module
 */

import { ProtocolError } from "./errors.ts";
import { parseJson } from "./json_parse.ts";
import { MAX_EXTENSION_JSON_BYTES } from "./limits.ts";
import { sdbmHash } from "./sdbm.ts";

/** A room member as the registry lists it. */
export interface Member {
  /** The member's user name. */
  name: string;
  /** The address the member advertised (dotted decimal, or a host name). */
  ip: string;
  /** The member's TCP and UDP port. */
  port: number;
}

/** `L::\r\n`: list rooms (peer → registry). */
export interface ListFrame {
  type: "L";
}
/** `G:room1:room2::\r\n`: room names, newest first (registry → peer). */
export interface RoomsFrame {
  type: "G";
  rooms: string[];
}
/** `J:room:name:ip:port::\r\n`: join, or renew as keepalive (peer → registry). */
export interface JoinFrame extends Member {
  type: "J";
  room: string;
}
/** `M:MSID:name:ip:port:…::\r\n`: members, newest join first (registry → peer). */
export interface MembersFrame {
  type: "M";
  msid: bigint;
  members: Member[];
}
/** `F:error text::\r\n`: an error (registry → peer). */
export interface FailureFrame {
  type: "F";
  message: string;
}
/** `D:room:name:ip:port::\r\n`: depart (peer → registry). */
export interface DepartFrame extends Member {
  type: "D";
  room: string;
}
/** `P:room:name:ip:port:msgID::\r\n`: handshake from the linking peer. */
export interface HandshakeFrame extends Member {
  type: "P";
  room: string;
  msgId: bigint;
}
/**
 * `S:msgID::\r\n`: handshake accepted (peer → peer), or `S::\r\n`: the
 * registry's answer to DEPART (`msgId` null).
 */
export interface SuccessFrame {
  type: "S";
  msgId: bigint | null;
}
/**
 * `T:room:originHID:originName:msgID:msgLength:content::\r\n`: chat text.
 * `originHid` is a string because some clients put a user name there
 * (PROTOCOL.md §8); ours always send the decimal HashID.
 */
export interface TextFrame {
  type: "T";
  room: string;
  originHid: string;
  originName: string;
  msgId: bigint;
  text: string;
}
/** `K:room:name::\r\n`: poke (UDP). */
export interface PokeFrame {
  type: "K";
  room: string;
  name: string;
}
/** `A::\r\n`: poke acknowledged (UDP). */
export interface AckFrame {
  type: "A";
}

/**
 * `X:<len>:<json>::\r\n`: a ringchat/2 extension (PROTOCOL.md §9). On the wire
 * the JSON is one ASCII-only object with a string `"op"`; `body` is that
 * object without `op`. Send it only to a party known to speak ringchat/2.
 */
export interface ExtensionFrame {
  type: "X";
  /** What the extension is (`"hello"`, …); `docs/extensions.md` lists every op. */
  op: string;
  /** The other fields of the JSON object: JSON data only, no `op` key. */
  body: Record<string, unknown>;
}

/** Every P2PChat frame. */
export type Frame =
  | ListFrame
  | RoomsFrame
  | JoinFrame
  | MembersFrame
  | FailureFrame
  | DepartFrame
  | HandshakeFrame
  | SuccessFrame
  | TextFrame
  | PokeFrame
  | AckFrame
  | ExtensionFrame;

/** The type character of every frame. */
export type FrameType = Frame["type"];

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TERMINATOR = "::\r\n";
const QUIRK_TERMINATOR = ":\r\n";
const COLON = 0x3a;
const X = 0x58;

/**
 * The member payload exactly as an `M` frame carries it, with its trailing `:`
 * (`bob:127.0.0.1:50002:alice:127.0.0.1:50001:`). Its sdbm hash is the MSID.
 */
export function membersPayload(members: readonly Member[]): string {
  let out = "";
  for (const m of members) out += `${m.name}:${m.ip}:${m.port}:`;
  return out;
}

/**
 * The MSID of a member list: `sdbmHash` of {@linkcode membersPayload}.
 *
 * @example
 * ```ts
 * import { msidOf } from "./frames.ts";
 * msidOf([{ name: "alice", ip: "127.0.0.1", port: 50001 }]); // 6873446321337136987n
 * ```
 */
export function msidOf(members: readonly Member[]): bigint {
  return sdbmHash(membersPayload(members));
}

/**
 * The bytes of a frame, ready to write. A `T` frame's `msgLength` counts UTF-8
 * bytes; an `X` frame's JSON escapes every non-ASCII character as `\uXXXX`.
 *
 * @throws {TypeError} when an `X` frame's body has an `op` key, or holds a
 * bigint or a cycle (what `JSON.stringify` cannot write; it drops `undefined`
 * and functions, so keep the body JSON data)
 * @throws {RangeError} when an `X` frame's JSON is longer than
 * {@linkcode MAX_EXTENSION_JSON_BYTES}
 */
export function encodeFrame(frame: Frame): Uint8Array {
  if (frame.type === "X") return encodeExtension(frame);
  if (frame.type === "T") {
    const content = encoder.encode(frame.text);
    const head = encoder.encode(
      `T:${frame.room}:${frame.originHid}:${frame.originName}:${frame.msgId}:${content.length}:`,
    );
    const out = new Uint8Array(head.length + content.length + 4);
    out.set(head, 0);
    out.set(content, head.length);
    out.set(TERMINATOR_BYTES, head.length + content.length);
    return out;
  }
  return encoder.encode(encodeHead(frame) + TERMINATOR);
}

const TERMINATOR_BYTES = encoder.encode(TERMINATOR);

function encodeExtension(frame: ExtensionFrame): Uint8Array {
  if (Object.hasOwn(frame.body, "op")) {
    throw new TypeError("An extension frame's body must not have an op field");
  }
  const json = JSON.stringify({ op: frame.op, ...frame.body });
  // JSON.stringify already escapes control characters and lone surrogates.
  const ascii = json.replace(
    /[\u0080-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  if (ascii.length > MAX_EXTENSION_JSON_BYTES) {
    throw new RangeError(
      `Extension frame JSON of ${ascii.length} bytes exceeds the limit of ${MAX_EXTENSION_JSON_BYTES}`,
    );
  }
  return encoder.encode(`X:${ascii.length}:${ascii}${TERMINATOR}`);
}

function encodeHead(frame: Exclude<Frame, TextFrame | ExtensionFrame>): string {
  switch (frame.type) {
    case "L":
    case "A":
      return frame.type;
    case "G":
      return frame.rooms.length === 0 ? "G" : `G:${frame.rooms.join(":")}`;
    case "J":
    case "D":
      return `${frame.type}:${frame.room}:${frame.name}:${frame.ip}:${frame.port}`;
    case "M": {
      const payload = membersPayload(frame.members);
      return `M:${frame.msid}${payload.length === 0 ? "" : `:${payload.slice(0, -1)}`}`;
    }
    case "F":
      return `F:${frame.message}`;
    case "P":
      return `P:${frame.room}:${frame.name}:${frame.ip}:${frame.port}:${frame.msgId}`;
    case "S":
      return frame.msgId === null ? "S" : `S:${frame.msgId}`;
    case "K":
      return `K:${frame.room}:${frame.name}`;
  }
}

/**
 * Decodes one complete frame (terminator included) into a typed frame.
 *
 * Accepts the reference server's quirk of a single `:` before CRLF
 * (`J:room1:erin:127.0.0.1:50005:\r\n`) on every frame but `T` and `X`.
 *
 * @throws {ProtocolError} saying what was wrong; `frameType` is set when the
 * first byte was read.
 */
export function decodeFrame(bytes: Uint8Array): Frame {
  return decodeWithHeader(bytes, null);
}

/**
 * {@linkcode decodeFrame} of a frame whose header was already parsed:
 * `header` is what a reader found in these bytes (`parseTextHeader` or
 * `parseExtensionHeader`, as a `RawFrame` of the frame reader carries it), so
 * a `T` or `X` frame is decoded without parsing its header again. Null parses
 * as `decodeFrame` does.
 *
 * @throws {ProtocolError} as {@linkcode decodeFrame}
 */
export function decodeWithHeader(bytes: Uint8Array, header: ContentHeader | null): Frame {
  if (bytes.length === 0) throw new ProtocolError("Empty frame");
  const type = String.fromCharCode(bytes[0]!);
  if (type === "T") return decodeText(bytes, header?.type === "T" ? header : null);
  if (type === "X") return decodeExtension(bytes, header?.type === "X" ? header : null);
  const text = decoder.decode(bytes);
  let body: string;
  if (text.endsWith(TERMINATOR)) body = text.slice(0, -TERMINATOR.length);
  else if (text.endsWith(QUIRK_TERMINATOR)) body = text.slice(0, -QUIRK_TERMINATOR.length);
  else {throw new ProtocolError(`${describe(type)} frame does not end with '::\\r\\n'`, {
      frameType: type,
    });}
  const fields = body.split(":");
  if (fields[0] !== type) {
    throw new ProtocolError(`Unknown frame type ${JSON.stringify(fields[0])}`, { frameType: type });
  }
  const args = fields.slice(1);
  const fail = (why: string): never => {
    throw new ProtocolError(`${describe(type)} frame ${why}`, { frameType: type });
  };
  const expect = (n: number) => {
    if (args.length !== n) fail(`has ${args.length} fields, expected ${n}`);
    args.forEach((field, i) => {
      if (field.length === 0) fail(`has an empty field ${i + 1}`);
      if (hasControl(field)) fail(`has a control character in field ${i + 1}`);
    });
  };
  switch (type) {
    case "L":
    case "A":
      expect(0);
      return { type };
    case "G":
      expect(args.length);
      return { type, rooms: args };
    case "J":
    case "D": {
      expect(4);
      const [room, name, ip, port] = args as [string, string, string, string];
      return { type, room, name, ip, port: parsePort(port, fail) };
    }
    case "M": {
      if (args.length < 1 || (args.length - 1) % 3 !== 0) {
        fail(`has ${args.length} fields, expected an MSID and name:ip:port triples`);
      }
      expect(args.length);
      const msid = parseUnsigned(args[0]!, "MSID", fail);
      const members: Member[] = [];
      for (let i = 1; i < args.length; i += 3) {
        members.push({ name: args[i]!, ip: args[i + 1]!, port: parsePort(args[i + 2]!, fail) });
      }
      return { type, msid, members };
    }
    case "F":
      if (args.length === 0) fail("has no message");
      return { type, message: args.join(":") };
    case "P": {
      expect(5);
      const [room, name, ip, port, msgId] = args as [string, string, string, string, string];
      return {
        type,
        room,
        name,
        ip,
        port: parsePort(port, fail),
        msgId: parseUnsigned(msgId, "msgID", fail),
      };
    }
    case "S":
      if (args.length === 0) return { type, msgId: null };
      expect(1);
      return { type, msgId: parseUnsigned(args[0]!, "msgID", fail) };
    case "K": {
      expect(2);
      const [room, name] = args as [string, string];
      return { type, room, name };
    }
    default:
      throw new ProtocolError(`Unknown frame type ${JSON.stringify(type)}`, { frameType: type });
  }
}

/** Where a `T` frame's content starts, its declared length, and its other header fields. */
export interface TextHeader {
  /** The frame type. */
  type: "T";
  /** Offset of the first content byte. */
  contentStart: number;
  /** The declared `msgLength`. */
  contentLength: number;
  /** The header fields before the length: room, originHID, originName, msgID. */
  fields: [string, string, string, string];
}

/** Where an `X` frame's JSON starts, and its declared `<len>`. */
export interface ExtensionHeader {
  /** The frame type. */
  type: "X";
  /** Offset of the first byte of the JSON. */
  contentStart: number;
  /** The declared `<len>`. */
  contentLength: number;
}

/** The header of a frame whose content is taken by length: `T` or `X`. */
export type ContentHeader = TextHeader | ExtensionHeader;

/**
 * Parses a `T` frame's header from the start of `bytes`, or returns null when
 * the six `:` of the header have not all arrived within `limit` bytes yet.
 *
 * @throws {ProtocolError} (fatal) when the header is malformed or longer than `limit`
 */
export function parseTextHeader(bytes: Uint8Array, limit: number): TextHeader | null {
  const colons: number[] = [];
  const end = Math.min(bytes.length, limit);
  for (let i = 0; i < end && colons.length < 6; i++) {
    if (bytes[i] === COLON) colons.push(i);
  }
  if (colons.length < 6) {
    if (bytes.length >= limit) {
      throw new ProtocolError(`TEXT frame header longer than ${limit} bytes`, {
        frameType: "T",
        fatal: true,
      });
    }
    return null;
  }
  const field = (k: number) => decoder.decode(bytes.subarray(colons[k]! + 1, colons[k + 1]!));
  const fail = (why: string): never => {
    throw new ProtocolError(`TEXT frame ${why}`, { frameType: "T", fatal: true });
  };
  if (colons[0] !== 1) fail("does not start with 'T:'");
  const lengthText = field(4);
  if (!/^\d{1,10}$/.test(lengthText)) {
    fail(`has msgLength ${JSON.stringify(lengthText)}, not a number`);
  }
  return {
    type: "T",
    contentStart: colons[5]! + 1,
    contentLength: Number(lengthText),
    fields: [field(0), field(1), field(2), field(3)],
  };
}

/** Longest `<len>` of an `X` frame, in digits; more than any limit needs. */
const MAX_LENGTH_DIGITS = 10;

/**
 * Parses an `X` frame's header `X:<len>:` from the start of `bytes`, or
 * returns null when it has not all arrived yet. Only a frame whose third byte
 * is a digit is taken by length (a reader frames `X::\r\n` and other
 * garbage by line, as before ringchat/2); check that first.
 *
 * @throws {ProtocolError} (fatal) when the length is not 1–10 digits followed by `:`
 */
export function parseExtensionHeader(bytes: Uint8Array): ExtensionHeader | null {
  let i = 2;
  while (i < bytes.length && i < 2 + MAX_LENGTH_DIGITS && isDigit(bytes[i]!)) i++;
  if (i === bytes.length) return null;
  if (bytes[0] !== X || bytes[1] !== COLON || i === 2 || bytes[i] !== COLON) {
    throw new ProtocolError("EXTENSION frame does not start with 'X:<length>:'", {
      frameType: "X",
      fatal: true,
    });
  }
  let contentLength = 0;
  for (let k = 2; k < i; k++) contentLength = contentLength * 10 + bytes[k]! - 0x30;
  return { type: "X", contentStart: i + 1, contentLength };
}

/**
 * True when `bytes` (the start of a frame) is an `X` frame taken by length:
 * `X:` and a digit. Null when too few bytes arrived to tell.
 */
export function isLengthFramedExtension(bytes: Uint8Array): boolean | null {
  if (bytes[0] !== X) return false;
  if (bytes.length < 2) return null;
  if (bytes[1] !== COLON) return false;
  if (bytes.length < 3) return null;
  return isDigit(bytes[2]!);
}

function isDigit(byte: number): boolean {
  return byte >= 0x30 && byte <= 0x39;
}

/** Checks that `bytes` is exactly the header, its content and `::\r\n`. */
function checkContent(
  bytes: Uint8Array,
  header: ContentHeader,
  fail: (why: string) => never,
  what: string,
): void {
  const end = header.contentStart + header.contentLength;
  if (bytes.length !== end + 4) {
    fail(
      `${what} is ${bytes.length - 4 - header.contentStart} bytes, ` +
        `${header.type === "T" ? "msgLength" : "its length"} says ${header.contentLength}`,
    );
  }
  for (let i = 0; i < 4; i++) {
    if (bytes[end + i] !== TERMINATOR_BYTES[i]) {
      fail(`does not end with '::\\r\\n' after its ${what}`);
    }
  }
}

function decodeText(bytes: Uint8Array, parsed: TextHeader | null): TextFrame {
  const fail = (why: string): never => {
    throw new ProtocolError(`TEXT frame ${why}`, { frameType: "T" });
  };
  const header = parsed ?? parseTextHeader(bytes, bytes.length + 1);
  if (header === null) return fail("has fewer than 6 fields");
  checkContent(bytes, header, fail, "content");
  const end = header.contentStart + header.contentLength;
  const [room, originHid, originName, msgId] = header.fields;
  if (room.length === 0) fail("has an empty room");
  if (originHid.length === 0) fail("has an empty originHID");
  return {
    type: "T",
    room,
    originHid,
    originName,
    msgId: parseUnsigned(msgId, "msgID", fail),
    text: decoder.decode(bytes.subarray(header.contentStart, end)),
  };
}

function decodeExtension(bytes: Uint8Array, parsed: ExtensionHeader | null): ExtensionFrame {
  const fail = (why: string): never => {
    throw new ProtocolError(`EXTENSION frame ${why}`, { frameType: "X" });
  };
  const header = parsed ?? wholeExtensionHeader(bytes);
  if (header === null) return fail("does not start with 'X:<length>:'");
  checkContent(bytes, header, fail, "JSON");
  if (header.contentLength > MAX_EXTENSION_JSON_BYTES) {
    fail(`JSON of ${header.contentLength} bytes exceeds the limit of ${MAX_EXTENSION_JSON_BYTES}`);
  }
  const end = header.contentStart + header.contentLength;
  for (let i = header.contentStart; i < end; i++) {
    if (bytes[i]! >= 0x80) fail(`has a non-ASCII byte at ${i}`);
  }
  let value: unknown;
  try {
    // Not JSON.parse: V8 15 can misname a key written with escapes (json_parse.ts).
    value = parseJson(decoder.decode(bytes.subarray(header.contentStart, end)));
  } catch (error) {
    return fail(`JSON does not parse: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail("JSON is not an object");
  }
  if (!writableNumbers(value as object)) fail("JSON has a number out of range");
  const { op, ...body } = value as Record<string, unknown>;
  if (typeof op !== "string") fail('has no "op" string');
  return { type: "X", op: op as string, body };
}

/** The header of a whole `X` frame, or null when it has none that a reader would take by length. */
function wholeExtensionHeader(bytes: Uint8Array): ExtensionHeader | null {
  if (isLengthFramedExtension(bytes) !== true) return null;
  try {
    return parseExtensionHeader(bytes);
  } catch (error) {
    if (error instanceof ProtocolError) return null;
    throw error;
  }
}

/**
 * Keeps a parsed JSON value writable again, in place: `-0` becomes `0` (as
 * `JSON.stringify` writes it); false when a number is out of range (`1e999`
 * parses as `Infinity`, which it would write as `null`). A loop, not a
 * recursion, so deep nesting cannot overflow the stack; several times
 * faster than a `JSON.parse` reviver.
 */
function writableNumbers(root: object): boolean {
  const pending: object[] = [root];
  for (let container = pending.pop(); container !== undefined; container = pending.pop()) {
    const record = container as Record<string, unknown>;
    const keys = Array.isArray(container) ? null : Object.keys(container);
    const count = keys === null ? (container as unknown[]).length : keys.length;
    for (let i = 0; i < count; i++) {
      const key = keys === null ? i : keys[i]!;
      const value = record[key];
      if (typeof value === "number") {
        if (!Number.isFinite(value)) return false;
        // defineProperty, not assignment: a key "__proto__" must stay a plain property.
        if (Object.is(value, -0)) Object.defineProperty(record, key, { value: 0 });
      } else if (typeof value === "object" && value !== null) {
        pending.push(value);
      }
    }
  }
  return true;
}

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function parsePort(text: string, fail: (why: string) => never): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) fail(`has port ${JSON.stringify(text)}`);
  return Number(text);
}

const MAX_U64 = (1n << 64n) - 1n;

function parseUnsigned(text: string, what: string, fail: (why: string) => never): bigint {
  if (!/^\d{1,20}$/.test(text)) fail(`has ${what} ${JSON.stringify(text)}, not an unsigned number`);
  const value = BigInt(text);
  if (value > MAX_U64) fail(`has ${what} ${text}, over 64 bits`);
  return value;
}

const NAMES: Record<string, string> = {
  L: "LIST",
  G: "ROOMS",
  J: "JOIN",
  M: "MEMBERS",
  F: "FAILURE",
  D: "DEPART",
  P: "HANDSHAKE",
  S: "SUCCESS",
  T: "TEXT",
  K: "POKE",
  A: "ACK",
  X: "EXTENSION",
};

function describe(type: string): string {
  return NAMES[type] ?? `Unknown (${JSON.stringify(type)})`;
}
