/**
 * The eclipse watch (issue 16, "Eclipse"): members registered at HashIDs
 * chosen around mine can take my forward link and every link to me, and
 * swallow what I send and what I should hear. Our registry's member-info
 * says which members speak ringchat/2; a peer whose links have reached no
 * such member for `graceMs`, while the member-info lists others, is cut off
 * from the ringchat peers of its room, and relinks: its forward link goes to
 * the first member on the ring that speaks ringchat/2, skipping the others
 * (the suspects). Pure state: the time is an argument.
 *
 * Its limit: fakes that themselves say hello (and prove keys) look like
 * ringchat peers here; the registry's per-source caps bound how many of
 * them one attacker can register (docs/security.md).
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { EclipseWatch } from "./eclipse.ts";
 * const watch = new EclipseWatch(200, 2000);
 * equal(watch.update(0, true), false);
 * equal(watch.update(199, true), false);
 * equal(watch.update(200, true), true);
 * equal(watch.update(300, true), false); // cooling down
 * equal(watch.update(2200, true), true);
 * equal(watch.update(2201, false), false);
 * ```
 *
 * @module
 */

/**
 * How long a peer may be cut off from every ringchat peer before it relinks,
 * in ms: short, so what it sent meanwhile is still among the frames a new
 * link gets (the last 2 s at most, 0.5 s with a 1 s keepalive), and cheap
 * when wrong (it only moves the forward link to a ringchat member).
 */
export const ECLIPSE_GRACE_MS = 200;
/** Least time between two relinks of the watch while it stays cut off, in ms. */
export const ECLIPSE_COOLDOWN_MS = 500;

/** When a peer has been cut off long enough; see the module doc. */
export class EclipseWatch {
  readonly #graceMs: number;
  readonly #cooldownMs: number;
  #since: number | null = null;
  #fired = -Infinity;

  /** A watch that reports being cut off for `graceMs`, at most once per `cooldownMs`. */
  constructor(graceMs: number = ECLIPSE_GRACE_MS, cooldownMs: number = ECLIPSE_COOLDOWN_MS) {
    this.#graceMs = graceMs;
    this.#cooldownMs = cooldownMs;
  }

  /**
   * Takes whether I am cut off at `now` (my links reach no ringchat peer
   * while others are listed); true when I have been for `graceMs`, and the
   * last true is `cooldownMs` ago.
   */
  update(now: number, cutOff: boolean): boolean {
    if (!cutOff) {
      this.#since = null;
      return false;
    }
    this.#since ??= now;
    if (now - this.#since < this.#graceMs || now - this.#fired < this.#cooldownMs) return false;
    this.#fired = now;
    return true;
  }
}
