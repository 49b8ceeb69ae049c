/**
 * A queue of events read as an async iterator: the producer pushes and
 * ends, the consumer awaits `next()`. Events pushed before the consumer asks
 * wait in order; after {@linkcode EventQueue.end} the ones queued are still
 * read, then the iteration is done. `return()` (a `break` out of `for await`)
 * drops what is queued and calls the `onReturn` given at construction, which
 * is where a subscription unsubscribes.
 *
 * @example
 * ```ts
 * import { EventQueue } from "./event_queue.ts";
 * const queue = new EventQueue<number>();
 * queue.push(1);
 * queue.push(2);
 * queue.end();
 * const seen: number[] = [];
 * for await (const n of queue) seen.push(n);
 * // seen is [1, 2]
 * ```
 *
 * @module
 */

/** An async-iterable queue; see the module doc. */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  readonly #queue: T[] = [];
  readonly #onDone: () => void;
  #ended = false;
  #finished = false;
  #wake: (() => void) | null = null;

  /** `onDone` runs once, when the consumer is done (end reached or `return()`). */
  constructor(onDone: () => void = () => {}) {
    this.#onDone = onDone;
  }

  /** Events waiting to be read. */
  get size(): number {
    return this.#queue.length;
  }

  /** Queues one event, unless the queue has ended. */
  push(event: T): void {
    if (this.#ended) return;
    this.#queue.push(event);
    this.#wakeUp();
  }

  /** No more events: the consumer reads what is queued, then is done. */
  end(): void {
    this.#ended = true;
    this.#wakeUp();
  }

  /** The next event, waiting for one; done once ended and empty. */
  async next(): Promise<IteratorResult<T>> {
    while (this.#queue.length === 0 && !this.#ended) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    if (this.#queue.length > 0) return { value: this.#queue.shift()!, done: false };
    this.#finish();
    return { value: undefined, done: true };
  }

  /** Stops the iteration: drops what is queued. */
  return(): Promise<IteratorResult<T>> {
    this.#ended = true;
    this.#queue.length = 0;
    this.#wakeUp();
    this.#finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#onDone();
  }
}
