/**
 * The P2PChat peer as a library: start one in-process, drive it with its
 * commands, read what happens as {@linkcode PeerEvent}s.
 *
 * @example Two peers in a room of their own registry
 * ```ts
 * import assert from "node:assert/strict";
 * import { startRegistry } from "../registry/mod.ts";
 * import { startPeer } from "./mod.ts";
 *
 * await using registry = await startRegistry({ hostname: "127.0.0.1", port: 0 });
 * const address = { hostname: "127.0.0.1", port: registry.port };
 * await using alice = await startPeer({ registry: address, name: "alice", room: "lobby" });
 * await using bob = await startPeer({ registry: address, name: "bob", room: "lobby" });
 * const events = bob.events();
 * await alice.send("hello: world");
 * for await (const event of events) {
 *   if (event.type !== "message") continue;
 *   assert.equal(event.from, "alice");
 *   assert.equal(event.text, "hello: world");
 *   break;
 * }
 * ```
 *
 * @module
 */

export {
  type JoinOptions,
  PEER_DEFAULTS,
  type PeerHandle,
  type PeerOptions,
  type PeerState,
  startPeer,
} from "./peer.ts";
export type {
  LinkPeer,
  MemberInfo,
  OnlineUser,
  PeerEvent,
  PeerEventType,
  PeopleEvent,
} from "./events.ts";
export type { PeopleErrorCode } from "./people.ts";
export { PeerError, type PeerErrorCode } from "./errors.ts";
export type { PeerStats } from "./stats.ts";
export type { RegistryAddress, RegistryChoice } from "./registry_addresses.ts";
export { recordHistory, serveWeb, type WebOptions, type WebServer } from "./web/server.ts";
