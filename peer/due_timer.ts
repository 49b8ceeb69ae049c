/**
 * One timer armed for the earliest of the moments asked for: the tree's
 * pulls and its watch of silent children (`./tree.ts`) each keep one, set
 * to the next moment something falls due (the clock passed in).
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { DueTimer } from "./due_timer.ts";
 * let fired = 0;
 * const timer = new DueTimer(() => fired++);
 * timer.at(Date.now() + 60_000);
 * timer.at(Date.now() + 120_000); // later than the one armed: ignored
 * equal(timer.armed, true);
 * timer.clear();
 * equal(timer.armed, false);
 * equal(fired, 0);
 * ```
 *
 * @module
 */

/** A timer for the earliest moment asked; see the module doc. */
export class DueTimer {
  readonly #fire: () => void;
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #at = Infinity;

  /** Calls `fire` when the earliest moment asked for comes (`now`: the clock, in ms). */
  constructor(fire: () => void, now: () => number = Date.now) {
    this.#fire = fire;
    this.#now = now;
  }

  /** True while a moment is waited for. */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  /** Fires at `moment` (ms on the clock) unless an earlier one is armed; null: nothing due. */
  at(moment: number | null): void {
    if (moment === null || moment >= this.#at) return;
    clearTimeout(this.#timer);
    this.#at = moment;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#at = Infinity;
      this.#fire();
    }, Math.max(0, moment - this.#now()));
  }

  /** Disarms it. */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#at = Infinity;
  }
}
