/**
 * The background work of a component (loops, link lifetimes, retries) kept
 * in one set, so that closing waits for all of it and nothing is left
 * running. A task that fails is logged, never unhandled.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";

const logger = getLogger(["ringchat", "peer"]);

/** Promises running in the background; see the module doc. */
export class TaskSet {
  readonly #tasks = new Set<Promise<unknown>>();

  /** Tasks running. */
  get size(): number {
    return this.#tasks.size;
  }

  /** Keeps `promise` until it settles (logging a failure); returns it. */
  track<T>(promise: Promise<T>): Promise<T> {
    this.#tasks.add(promise);
    promise.then(
      () => this.#tasks.delete(promise),
      (error) => {
        this.#tasks.delete(promise);
        logger.error("Unexpected failure: {error}", { error });
      },
    );
    return promise;
  }

  /** Resolves once no task runs, those started meanwhile included. */
  async drain(): Promise<void> {
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }
}
