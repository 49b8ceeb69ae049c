/**
 * A binary min-heap ordered by a `before` function: what the simulations
 * (tools/bench/overlay_sim.ts, the flood tests) schedule their events with.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MinHeap } from "./min_heap.ts";
 * const heap = new MinHeap<number>((a, b) => a < b);
 * for (const n of [3, 1, 2]) heap.push(n);
 * assert.deepEqual([heap.pop(), heap.pop(), heap.pop()], [1, 2, 3]);
 * ```
 *
 * @module
 */

/** A min-heap: `pop` returns the item that comes `before` every other. */
export class MinHeap<T> {
  readonly #heap: T[] = [];
  readonly #before: (a: T, b: T) => boolean;

  /** `before(a, b)`: true when `a` must come out before `b`. */
  constructor(before: (a: T, b: T) => boolean) {
    this.#before = before;
  }

  /** Items held. */
  get size(): number {
    return this.#heap.length;
  }

  /** Adds an item. */
  push(item: T): void {
    const h = this.#heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(h[i]!, h[parent]!)) break;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
  }

  /**
   * Takes the first item out.
   *
   * @throws {RangeError} when the heap is empty
   */
  pop(): T {
    const h = this.#heap;
    if (h.length === 0) throw new RangeError("The heap is empty");
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && this.#before(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.#before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}
