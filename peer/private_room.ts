/**
 * Private rooms: a room name and a password give, through WebCrypto, the
 * room's name on the wire and the key that encrypts every text in it, so
 * neither the registry, nor a seed client, nor anyone without the password
 * learns the room's name or reads its text. A wrong password is simply
 * another room (another wire name, another key). Members see the real name.
 *
 * Derivation ({@linkcode derivePrivateRoom}), once per join:
 *
 * 1. PBKDF2-HMAC-SHA-256 over the password (Unicode NFC, UTF-8), salt
 *    `"ringchat/2 private room\n" + name`, {@linkcode PBKDF2_ITERATIONS}
 *    (600,000: the OWASP Password Storage Cheat Sheet's figure for
 *    PBKDF2-HMAC-SHA256), 256 bits. Every member must derive the same
 *    without talking to anyone, so the salt is the room name, not random:
 *    the iteration count is what makes guessing passwords slow.
 * 2. HKDF-SHA-256 from that secret: 18 bytes with info
 *    `"ringchat/2 wire room name"` give the wire name, `"~"` and their 24
 *    base64url characters (25 printable ASCII characters, no `:`, within the
 *    32 of a room name); 32 bytes with info `"ringchat/2 text key"` give an
 *    AES-256-GCM key (not extractable).
 *
 * A text ({@linkcode encryptText}) travels as ordinary `T` content:
 * `"~e1~"` and the base64url (no padding) of a 12-byte random nonce, then
 * AES-256-GCM of the padded plaintext with its 16-byte tag. So seed clients
 * only ever see printable ASCII. The additional data binds the wire room,
 * the origin's HashID and name and the msgID: a ciphertext replayed under
 * another msgID, origin or room does not decrypt. The plaintext is padded
 * (a `0x80` byte, then zeros) to a multiple of {@linkcode PAD_BYTES} bytes, so
 * the content length tells the plaintext length only to that granularity.
 * {@linkcode maxPlaintextBytes} says how much plaintext fits a content
 * bound: 319 bytes for a seed client's 500.
 *
 * Measured on the 2-core AMD EPYC of this project's machines (Deno 2.9.6,
 * load average 4.4 from other work): derivation 151 to 204 ms (median 191 of
 * 5) per join, off the event loop (5 ms timers kept firing during it); a 319-byte text encrypts in 0.043 ms and decrypts in 0.045 ms
 * (mean of 20,000; 468 bytes of content); 60,000 bytes encrypt and decrypt
 * in 1.25 ms.
 *
 * @example
 * ```ts
 * import { equal, match } from "node:assert/strict";
 * import { decryptText, derivePrivateRoom, encryptText } from "./private_room.ts";
 * const room = await derivePrivateRoom("plans", "correct horse battery staple");
 * match(room.wireName, /^~[A-Za-z0-9_-]{24}$/);
 * const binding = { wireRoom: room.wireName, originHid: "1", originName: "alice", msgId: 7n };
 * const content = await encryptText(room.key, new TextEncoder().encode("hi"), binding);
 * equal(new TextDecoder().decode(await decryptText(room.key, content, binding)), "hi");
 * ```
 *
 * @module
 */

import { createDecipheriv } from "node:crypto";
import { ProtocolError } from "../lib/errors.ts";
import { nameProblem } from "../lib/names.ts";

const encoder = new TextEncoder();

/** PBKDF2-HMAC-SHA-256 iterations (OWASP Password Storage Cheat Sheet, 2023 onwards). */
export const PBKDF2_ITERATIONS = 600_000;

/** The first characters of every wire name of a private room. */
export const PRIVATE_ROOM_PREFIX = "~";

/** The first characters of every encrypted text (format version 1). */
export const ENCRYPTED_TEXT_PREFIX = "~e1~";

/** Plaintext is padded to a multiple of this many bytes. */
export const PAD_BYTES = 32;

/** Longest password taken, in UTF-8 bytes. */
export const MAX_PASSWORD_BYTES = 1024;

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const WIRE_NAME_BYTES = 18;
const SALT_PREFIX = "ringchat/2 private room\n";

/** A private room as a member holds it. */
export interface PrivateRoom {
  /** The room's real name, as members see it. */
  name: string;
  /** The room's name on the wire: what the registry, links and `T` frames carry. */
  wireName: string;
  /** The AES-256-GCM key of the room's texts (not extractable). */
  key: CryptoKey;
  /**
   * The same key's 32 bytes, for {@linkcode decryptTextSync} (the history's
   * catch-up decrypts in its own synchronous order); kept in memory only.
   */
  rawKey: Uint8Array;
}

/** Options of {@linkcode derivePrivateRoom}. */
export interface DeriveOptions {
  /** PBKDF2 iterations; every member must use the same. @default {PBKDF2_ITERATIONS} */
  iterations?: number;
}

/**
 * Derives a private room's wire name and key from its name and password (see
 * the module doc). Slow on purpose: about 0.2 s.
 *
 * @throws {RangeError} when the name is not a valid room name, or the password
 * is empty or longer than {@linkcode MAX_PASSWORD_BYTES}
 */
export async function derivePrivateRoom(
  name: string,
  password: string,
  options: DeriveOptions = {},
): Promise<PrivateRoom> {
  const problem = nameProblem(name, "Room name");
  if (problem !== null) throw new RangeError(problem);
  const secret = encoder.encode(password.normalize("NFC"));
  if (secret.length === 0) throw new RangeError("Password must not be empty");
  if (secret.length > MAX_PASSWORD_BYTES) {
    throw new RangeError(`Password must be at most ${MAX_PASSWORD_BYTES} bytes`);
  }
  const iterations = options.iterations ?? PBKDF2_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new RangeError(`PBKDF2 iterations must be a positive integer, got ${iterations}`);
  }
  const passwordKey = await crypto.subtle.importKey("raw", secret, "PBKDF2", false, [
    "deriveBits",
  ]);
  const stretched = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: encoder.encode(SALT_PREFIX + name), iterations },
    passwordKey,
    256,
  );
  const master = await crypto.subtle.importKey("raw", stretched, "HKDF", false, [
    "deriveBits",
    "deriveKey",
  ]);
  const hkdf = (info: string) => ({
    name: "HKDF",
    hash: "SHA-256",
    salt: new Uint8Array(),
    info: encoder.encode(info),
  });
  const nameBits = await crypto.subtle.deriveBits(
    hkdf("ringchat/2 wire room name"),
    master,
    WIRE_NAME_BYTES * 8,
  );
  const rawKey = new Uint8Array(
    await crypto.subtle.deriveBits(hkdf("ringchat/2 text key"), master, 256),
  );
  const key = await crypto.subtle.importKey("raw", rawKey, { name: "AES-GCM" }, false, [
    "encrypt",
    "decrypt",
  ]);
  const wireName = PRIVATE_ROOM_PREFIX + base64url(new Uint8Array(nameBits));
  return { name, wireName, key, rawKey };
}

/** What an encrypted text is bound to: a ciphertext decrypts only under the same. */
export interface TextBinding {
  /** The room's wire name. */
  wireRoom: string;
  /** The origin's HashID, decimal, as in the `T` frame. */
  originHid: string;
  /** The origin's user name, as in the `T` frame. */
  originName: string;
  /** The msgID of the `T` frame. */
  msgId: bigint;
}

/**
 * Encrypts a text for a `T` frame bound to `binding` (see the module doc):
 * printable ASCII, {@linkcode ENCRYPTED_TEXT_PREFIX} first.
 */
export async function encryptText(
  key: CryptoKey,
  plaintext: Uint8Array,
  binding: TextBinding,
): Promise<string> {
  const padded = new Uint8Array(paddedLength(plaintext.length));
  padded.set(plaintext);
  padded[plaintext.length] = 0x80;
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: additionalData(binding) },
      key,
      padded,
    ),
  );
  const body = new Uint8Array(NONCE_BYTES + sealed.length);
  body.set(nonce);
  body.set(sealed, NONCE_BYTES);
  return ENCRYPTED_TEXT_PREFIX + base64url(body);
}

/**
 * Decrypts a `T` content made by {@linkcode encryptText} under the same key
 * and binding, and returns the plaintext bytes.
 *
 * @throws {ProtocolError} when the content is not an encrypted text, or it
 * was altered, or encrypted under another key, room, origin or msgID
 */
export async function decryptText(
  key: CryptoKey,
  content: string,
  binding: TextBinding,
): Promise<Uint8Array> {
  const body = encryptedBody(content);
  let padded: Uint8Array;
  try {
    padded = new Uint8Array(
      await crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: body.subarray(0, NONCE_BYTES),
          additionalData: additionalData(binding),
        },
        key,
        body.subarray(NONCE_BYTES),
      ),
    );
  } catch {
    throw new ProtocolError("Encrypted text does not authenticate", { frameType: "T" });
  }
  return unpadded(padded);
}

/**
 * {@linkcode decryptText} done synchronously (node:crypto) with the key's
 * bytes ({@linkcode PrivateRoom.rawKey}): the same plaintext, the same errors.
 *
 * @throws {ProtocolError} as {@linkcode decryptText}
 */
export function decryptTextSync(
  rawKey: Uint8Array,
  content: string,
  binding: TextBinding,
): Uint8Array {
  const body = encryptedBody(content);
  let padded: Uint8Array;
  try {
    const tagAt = body.length - TAG_BYTES;
    const decipher = createDecipheriv("aes-256-gcm", rawKey, body.subarray(0, NONCE_BYTES), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(additionalData(binding));
    decipher.setAuthTag(body.subarray(tagAt));
    const head = decipher.update(body.subarray(NONCE_BYTES, tagAt));
    const tail = decipher.final();
    padded = new Uint8Array(head.length + tail.length);
    padded.set(head);
    padded.set(tail, head.length);
  } catch {
    throw new ProtocolError("Encrypted text does not authenticate", { frameType: "T" });
  }
  return unpadded(padded);
}

/** The nonce, ciphertext and tag of an encrypted text. @throws {ProtocolError} */
function encryptedBody(content: string): Uint8Array<ArrayBuffer> {
  if (!isEncryptedText(content)) {
    throw new ProtocolError("Text in a private room is not encrypted", { frameType: "T" });
  }
  const body = fromBase64url(content.slice(ENCRYPTED_TEXT_PREFIX.length));
  if (body === null || body.length < NONCE_BYTES + TAG_BYTES + PAD_BYTES) {
    throw new ProtocolError("Encrypted text is malformed", { frameType: "T" });
  }
  return body;
}

/** The plaintext of a decrypted, padded text. @throws {ProtocolError} on bad padding */
function unpadded(padded: Uint8Array): Uint8Array {
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (end < 0 || padded[end] !== 0x80) {
    throw new ProtocolError("Encrypted text has bad padding", { frameType: "T" });
  }
  return padded.slice(0, end);
}

/** True when a `T` content has the form of an encrypted text (it may still not decrypt). */
export function isEncryptedText(content: string): boolean {
  return content.startsWith(ENCRYPTED_TEXT_PREFIX);
}

/**
 * The most plaintext bytes whose encrypted text is at most `contentBytes`
 * long (for 500, the seed's limit: 319), or 0 under 84 bytes, the shortest
 * encrypted text. Split a long text with it before encrypting each part.
 */
export function maxPlaintextBytes(contentBytes: number): number {
  const bodyBytes = Math.floor((contentBytes - ENCRYPTED_TEXT_PREFIX.length) * 3 / 4);
  const padded = Math.floor((bodyBytes - NONCE_BYTES - TAG_BYTES) / PAD_BYTES) * PAD_BYTES;
  return Math.max(0, padded - 1);
}

/** The length of an encrypted text of `plaintextBytes` bytes. */
export function encryptedTextLength(plaintextBytes: number): number {
  const body = NONCE_BYTES + paddedLength(plaintextBytes) + TAG_BYTES;
  return ENCRYPTED_TEXT_PREFIX.length + Math.ceil(body * 4 / 3);
}

function paddedLength(plaintextBytes: number): number {
  return (Math.floor(plaintextBytes / PAD_BYTES) + 1) * PAD_BYTES;
}

function additionalData(binding: TextBinding): Uint8Array<ArrayBuffer> {
  return encoder.encode(
    `ringchat/2 text v1\n${binding.wireRoom}\n${binding.originHid}\n${binding.originName}\n${binding.msgId}`,
  );
}

function base64url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/** Decodes canonical unpadded base64url, or null. */
function fromBase64url(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    const bytes = Uint8Array.fromBase64(text, {
      alphabet: "base64url",
      lastChunkHandling: "loose",
    });
    return base64url(bytes) === text ? bytes : null;
  } catch {
    return null;
  }
}
