/**
 * What a ringchat peer believes of a text's origin (issue 16, "Anyone is
 * anyone"; docs/security.md): every text from a link passes here before the
 * relay floods it. A member whose key the registry's member-info gives is a
 * *keyed* origin; its texts are shown and forwarded only when their
 * signature verifies (`verified: true`):
 *
 * - a `text` op with a signature: verified with the origin's key (copies
 *   already seen cost nothing); a wrong one is a forgery;
 * - a plain `T` of a keyed origin over a link whose other side proved its
 *   key: a forgery (a ringchat peer relays such texts as signed ops);
 * - a plain `T` of a keyed origin over any other link (a seed client relays
 *   it so), or an unsigned `text` op (a ringchat peer relaying such a `T`):
 *   its signature is pulled from the origin (sig_fetch.ts). The origin's
 *   signature: verified. The origin never signed it: a forgery. The origin
 *   unreachable: shown and forwarded as `verified: false`.
 *
 * Forgeries are dropped (not shown, not forwarded) and reported, a few at
 * a time. Texts of other origins (seed clients, ringchat peers without a
 * key) pass as they are, `verified: false`.
 *
 * Which encoding goes to which link: {@linkcode TextGuard.bytesFor} gives a
 * link whose other side speaks ringchat/2 the `text` op (signed when the
 * signature is known), any other link the `T`.
 *
 * @module
 */

import { encodeFrame, type ExtensionFrame, type TextFrame } from "../lib/frames.ts";
import type { Identity } from "./identity.ts";
import { textSigningInput } from "./identity.ts";
import type { Link } from "./links.ts";
import type { Membership } from "./membership.ts";
import type { OwnSignatures, SigFetcher } from "./sig_fetch.ts";
import { textFromOp, type TextOp, textOp, verifyText } from "./signed_text.ts";
import type { SeenWindow } from "./flood.ts";

/** What the guard needs from its peer. */
export interface TextGuardHost {
  readonly identity: Identity | null;
  /** True for a peer that speaks plain P2PChat only (it sends no `X`). */
  readonly plain: boolean;
  readonly members: Membership;
  readonly seen: SeenWindow;
  readonly fetcher: SigFetcher;
  readonly own: OwnSignatures;
  /** Hands a text on to the relay (its checks, storing, flooding, showing). */
  relay(from: Link, frame: TextFrame, raw: Uint8Array): void;
  /** Counts a text dropped as forged. */
  refused(): void;
  report(key: string, type: "info" | "error", message: string): void;
  track<T>(promise: Promise<T>): Promise<T>;
  /** Looks up members I do not know (throttled re-JOIN; its member-info comes with it). */
  lookUp(): Promise<unknown>;
  maxTextBytes: number;
}

/** Texts of unknown origins waiting for a look-up here, at most (then the relay judges them). */
export const MAX_GUARD_WAITING = 256;

/** Decides what is believed; see the module doc. */
export class TextGuard {
  readonly #host: TextGuardHost;
  /** The `text` op bytes of a text, by its `T` bytes. */
  readonly #ops = new WeakMap<Uint8Array, Uint8Array>();
  /** The verified signature of a text (mine included), by its `T` bytes. */
  readonly #verified = new WeakMap<Uint8Array, Uint8Array>();
  /** A `text` op whose `T` follows on the link. */
  readonly #follows = new WeakMap<Link, TextOp>();
  /** Verifications in arrival order, so texts are shown in the order they came. */
  #chain: Promise<void> = Promise.resolve();
  #waiting = 0;
  /** Texts that waited for a look-up already. */
  readonly #waited = new WeakSet<TextFrame>();

  /** A guard for `host`'s texts. */
  constructor(host: TextGuardHost) {
    this.#host = host;
  }

  /** True when the text whose `T` bytes are `raw` has a verified signature. */
  verified(raw: Uint8Array): boolean {
    return this.#verified.has(raw);
  }

  /** The verified signature of the text whose `T` bytes are `raw`, if any (kept in the history). */
  signatureOf(raw: Uint8Array): Uint8Array | undefined {
    return this.#verified.get(raw);
  }

  /** The bytes of the text `raw` for `link`: the `text` op to a ringchat peer, else the `T`. */
  bytesFor(link: Link, raw: Uint8Array): Uint8Array {
    if (!this.speaksRingchat(link)) return raw;
    return this.#ops.get(raw) ?? raw;
  }

  /** True when `link`'s other side speaks ringchat/2 (member-info, or it sent me an auth op). */
  speaksRingchat(link: Link): boolean {
    if (this.#host.plain) return false;
    return link.auth?.speaksRingchat === true ||
      this.#host.members.speaksRingchat(link.peer) === true;
  }

  /** Signs my text (its `T` bytes `raw`) when I have a key; its op goes to ringchat links. */
  async own(frame: TextFrame, raw: Uint8Array, content: Uint8Array): Promise<void> {
    const identity = this.#host.identity;
    if (identity === null) return;
    const sig = await identity.sign(
      textSigningInput(frame.room, frame.originHid, frame.msgId, content),
    );
    this.#host.own.add(frame.msgId, sig);
    this.#ops.set(raw, textOp(frame, raw, sig));
    this.#verified.set(raw, sig);
  }

  /** A `T` arrived on `from`. */
  onT(from: Link, frame: TextFrame, raw: Uint8Array, content: Uint8Array): void {
    const op = this.#follows.get(from);
    if (op === undefined && this.#lookingUp(frame, () => this.onT(from, frame, raw, content))) {
      return;
    }
    if (op !== undefined) {
      this.#follows.delete(from);
      const f = op.frame;
      if (f.room !== frame.room || f.originHid !== frame.originHid || f.msgId !== frame.msgId) {
        return this.#malformed(from, "a text op announced a T that did not follow it");
      }
      return this.#signedOrNot(from, frame, raw, content, op.sig);
    }
    const key = this.#host.members.keyOfOrigin(frame.originHid);
    if (key === undefined) return this.#host.relay(from, frame, raw);
    if (from.auth?.verified === true) {
      return this.#forged(from, frame, "as a plain T over a ringchat link, which relays it signed");
    }
    this.#unsigned(from, frame, raw, content, key);
  }

  /** A `text` op arrived on `from`. */
  onTextOp(from: Link, frame: ExtensionFrame): void {
    const op = textFromOp(frame.body, this.#host.maxTextBytes);
    if (typeof op === "string") return this.#malformed(from, `a text op with ${op}`);
    if (op.follows) return void this.#follows.set(from, op);
    const raw = encodeFrame(op.frame);
    const judge = () => this.#signedOrNot(from, op.frame, raw, op.content, op.sig);
    if (!this.#lookingUp(op.frame, judge)) judge();
  }

  /**
   * An origin I do not know may have joined after my last member list (and
   * member-info): `judge` runs again after one look-up. False when it is known,
   * or too many wait (the relay judges those).
   */
  #lookingUp(frame: TextFrame, judge: () => void): boolean {
    const host = this.#host;
    if (
      host.members.knownOrigin(frame.originHid) || this.#waited.has(frame) ||
      this.#waiting >= MAX_GUARD_WAITING
    ) {
      return false;
    }
    this.#waiting++;
    this.#waited.add(frame);
    host.track(
      host.lookUp().finally(() => {
        this.#waiting--;
        judge();
      }),
    );
    return true;
  }

  #signedOrNot(
    from: Link,
    frame: TextFrame,
    raw: Uint8Array,
    content: Uint8Array,
    sig: Uint8Array | null,
  ): void {
    const key = this.#host.members.keyOfOrigin(frame.originHid);
    if (key === undefined) {
      // An origin without a key in my member-info: unverified, its op passed on as it came;
      // behind the checks under way, so it is not shown before a text that came earlier.
      if (sig !== null) this.#ops.set(raw, textOp(frame, raw, sig));
      return this.#inOrder(() => Promise.resolve(this.#host.relay(from, frame, raw)));
    }
    if (sig === null) return this.#unsigned(from, frame, raw, content, key);
    if (this.#seen(frame, content)) return this.#host.relay(from, frame, raw);
    this.#inOrder(async () => {
      // A copy that came while the first was checked is a copy now: not checked again.
      if (this.#seen(frame, content)) return this.#host.relay(from, frame, raw);
      if (!(await verifyText(key, frame, content, sig))) {
        return this.#forged(from, frame, "with a signature that does not verify");
      }
      this.#believe(from, frame, raw, sig);
    });
  }

  /** A keyed origin's text without its signature: pulled from the origin (module doc). */
  #unsigned(from: Link, frame: TextFrame, raw: Uint8Array, content: Uint8Array, key: string) {
    const host = this.#host;
    if (this.#seen(frame, content)) return host.relay(from, frame, raw);
    const origin = host.members.members.find((m) => m.hashId.toString() === frame.originHid);
    if (origin === undefined) return host.relay(from, frame, raw);
    host.track(
      host.fetcher.fetch(origin, frame.room, frame.originHid, frame.msgId).then(async (got) => {
        if (got === "unreachable") {
          // Shown as unverified; ringchat links get it as an unsigned op (they ask again).
          this.#ops.set(raw, textOp(frame, raw, null));
          return host.relay(from, frame, raw);
        }
        if (got === "none") return this.#forged(from, frame, "which its origin never sent");
        if (!(await verifyText(key, frame, content, got))) {
          return this.#forged(from, frame, "whose content its origin did not sign");
        }
        this.#believe(from, frame, raw, got);
      }),
    );
  }

  #believe(from: Link, frame: TextFrame, raw: Uint8Array, sig: Uint8Array): void {
    this.#ops.set(raw, textOp(frame, raw, sig));
    this.#verified.set(raw, sig);
    this.#host.relay(from, frame, raw);
  }

  /** True when the window has seen it: the relay drops it and counts the copy. */
  #seen(frame: TextFrame, content: Uint8Array): boolean {
    return this.#host.seen.check(frame.originHid, frame.originName, frame.msgId, content) ===
      "seen";
  }

  #inOrder(work: () => Promise<void>): void {
    const next = this.#chain.then(work);
    this.#chain = next.catch(() => {});
    this.#host.track(next);
  }

  #forged(from: Link, frame: TextFrame, how: string): void {
    this.#host.refused();
    const { name, ip, port } = from.peer;
    this.#host.report(
      "forged",
      "error",
      `Dropped a text claiming to be from ${frame.originName} (originHID ${frame.originHid}) ` +
        `${how}; it came from ${name} (${ip}:${port}) and is neither shown nor forwarded`,
    );
  }

  #malformed(from: Link, what: string): void {
    this.#host.refused();
    this.#host.report(
      `text op ${from.peer.name}`,
      "error",
      `Dropped ${what} on the link with ${from.peer.name}`,
    );
  }
}
