/**
 * ringchat: a P2PChat toolkit. This module is the wire library both programs
 * speak: the sdbm hash, typed frames, the incremental frame reader, the ring
 * linker, the name rules and the limits. Both programs are libraries too:
 * `./peer` (`peer/mod.ts`: `startPeer`) and `./registry` (`registry/mod.ts`:
 * `startRegistry`).
 *
 * @example A registry, a peer that sends, and a raw client that reads the frames
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeFrame, FrameReader, hashId, sdbmHash } from "./mod.ts";
 * import { startPeer } from "./peer/mod.ts";
 * import { startRegistry } from "./registry/mod.ts";
 *
 * assert.equal(sdbmHash("alice127.0.0.150001"), 1419600254385803609n);
 * assert.equal(hashId("alice", "127.0.0.1", 50001), 1419600254385803609n);
 *
 * await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
 * await using alice = await startPeer({
 *   registry: { hostname: "127.0.0.1", port: registry.port },
 *   name: "alice",
 *   room: "lobby",
 * });
 * await alice.send("hi: all");
 *
 * // Ask the registry who is in the lobby, and read its answer frame by frame.
 * using conn = await Deno.connect({ hostname: "127.0.0.1", port: registry.port });
 * await conn.write(new TextEncoder().encode("J:lobby:bob:127.0.0.1:50002::\r\n"));
 * const reader = new FrameReader({ maxFrameBytes: 4096 });
 * const buffer = new Uint8Array(4096);
 * let members;
 * while (members === undefined) {
 *   const n = await conn.read(buffer);
 *   assert(n !== null);
 *   for (const raw of reader.push(buffer.subarray(0, n))) {
 *     const frame = decodeFrame(raw); // a typed frame, or throws ProtocolError
 *     if (frame.type === "M") members = frame.members.map((member) => member.name);
 *   }
 * }
 * assert.deepEqual(members.toSorted(), ["alice", "bob"]);
 * ```
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
