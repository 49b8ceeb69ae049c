/**
 * Where a peer's events go: listeners called in order (one that throws is
 * logged and the others still hear the event), and subscriptions read as
 * async iterators ({@linkcode EventQueue}) that end with the last event.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { EventQueue } from "./event_queue.ts";

const logger = getLogger(["ringchat", "peer"]);

/** Listeners and subscriptions of events `T`; see the module doc. */
export class Emitter<T> {
  readonly #listeners = new Set<(event: T) => void>();

  /** Calls `listener` with every event from now on; returns the unsubscribe function. */
  on(listener: (event: T) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * A subscription to every event from now on; it ends after the event for
   * which `isLast` holds, or when `ended` settles.
   */
  events(isLast: (event: T) => boolean, ended: Promise<void>): AsyncIterableIterator<T> {
    const queue = new EventQueue<T>(() => off());
    const off = this.on((event) => {
      queue.push(event);
      if (isLast(event)) queue.end();
    });
    ended.then(() => queue.end());
    return queue;
  }

  /** Calls every listener with `event`. */
  emit(event: T): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        logger.error("An event listener threw: {error}", { error });
      }
    }
  }

  /** Removes every listener. */
  clear(): void {
    this.#listeners.clear();
  }
}
