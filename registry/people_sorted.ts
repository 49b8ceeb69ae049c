/**
 * Sorted name lists, kept sorted by insertion: the registered names
 * (`registry/accounts.ts`) and the live ones (`registry/presence.ts`), so
 * that an `online` page merges them without sorting 100,000 names.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { insertionPoint } from "./people_sorted.ts";
 * assert.equal(insertionPoint(["alice", "carol"], "bob"), 1);
 * ```
 *
 * @module
 */

/** Where `name` goes in the sorted `names` (JavaScript's default order): the first index not below it. */
export function insertionPoint(names: readonly string[], name: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (names[mid]! < name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
