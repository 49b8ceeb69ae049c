/**
 * Pulling a text's signature from its origin (docs/security.md, "Texts
 * relayed by seed clients"): a seed client relays a ringchat member's text
 * as a plain `T`, without its signature. Before showing it, a ringchat peer
 * asks the origin for it over a fresh connection whose first frame is the
 * `X` op `text-sig-request` (PROTOCOL.md §9: a seed peer closes such a
 * connection at once, so it is a safe probe); the origin answers `text-sig`
 * with the signature it made, or none, and closes.
 *
 * {@linkcode OwnSignatures} is the origin's side: the signatures of its last
 * messages. {@linkcode SigFetcher} is the asking side: one request per
 * (origin, msgID) at a time, at most `maxFetches` at once.
 *
 * @module
 */

import type { ExtensionFrame, Member } from "../lib/frames.ts";
import { decode } from "./link_auth.ts";
import { answerProbe, probe, type Probed } from "./links.ts";

/** The op of a request. */
export const SIG_REQUEST_OP = "text-sig-request";
/** The op of its answer. */
export const SIG_OP = "text-sig";

const B64URL = { alphabet: "base64url", omitPadding: true } as const;

/** Signatures of my own messages kept to answer requests (the oldest are dropped first). */
export const MAX_OWN_SIGNATURES = 4096;
/** Requests under way at once, at most; beyond, a text is treated as unreachable. */
export const MAX_FETCHES = 64;

/** The signatures of my last messages, by msgID. */
export class OwnSignatures {
  readonly #sigs = new Map<string, string>();

  /** Keeps the signature of my message `msgId`. */
  add(msgId: bigint, sig: Uint8Array): void {
    this.#sigs.set(msgId.toString(), sig.toBase64(B64URL));
    if (this.#sigs.size > MAX_OWN_SIGNATURES) this.#sigs.delete(this.#sigs.keys().next().value!);
  }

  /**
   * Answers a probe: a `text-sig-request` for my origin in my room gets the
   * signature I made for that msgID (or `sig: null`); anything else is closed
   * unanswered.
   */
  answer(probed: Probed, room: string | null, myHid: string | null): Promise<void> {
    const { probe: request, conn } = probed;
    const { room: asked, origin, msgId } = request.body;
    if (
      request.op !== SIG_REQUEST_OP || room === null || asked !== room || origin !== myHid ||
      typeof msgId !== "string"
    ) {
      conn.close();
      return Promise.resolve();
    }
    const sig = this.#sigs.get(msgId) ?? null;
    return answerProbe(conn, { type: "X", op: SIG_OP, body: { room, origin, msgId, sig } });
  }
}

/** What asking for a signature gave: the signature, none (the origin never signed it), or no answer. */
export type Fetched = Uint8Array | "none" | "unreachable";

/** The asking side; see the module doc. */
export class SigFetcher {
  readonly #timeoutMs: number;
  readonly #signal: AbortSignal;
  readonly #pending = new Map<string, Promise<Fetched>>();

  /** Asks with `timeoutMs` per request, until `signal` aborts. */
  constructor(timeoutMs: number, signal: AbortSignal) {
    this.#timeoutMs = timeoutMs;
    this.#signal = signal;
  }

  /** Requests under way. */
  get pending(): number {
    return this.#pending.size;
  }

  /** The signature `origin` (the member) made for its message `msgId` in `room`. */
  fetch(origin: Member, room: string, originHid: string, msgId: bigint): Promise<Fetched> {
    const key = `${originHid}:${msgId}`;
    const running = this.#pending.get(key);
    if (running !== undefined) return running;
    if (this.#pending.size >= MAX_FETCHES) return Promise.resolve("unreachable");
    const request: ExtensionFrame = {
      type: "X",
      op: SIG_REQUEST_OP,
      body: { room, origin: originHid, msgId: msgId.toString() },
    };
    const fetching = probe(origin, request, this.#timeoutMs, this.#signal, 4096)
      .then((reply): Fetched => {
        if (reply.type !== "X" || reply.op !== SIG_OP || reply.body.msgId !== msgId.toString()) {
          return "unreachable";
        }
        if (reply.body.sig === null) return "none";
        const sig = decode(reply.body.sig);
        return sig === null || sig.length !== 64 ? "none" : sig;
      }, (): Fetched => "unreachable")
      .finally(() => this.#pending.delete(key));
    this.#pending.set(key, fetching);
    return fetching;
  }
}
