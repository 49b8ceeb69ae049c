/**
 * What the dedup window (peer/flood.ts `SeenWindow`) costs: heap bytes per
 * remembered message and µs per `admit`, for 1,000 members each flooded up
 * to 1,024 entries. Run with the GC exposed for a clean heap figure:
 *
 *     deno run --v8-flags=--expose-gc tools/bench/seen_window.ts
 *
 * @module
 */

import { SeenWindow } from "../../peer/flood.ts";

const MEMBERS = 1000;
const PER_MEMBER = 1024;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

const keys = Array.from({ length: MEMBERS }, (_, i) => `${10n ** 18n + BigInt(i)}`);
const seen = new SeenWindow();
seen.setMembers(keys);
const content = new TextEncoder().encode("a forged text of a usual length");
gc();
const before = Deno.memoryUsage().heapUsed;
const start = performance.now();
for (const key of keys) {
  for (let i = 0; i < PER_MEMBER; i++) {
    seen.admit(key, "mallory", (1n << 64n) - 1n - BigInt(i), content);
  }
}
const elapsed = performance.now() - start;
gc();
const bytes = Deno.memoryUsage().heapUsed - before;
console.log(
  `${seen.entries} entries: ${(bytes / seen.entries).toFixed(1)} bytes each, ` +
    `${(bytes / 1e6).toFixed(1)} MB; admit ${(elapsed * 1000 / seen.entries).toFixed(2)} µs/op`,
);
