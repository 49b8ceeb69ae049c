/**
 * The options of the peer engine: what {@linkcode PeerOptions} holds, their
 * defaults, and their validation.
 *
 * @module
 */

import { MAX_TEXT_BYTES, REGISTRY_REPLY_MAX_FRAME_BYTES } from "../lib/limits.ts";
import type { PeerEvent } from "./events.ts";
import { FRAME_TIMEOUT_MS, MAX_QUEUED_BYTES } from "./links.ts";

/** Options of {@linkcode startPeer}. */
export interface PeerOptions {
  /** Where the registry listens (default 127.0.0.1:32340). */
  registry?: { hostname: string; port: number };
  /** TCP and UDP listening port, one number; 0 = ephemeral (default 0). */
  port?: number;
  /** Listen address (default "0.0.0.0"). */
  hostname?: string;
  /** The ip sent in `J` and `P` (default: the local address of the registry connection). */
  advertise?: string;
  /** Sets the user name at start. */
  name?: string;
  /** With `name`: joins this room at start. */
  room?: string;
  /** Interval of the keepalive JOIN, in ms (default 20000). */
  keepaliveMs?: number;
  /** Retry interval for the forward link and the registry reconnect, in ms (default 5000). */
  retryMs?: number;
  /** How long a poke waits for its ACK, in ms (default 2000). */
  pokeTimeoutMs?: number;
  /** How long a link handshake may take, in ms (default 3000). */
  handshakeTimeoutMs?: number;
  /** How long a registry request may wait for its reply, in ms (default 10000). */
  requestTimeoutMs?: number;
  /**
   * Longest chat text sent or accepted, in UTF-8 bytes (default 65536). A
   * link reads frames of up to this plus 1 KiB; a longer frame drops the
   * link, a longer text in a shorter frame is dropped and reported.
   */
  maxTextBytes?: number;
  /**
   * How long a frame on a link may take from its first byte to its last, in
   * ms; a link stalled mid-frame is dropped after it (default 10000).
   */
  frameTimeoutMs?: number;
  /** Accepted connections handshaking at once; more are closed at once (default 64). */
  maxHandshakes?: number;
  /** Bytes queued for writing on one link before it is dropped as too slow (default 16 MiB). */
  maxQueuedBytes?: number;
  /** Largest registry reply accepted, in bytes (default 4 MiB: an `M` of 10,000 members). */
  maxRegistryFrameBytes?: number;
  /**
   * Messages per second accepted from one origin (originHID); past it and
   * `textBurst`, its messages are dropped (not shown, not forwarded) and the
   * drop reported once per burst. `Infinity`: no limit (default 200).
   */
  maxTextRate?: number;
  /** Messages accepted at once from one origin above `maxTextRate` (default 400). */
  textBurst?: number;
  /** Pokes answered (and shown) per second from one address. `Infinity`: no limit (default 10). */
  maxPokeRate?: number;
  /** Pokes answered at once from one address above `maxPokeRate` (default 20). */
  pokeBurst?: number;
  /**
   * Pokes answered per second from the addresses that are not a member's,
   * together (burst twice that); members' pokes skip this cap. `Infinity`: no
   * limit (default 100).
   */
  maxStrangerPokeRate?: number;
  /**
   * Least time between two re-JOINs made to look up a member I do not know
   * (a handshake or a message from it), in ms; handshakes arriving meanwhile
   * wait for the next one (default 100).
   */
  refreshIntervalMs?: number;
  /** Receives every event, from the very first ("ready"). */
  onEvent?: (event: PeerEvent) => void;
}

/**
 * The defaults of the timings and limits of {@linkcode PeerOptions}; why each
 * limit is what it is: `docs/peer_limits.md`. In short, every limit is far
 * above what a peer following PROTOCOL.md (or a person typing) ever needs,
 * and low enough that one misbehaving client cannot take the peer's memory,
 * its event loop, its registry connection or its user's screen.
 */
export const PEER_DEFAULTS = Object.freeze({
  keepaliveMs: 20_000,
  retryMs: 5_000,
  pokeTimeoutMs: 2_000,
  handshakeTimeoutMs: 3_000,
  requestTimeoutMs: 10_000,
  maxTextBytes: MAX_TEXT_BYTES,
  frameTimeoutMs: FRAME_TIMEOUT_MS,
  maxHandshakes: 64,
  maxQueuedBytes: MAX_QUEUED_BYTES,
  maxRegistryFrameBytes: REGISTRY_REPLY_MAX_FRAME_BYTES,
  maxTextRate: 200,
  textBurst: 400,
  maxPokeRate: 10,
  pokeBurst: 20,
  maxStrangerPokeRate: 100,
  refreshIntervalMs: 100,
});

const DEFAULTS = {
  registry: { hostname: "127.0.0.1", port: 32340 },
  port: 0,
  hostname: "0.0.0.0",
  ...PEER_DEFAULTS,
};

/** Options that must be integers of at least 1. */
const POSITIVE_INTEGERS = [
  "keepaliveMs",
  "retryMs",
  "pokeTimeoutMs",
  "handshakeTimeoutMs",
  "requestTimeoutMs",
  "maxTextBytes",
  "frameTimeoutMs",
  "maxHandshakes",
  "maxQueuedBytes",
  "maxRegistryFrameBytes",
  "refreshIntervalMs",
] as const;

/** Options with every default applied. */
export type ResolvedOptions =
  & Required<Omit<PeerOptions, "advertise" | "name" | "room" | "onEvent">>
  & Pick<PeerOptions, "advertise" | "name" | "room">;

/**
 * Applies the defaults to `options` and checks them.
 *
 * @throws {RangeError} when an option is out of range
 */
export function resolvePeerOptions(options: PeerOptions): ResolvedOptions {
  const resolved = {
    ...DEFAULTS,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  } as ResolvedOptions;
  for (const key of [...POSITIVE_INTEGERS, "textBurst", "pokeBurst"] as const) {
    const value = resolved[key];
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`${key} must be an integer of at least 1, got ${value}`);
    }
  }
  for (const key of ["maxTextRate", "maxPokeRate", "maxStrangerPokeRate"] as const) {
    const value = resolved[key];
    if (!(value > 0)) {
      throw new RangeError(`${key} must be positive (Infinity: no limit), got ${value}`);
    }
  }
  return resolved;
}
