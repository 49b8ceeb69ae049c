/**
 * A peer listens for TCP links and UDP pokes on one port number
 * (PROTOCOL.md §6). With port 0 the system picks a TCP port that may be
 * taken for UDP: then another is tried, up to {@linkcode BIND_ATTEMPTS} times.
 *
 * @module
 */

import type { Member } from "../lib/frames.ts";
import type { PeerEvent } from "./events.ts";
import type { ResolvedOptions } from "./options.ts";
import { junkMessage, pokeLimitMessage, PokeSocket } from "./poke.ts";

/** Ephemeral ports tried before giving up. */
export const BIND_ATTEMPTS = 32;

/**
 * Binds TCP `hostname:port`, then UDP on the same number with `openUdp`.
 *
 * @throws the bind error when the port (or, for port 0, every port tried) is taken
 */
export function bindOnePort<U>(
  hostname: string,
  port: number,
  openUdp: (port: number) => U,
): [Deno.TcpListener, U] {
  for (let attempt = 0;; attempt++) {
    const listener = Deno.listen({ hostname, port, transport: "tcp" });
    try {
      return [listener, openUdp(listener.addr.port)];
    } catch (error) {
      listener.close();
      if (port !== 0 || attempt + 1 >= BIND_ATTEMPTS) throw error;
    }
  }
}

/** What the poke socket of {@linkcode bindPeerPort} reports to, and reads. */
export interface PokeHost {
  emit(event: PeerEvent): void;
  /** Reports misbehaviour of one kind (`key`) without flooding the user. */
  report(key: string, type: "info" | "error", message: string): void;
  /** The room I am in (or joining), if any. */
  room(): string | undefined;
  members(): readonly Member[];
}

/**
 * Binds a peer's TCP listener and its poke socket (limited by `opts`) on one
 * port number: a poke received is a `poke` event, from the member's name or,
 * from a stranger, from its address with the name it claims.
 */
export function bindPeerPort(
  opts: ResolvedOptions,
  host: PokeHost,
): [Deno.TcpListener, PokeSocket] {
  const limits = {
    pokesPerSecond: opts.maxPokeRate,
    pokeBurst: opts.pokeBurst,
    strangerPokesPerSecond: opts.maxStrangerPokeRate,
  };
  return bindOnePort(
    opts.hostname,
    opts.port,
    (port) =>
      new PokeSocket(opts.hostname, port, {
        onPoke: (frame, from, fromMember) =>
          host.emit(
            fromMember
              ? { type: "poke", from: frame.name }
              : { type: "poke", from: `${from.hostname}:${from.port}`, claimed: frame.name },
          ),
        room: host.room,
        members: host.members,
        onLimited: (report) =>
          host.report(`poke ${report.scope}`, "info", pokeLimitMessage(report, limits)),
        onJunk: (why, from) => host.report("junk", "info", junkMessage(why, from)),
      }, limits),
  );
}
