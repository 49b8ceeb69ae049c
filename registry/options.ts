/**
 * The options of the registry: what {@linkcode RegistryOptions} holds, their
 * defaults, and their validation.
 *
 * @module
 */

import { REGISTRY_MAX_FRAME_BYTES } from "../lib/limits.ts";

/**
 * Options of {@linkcode startRegistry}; every one has a default. The limits
 * and why their defaults are what they are: `docs/limits.md`.
 */
export interface RegistryOptions {
  /** Address to listen on. Default `"0.0.0.0"`. */
  hostname?: string;
  /** TCP port; 0 picks a free one. Default 32340. */
  port?: number;
  /** A member not heard from for more than this is removed. Default 60000. */
  expiryMs?: number;
  /** How often the monitor looks for expired members. Default 20000. */
  sweepMs?: number;
  /** Connections served at once; more are answered `F:Server busy…` and closed. Default 10000. */
  maxConnections?: number;
  /** A connection that sends no valid frame within this is closed. Default 10000. */
  firstFrameTimeoutMs?: number;
  /**
   * Largest frame accepted from a client; also the bound of each connection's
   * frame reader (the most it holds of an unfinished frame). Default
   * {@linkcode REGISTRY_MAX_FRAME_BYTES}.
   */
  maxFrameBytes?: number;
  /** Rooms at once; a JOIN that would create one more is answered `F:…Too many chatrooms!!`. Default 1000. */
  maxRooms?: number;
  /** Members in one room; a JOIN that would add one more is answered `F:…Chatroom is full!!`. Default 10000. */
  maxMembersPerRoom?: number;
  /**
   * Requests each connection may make per second, sustained; past it (and
   * past `requestBurst`) the registry stops reading that connection until it
   * is back under the rate. Nothing is refused: the client is slowed by TCP
   * backpressure. `Infinity` turns the limit off. Default 1000.
   */
  requestsPerSecond?: number;
  /** Requests a connection may make at once above the sustained rate. Default 2000. */
  requestBurst?: number;
  /**
   * Let a JOIN take a name that another member of the room holds at another
   * ip:port, as the reference server does. When false, such a JOIN is
   * answered `F:JOIN message - Name already in use in this chatroom!!` (the
   * same name, ip and port from another connection still takes the
   * membership over). Default false.
   */
  allowDuplicateNames?: boolean;
}

/**
 * The defaults of {@linkcode RegistryOptions}, chosen so that the reference
 * server's clients, rooms of 10,000 members and `deno task bench:registry` are
 * never limited, while one client cannot exhaust memory or the event loop:
 *
 * - `maxConnections` 10,000: an idle connection costs the registry about
 *   9 KB (measured: 5,000 add ~45 MB), so under 100 MB in all; each needs a
 *   file descriptor, so `ulimit -n` must be above it.
 * - `firstFrameTimeoutMs` 10 s: a real client sends LIST or JOIN right after
 *   connecting; 10 s forgives a slow network or a human typing into `nc`,
 *   and bounds how long a silent or garbage-only connection holds a slot.
 * - `maxFrameBytes` 4 KiB: the longest valid JOIN is under 350 bytes.
 * - `maxRooms` 1,000: rooms never outnumber connections (one room per
 *   connection), so this is what bounds the `G` reply every LIST gets: at
 *   most 1,000 × 33 bytes = 33 KB, where 10,000 rooms would make a 5-byte
 *   LIST cost 330 KB of output.
 * - `maxMembersPerRoom` 10,000: the size the toolkit is built for; its `M`
 *   reply is at most 10,000 × 293 bytes ≈ 2.9 MB with the longest fields,
 *   under the 4 MiB a peer accepts (`REGISTRY_REPLY_MAX_FRAME_BYTES`).
 * - `requestsPerSecond` 1,000 with `requestBurst` 2,000: a peer sends one
 *   keepalive every 20 s; the closed-loop bench reaches ~450 JOINs or ~560
 *   LISTs per second per connection with its 200 connections on a 2-core
 *   machine, never slowed. A client pipelining LISTs is held to 1,000 a
 *   second, about 1/100 of what the registry serves in total there, instead of
 *   taking the event loop. Past it the registry delays (stops reading that
 *   connection), it does not refuse: a refused keepalive would look like a
 *   lost member, a delay costs an honest client only latency.
 * - `allowDuplicateNames` false: two members of one name cannot be told
 *   apart (a poke of one reaches either, and one is "yourself" to the
 *   other), so a room keeps each name once.
 *
 * The full table, with what happens past each limit: `docs/limits.md`.
 */
export const REGISTRY_DEFAULTS: Readonly<Required<RegistryOptions>> = Object.freeze({
  hostname: "0.0.0.0",
  port: 32340,
  expiryMs: 60_000,
  sweepMs: 20_000,
  maxConnections: 10_000,
  firstFrameTimeoutMs: 10_000,
  maxFrameBytes: REGISTRY_MAX_FRAME_BYTES,
  maxRooms: 1_000,
  maxMembersPerRoom: 10_000,
  requestsPerSecond: 1_000,
  requestBurst: 2_000,
  allowDuplicateNames: false,
});

/**
 * Applies the defaults to `options` and checks them.
 *
 * @throws {RangeError} on an option out of range
 */
export function resolveRegistryOptions(options: RegistryOptions): Required<RegistryOptions> {
  const resolved = { ...REGISTRY_DEFAULTS, ...withoutUndefined(options) };
  checkPositive("expiryMs", resolved.expiryMs);
  checkPositive("sweepMs", resolved.sweepMs);
  checkPositive("maxConnections", resolved.maxConnections);
  checkPositive("firstFrameTimeoutMs", resolved.firstFrameTimeoutMs);
  if (!(resolved.requestsPerSecond > 0)) {
    throw new RangeError(
      `requestsPerSecond must be positive (or Infinity), got ${resolved.requestsPerSecond}`,
    );
  }
  checkAtLeastOne("maxRooms", resolved.maxRooms);
  checkAtLeastOne("maxMembersPerRoom", resolved.maxMembersPerRoom);
  checkAtLeastOne("requestBurst", resolved.requestBurst);
  if (!Number.isInteger(resolved.maxFrameBytes) || resolved.maxFrameBytes < 16) {
    throw new RangeError(
      `maxFrameBytes must be an integer of at least 16, got ${resolved.maxFrameBytes}`,
    );
  }
  return resolved;
}

function checkAtLeastOne(name: string, value: number): void {
  if (!(value >= 1)) throw new RangeError(`${name} must be at least 1, got ${value}`);
}

function checkPositive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive number, got ${value}`);
  }
}

function withoutUndefined(options: RegistryOptions): RegistryOptions {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
}
