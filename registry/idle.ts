/**
 * When a registry connection has been silent too long (issue 16: one `L`
 * must not hold a connection forever). After its first valid frame, a
 * connection in no room is closed when no whole frame has come from it for
 * longer than `idleTimeoutMs`. A connection in a room is not closed for
 * silence while its member is listed; once the member expires (silent past
 * `expiryMs`, removed by the monitor) the connection is in no room, and is
 * closed if it has also been silent past `idleTimeoutMs` (with the defaults,
 * at once: 60 s > 30 s). Before the first frame, `firstFrameTimeoutMs`
 * applies instead.
 *
 * A client that sends `L` and later `J` within `idleTimeoutMs` is served as
 * before; a member renewing every 20 s is never idle; a member that
 * expired with `expiryMs` below `idleTimeoutMs` may still JOIN again on the
 * same connection, as on the reference server.
 *
 * @module
 */

/**
 * True when a connection last heard at `lastHeard` (ms, the clock of `now`)
 * has been silent too long: in no room, and silent for more than
 * `idleTimeoutMs`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isIdle } from "./idle.ts";
 * assert.ok(isIdle(0, 30_001, false, 30_000));
 * assert.ok(!isIdle(0, 29_999, false, 30_000));
 * assert.ok(!isIdle(0, 90_000, true, 30_000)); // its member expires first
 * ```
 */
export function isIdle(
  lastHeard: number,
  now: number,
  inRoom: boolean,
  idleTimeoutMs: number,
): boolean {
  return !inRoom && now - lastHeard > idleTimeoutMs;
}

/**
 * How often to look for idle connections: a quarter of `idleTimeoutMs` (so
 * one is closed at most a quarter late), at least every 10 ms and at most
 * every 5 s.
 */
export function idleCheckEveryMs(idleTimeoutMs: number): number {
  return Math.min(5000, Math.max(10, idleTimeoutMs / 4));
}
