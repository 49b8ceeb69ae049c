/**
 * The P2PChat registry (room server) as a library: start one in-process on
 * any port, read its figures, close it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { REGISTRY_DEFAULTS, startRegistry } from "./mod.ts";
 *
 * await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
 * assert(registry.port > 0);
 * assert.equal(registry.stats().rooms, 0);
 * assert.equal(REGISTRY_DEFAULTS.maxFrameBytes, 4096);
 * ```
 *
 * @module
 */

export {
  REGISTRY_DEFAULTS,
  type RegistryHandle,
  type RegistryOptions,
  type RegistryStats,
  startRegistry,
} from "./registry.ts";
export type { StoreHealth } from "./metrics_server.ts";
