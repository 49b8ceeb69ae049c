/**
 * A small deterministic PRNG (mulberry32), so a simulated or "random" run is
 * the same every time it is made with the same seed.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { prng } from "./prng.ts";
 * const a = prng(1), b = prng(1);
 * equal(a(), b());
 * ```
 *
 * @module
 */

/** Numbers in [0, 1) from `seed`. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
