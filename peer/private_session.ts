/**
 * The private room a peer is in, if any (docs/extensions.md, Private rooms):
 * {@linkcode PrivateSession.enter} derives the room's wire name and text key
 * from its real name and password (`private_room.ts`: PBKDF2 in WebCrypto,
 * about 0.2 s, off the event loop) before the JOIN; from then on every `T`
 * content I send is encrypted and every one I show is decrypted, bound to the
 * wire room, the origin's HashID and name and the msgID. Events show the real
 * name ({@linkcode PrivateSession.shown}); the registry, links and seed
 * clients only ever see the wire name and ciphertext.
 *
 * A text that does not decrypt (written by a seed client or anyone else who
 * joined the wire name without the password, altered, or replayed under
 * another msgID) is not shown: {@linkcode PrivateSession.decrypt} gives null.
 * It is still forwarded like any text, since the flood carries the room's
 * texts whatever they are; each member decides for itself.
 *
 * @module
 */

import { PeerError } from "./errors.ts";
import {
  decryptText,
  decryptTextSync,
  type DeriveOptions,
  derivePrivateRoom,
  encryptText,
  type PrivateRoom,
  type TextBinding,
} from "./private_room.ts";

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The private room of the current join; see the module doc. */
export class PrivateSession {
  readonly #derive: DeriveOptions;
  #room: PrivateRoom | null = null;

  /** A session in no private room; `derive` is for tests (fewer PBKDF2 iterations). */
  constructor(derive: DeriveOptions = {}) {
    this.#derive = derive;
  }

  /** The private room I am in, or null. */
  get room(): PrivateRoom | null {
    return this.#room;
  }

  /**
   * The name to JOIN for room `name`: with a password, its derived wire name
   * (and texts are encrypted from now on); without, `name` itself (no private
   * room), unless `name` is my private room's wire name (a rejoin of it, as
   * after a rename): then it stays my private room.
   *
   * @throws {PeerError} `bad-room-password` when the password is empty or
   * longer than 1,024 bytes
   */
  async enter(name: string, password?: string): Promise<string> {
    if (password === undefined && this.#room?.wireName === name) return name;
    this.#room = null;
    if (password === undefined) return name;
    let room: PrivateRoom;
    try {
      room = await derivePrivateRoom(name, password, this.#derive);
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      throw new PeerError("bad-room-password", error.message);
    }
    this.#room = room;
    return room.wireName;
  }

  /** Leaves the private room (a JOIN failed, or the peer left it). */
  leave(): void {
    this.#room = null;
  }

  /** The private room whose wire name is `wireRoom`, or null. */
  roomOf(wireRoom: string): PrivateRoom | null {
    return this.#room?.wireName === wireRoom ? this.#room : null;
  }

  /** The room name events show for the wire room `wireRoom`: the real name of mine. */
  shown(wireRoom: string): string {
    return this.roomOf(wireRoom)?.name ?? wireRoom;
  }

  /** `text` encrypted for a `T` of my private room `room` bound to `binding`. */
  encrypt(
    room: PrivateRoom,
    text: string,
    binding: Omit<TextBinding, "wireRoom">,
  ): Promise<string> {
    return encryptText(room.key, encoder.encode(text), { ...binding, wireRoom: room.wireName });
  }

  /**
   * The plaintext of the `T` content `content` of the wire room `wireRoom`,
   * or null when it does not decrypt. A room that is not my private room
   * passes its texts as they are.
   */
  /** {@linkcode PrivateSession.decrypt} done synchronously (the history's catch-up). */
  decryptSync(
    wireRoom: string,
    content: string,
    binding: Omit<TextBinding, "wireRoom">,
  ): string | null {
    const room = this.roomOf(wireRoom);
    if (room === null) return content;
    try {
      return strictDecoder.decode(decryptTextSync(room.rawKey, content, { ...binding, wireRoom }));
    } catch {
      return null;
    }
  }

  async decrypt(
    wireRoom: string,
    content: string,
    binding: Omit<TextBinding, "wireRoom">,
  ): Promise<string | null> {
    const room = this.roomOf(wireRoom);
    if (room === null) return content;
    try {
      const plain = await decryptText(room.key, content, { ...binding, wireRoom });
      return strictDecoder.decode(plain);
    } catch {
      return null;
    }
  }
}
