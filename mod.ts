/**
 * ringchat: a P2PChat toolkit. The wire library both programs speak: the sdbm
 * hash, typed frames, the incremental frame reader, the ring linker, the name
 * rules and the limits.
 *
 * @module
 */

export * from "./lib/errors.ts";
export * from "./lib/sdbm.ts";
export * from "./lib/frames.ts";
export * from "./lib/frame_reader.ts";
export * from "./lib/ring.ts";
export * from "./lib/names.ts";
export * from "./lib/limits.ts";
