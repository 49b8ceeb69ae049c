/**
 * Looks up members I do not know yet (a handshake or a message from one) by
 * re-sending my JOIN. Strangers can cause that as often as they connect or
 * send, so the re-JOINs are at least `intervalMs` apart, and everyone asking
 * meanwhile waits for the same one.
 *
 * @module
 */

/**
 * The throttled member look-up; see the module doc. `R` is what a refresh
 * tells (how it ended), handed to everyone who waited for it.
 */
export class MemberLookup<R = unknown> {
  readonly #intervalMs: number;
  readonly #refresh: () => Promise<R>;
  #pending: { promise: Promise<R | undefined>; resolve: (result?: R) => void } | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last = Number.NEGATIVE_INFINITY;
  #closed = false;

  /** `refresh` re-sends the JOIN and resolves once the registry answered. */
  constructor(intervalMs: number, refresh: () => Promise<R>) {
    this.#intervalMs = intervalMs;
    this.#refresh = refresh;
  }

  /**
   * Resolves after a re-JOIN sent from now on has been answered, with what
   * the refresh told (`undefined` at once once closed, and if it failed).
   */
  lookUp(): Promise<R | undefined> {
    if (this.#closed) return Promise.resolve(undefined);
    if (this.#pending !== null) return this.#pending.promise;
    const now = performance.now();
    const wait = this.#last + this.#intervalMs - now;
    if (wait <= 0) {
      this.#last = now;
      return this.#refresh().catch(() => undefined);
    }
    const { promise, resolve } = Promise.withResolvers<R | undefined>();
    this.#pending = { promise, resolve };
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#pending = null;
      this.#last = performance.now();
      this.#refresh().then(resolve, () => resolve(undefined));
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
