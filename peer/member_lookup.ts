/**
 * Looks up members I do not know yet (a handshake or a message from one) by
 * re-sending my JOIN. Strangers can cause that as often as they connect or
 * send, so the re-JOINs are at least `intervalMs` apart, and everyone asking
 * meanwhile waits for the same one.
 *
 * @module
 */

/** The throttled member look-up; see the module doc. */
export class MemberLookup {
  readonly #intervalMs: number;
  readonly #refresh: () => Promise<unknown>;
  #pending: { promise: Promise<void>; resolve: () => void } | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last = Number.NEGATIVE_INFINITY;
  #closed = false;

  /** `refresh` re-sends the JOIN and resolves once the registry answered. */
  constructor(intervalMs: number, refresh: () => Promise<unknown>) {
    this.#intervalMs = intervalMs;
    this.#refresh = refresh;
  }

  /** Resolves after a re-JOIN sent from now on has been answered (at once once closed). */
  lookUp(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#pending !== null) return this.#pending.promise;
    const now = performance.now();
    const wait = this.#last + this.#intervalMs - now;
    if (wait <= 0) {
      this.#last = now;
      return this.#refresh().then(() => {});
    }
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#pending = { promise, resolve };
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#pending = null;
      this.#last = performance.now();
      this.#refresh().finally(resolve);
    }, wait);
    return promise;
  }

  /** Cancels a scheduled look-up; those waiting for it resolve. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending?.resolve();
    this.#pending = null;
  }
}
