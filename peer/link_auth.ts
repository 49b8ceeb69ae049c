/**
 * Link authentication between ringchat peers (CONTRACTS2.md, docs/extensions.md
 * `link-auth` and `link-proof`): each side of a link whose other side the
 * registry's member-info lists with a proved key sends a fresh challenge,
 * and answers the other's with an Ed25519 signature of
 * {@linkcode handshakeSigningInput} (its own claim, its role, the challenge
 * and the verifier's key as the member-info gives it).
 *
 * {@linkcode LinkAuth} is the exchange of one connection, without I/O: it
 * makes the frames to write and judges the frames read. The accepting side
 * withholds its `S` until the linking side proved its key (so a `P` claiming
 * a keyed member from another socket never gets an `S`, and never retires
 * that member's real link); the linking side sends its challenge right after
 * its `P` and takes the proof before or after the `S`, within the handshake
 * timeout, or drops the link.
 *
 * @module
 */

import { encodeFrame, type ExtensionFrame, type Member } from "../lib/frames.ts";
import { handshakeSigningInput, type Identity, newChallenge, verify } from "./identity.ts";

/** The op of a challenge. */
export const LINK_AUTH_OP = "link-auth";
/** The op of a proof. */
export const LINK_PROOF_OP = "link-proof";

/** True for the ops of link authentication (a challenge or a proof). */
export function isAuthOp(op: string): boolean {
  return op === LINK_AUTH_OP || op === LINK_PROOF_OP;
}

const B64URL = { alphabet: "base64url", omitPadding: true } as const;

/** Which side of the link. */
export type LinkRole = "link" | "accept";

/** What an exchange knows of both sides. */
export interface LinkAuthParams {
  /** My key pair; null for a peer without one (it neither challenges nor proves). */
  identity: Identity | null;
  room: string;
  /** Me as I claim to be on this link (as in my `P`, or as listed). */
  me: Member;
  /** The other side as it claims to be (its `P`, or the member I dialled). */
  peer: Member;
  /** The other side's proved key per the member-info; undefined when it has none. */
  peerKey: string | undefined;
  /** My side of the link. */
  role: LinkRole;
}

/** What a frame of the exchange did. */
export type AuthOutcome =
  /** Nothing decided (a challenge answered, or not an auth op). */
  | { kind: "none"; reply?: Uint8Array }
  /** The other side proved its key. */
  | { kind: "proved" }
  /** Its proof is wrong or unsolicited. */
  | { kind: "failed"; why: string };

/** The authentication of one link; see the module doc. */
export class LinkAuth {
  readonly #p: LinkAuthParams;
  #challenge: Uint8Array | null = null;
  /** A challenge of the other side's I could not answer yet (its key unknown to me). */
  #unanswered: unknown = undefined;
  /**
   * Where a late answer goes while the handshake is under way (set by the
   * side that owns the connection; null once the link is made).
   */
  sink: ((bytes: Uint8Array) => void) | null = null;
  #verified = false;
  #speaks = false;

  /** The exchange for one link. */
  constructor(params: LinkAuthParams) {
    this.#p = { ...params };
  }

  /** True when the other side must prove a key: the member-info gives it one and I have mine. */
  get required(): boolean {
    return this.#p.peerKey !== undefined && this.#p.identity !== null;
  }

  /** True once the other side proved its key on this link. */
  get verified(): boolean {
    return this.#verified;
  }

  /** True while my challenge waits for its proof. */
  get pending(): boolean {
    return this.#challenge !== null && !this.#verified;
  }

  /** True when the other side showed it speaks ringchat/2 (it sent me an auth op). */
  get speaksRingchat(): boolean {
    return this.#speaks;
  }

  /** The other side's key this exchange checks against. */
  get peerKey(): string | undefined {
    return this.#p.peerKey;
  }

  /**
   * Takes the other side's key from a later member-info; answers a challenge
   * that waited for it (the frame to send), if any.
   */
  async setPeerKey(key: string | undefined): Promise<Uint8Array | undefined> {
    if (key === this.#p.peerKey) return undefined;
    this.#p.peerKey = key;
    this.#verified = false;
    const waiting = this.#unanswered;
    this.#unanswered = undefined;
    return waiting === undefined ? undefined : await this.#prove(waiting);
  }

  /** A `link-auth` frame with a fresh challenge (replacing any earlier one). */
  challenge(): Uint8Array {
    this.#challenge = newChallenge();
    this.#verified = false;
    return encodeFrame({
      type: "X",
      op: LINK_AUTH_OP,
      body: { challenge: this.#challenge.toBase64(B64URL) },
    });
  }

  /**
   * Judges an `X` frame read on the link: answers a challenge with my proof
   * (only to a peer whose key I know, so my proof cannot be relayed to
   * another verifier), checks a proof against my challenge.
   */
  async handle(frame: ExtensionFrame): Promise<AuthOutcome> {
    if (frame.op === LINK_AUTH_OP) {
      this.#speaks = true;
      return { kind: "none", reply: await this.#prove(frame.body.challenge) };
    }
    if (frame.op !== LINK_PROOF_OP) return { kind: "none" };
    this.#speaks = true;
    const challenge = this.#challenge;
    const { identity, peerKey, peer, room } = this.#p;
    if (challenge === null || identity === null || peerKey === undefined || this.#verified) {
      return { kind: "failed", why: "it sent a link-proof I did not ask for" };
    }
    const sig = decode(frame.body.sig);
    const input = handshakeSigningInput({
      room,
      name: peer.name,
      ip: peer.ip,
      port: peer.port,
      role: this.#p.role === "link" ? "accept" : "link",
      challenge,
      verifierKey: identity.publicKey,
    });
    if (sig === null || !(await verify(peerKey, input, sig))) {
      return { kind: "failed", why: "its link-proof does not verify with its registered key" };
    }
    this.#challenge = null;
    this.#verified = true;
    return { kind: "proved" };
  }

  async #prove(challengeField: unknown): Promise<Uint8Array | undefined> {
    const { identity, peerKey, me, room, role } = this.#p;
    const challenge = decode(challengeField);
    if (peerKey === undefined) this.#unanswered = challengeField;
    if (identity === null || peerKey === undefined || challenge === null) return undefined;
    if (challenge.length < 16 || challenge.length > 64) return undefined;
    const sig = await identity.sign(handshakeSigningInput({
      room,
      name: me.name,
      ip: me.ip,
      port: me.port,
      role,
      challenge,
      verifierKey: peerKey,
    }));
    return encodeFrame({ type: "X", op: LINK_PROOF_OP, body: { sig: sig.toBase64(B64URL) } });
  }
}

/** The bytes of a base64url field, or null when it is not one. */
export function decode(field: unknown): Uint8Array | null {
  if (typeof field !== "string" || !/^[A-Za-z0-9_-]*$/.test(field)) return null;
  try {
    return Uint8Array.fromBase64(field, { alphabet: "base64url" });
  } catch {
    return null;
  }
}
