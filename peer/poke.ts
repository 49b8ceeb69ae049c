/**
 * The UDP side of a peer (PROTOCOL.md §6, Poke): sends `K:room:name::\r\n` and
 * waits for `A::\r\n`, and answers a well-formed `K` for my room with `A`.
 * Junk datagrams, and pokes for another room, are ignored and handed to `onJunk`.
 *
 * UDP proves nothing but the source address (and even that can be forged
 * off-path), so that is what is checked (see poke_address.ts): a poke is
 * from a member only when it comes from the ip:port that member advertised,
 * and an `A` settles only a poke sent to the address it comes from. A poke
 * naming a member from another address is still answered (within the
 * strangers' cap below: clients that poke from another socket keep getting
 * their `A`) but reported as from its address, never as from that member.
 *
 * Answers are rate limited, so that a flood of pokes (whose source address
 * may be forged) cannot turn the peer into a reflector or bury its UI: at
 * most `pokesPerSecond` (burst `pokeBurst`) from one source address, and at
 * most `strangerPokesPerSecond` (burst twice that) from all the addresses
 * that are not a member's together. A poke over a limit is neither answered
 * nor shown; `onLimited` hears of the first one and of the end of each burst.
 * Members' pokes skip the strangers' cap, so a flood from many addresses does
 * not silence them.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { ProtocolError } from "../lib/errors.ts";
import { decodeFrame, encodeFrame, type Member, type PokeFrame } from "../lib/frames.ts";
import { fromAddress } from "./poke_address.ts";
import { RateLimiter } from "./rate_limit.ts";

const logger = getLogger(["ringchat", "peer", "poke"]);

/**
 * Largest datagram read; a `K` with the longest names is under 80 bytes, and
 * a longer datagram is cut to this and then fails to decode as junk.
 */
export const MAX_DATAGRAM_BYTES = 2048;

const ACK = encodeFrame({ type: "A" });

/** The poke rate limits; see the module doc. */
export interface PokeLimits {
  /** Pokes answered per second from one source address. `Infinity`: no limit. */
  pokesPerSecond: number;
  /** Pokes answered at once from one source address above that rate. */
  pokeBurst: number;
  /** Pokes answered per second from non-member addresses together (burst twice that). */
  strangerPokesPerSecond: number;
}

/** A poke limit started refusing, or stopped. */
export interface PokeLimitReport {
  /** Which limit: one source address's, or the strangers' together. */
  scope: "source" | "strangers";
  /** "started": the first poke refused; "ended": the burst is over. */
  state: "started" | "ended";
  /** The poke's source address (for "ended": of the poke answered after the burst). */
  from: Deno.NetAddr;
  /** For "ended": pokes refused in the burst. */
  refused: number;
}

/** What the poke socket reports to its owner. */
export interface PokeHandlers {
  /**
   * A well-formed `K` for my room arrived within the limits (it has been
   * answered with `A`); `fromMember` is true when it came from the advertised
   * address of a member with the name it carries.
   */
  onPoke(frame: PokeFrame, from: Deno.NetAddr, fromMember: boolean): void;
  /** The room I am in (or joining): a `K` for another is ignored (default: any room). */
  room?(): string | undefined;
  /** The members of my room as last listed (default: none). */
  members?(): readonly Member[];
  /** A poke limit started or stopped refusing. */
  onLimited?(report: PokeLimitReport): void;
  /** A datagram that is neither a `K` for my room nor an awaited `A` was ignored, and why. */
  onJunk?(why: string, from: Deno.NetAddr): void;
}

/** Limits that allow everything (the default of {@linkcode PokeSocket}). */
export const NO_POKE_LIMITS: PokeLimits = Object.freeze({
  pokesPerSecond: Infinity,
  pokeBurst: 1,
  strangerPokesPerSecond: Infinity,
});

/** The outcome of one poke. */
export type PokeResult = "ack" | "timeout" | "closed";

interface Pending {
  hostname: string;
  port: number;
  resolve: (result: PokeResult) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The peer's UDP socket; see the module doc. */
export class PokeSocket {
  readonly #socket: Deno.DatagramConn;
  readonly #handlers: PokeHandlers;
  readonly #perSource: RateLimiter;
  readonly #strangers: RateLimiter;
  readonly #pending: Pending[] = [];
  readonly #sends = new Set<Promise<void>>();
  #closed = false;
  readonly #loop: Promise<void>;

  /**
   * Binds UDP `hostname:port` and starts answering pokes within `limits`.
   *
   * @throws {Deno.errors.AddrInUse} when the port is taken
   * @throws {RangeError} when a limit is not positive
   */
  constructor(
    hostname: string,
    port: number,
    handlers: PokeHandlers,
    limits: PokeLimits = NO_POKE_LIMITS,
  ) {
    this.#perSource = new RateLimiter({
      ratePerSecond: limits.pokesPerSecond,
      burst: limits.pokeBurst,
    });
    this.#strangers = new RateLimiter({
      ratePerSecond: limits.strangerPokesPerSecond,
      burst: Math.max(1, 2 * limits.strangerPokesPerSecond),
      maxKeys: 1,
    });
    this.#socket = Deno.listenDatagram({ transport: "udp", hostname, port });
    this.#handlers = handlers;
    this.#loop = this.#receive();
  }

  /** The bound UDP port. */
  get port(): number {
    return (this.#socket.addr as Deno.NetAddr).port;
  }

  /**
   * Sends `frame` to `hostname:port` and resolves with "ack" when an `A`
   * arrives from that address, "timeout" after `timeoutMs`, or "closed" if
   * the socket closes first. Pokes to several addresses settle independently.
   *
   * @throws when the datagram cannot be sent (bad address)
   */
  async poke(
    hostname: string,
    port: number,
    frame: PokeFrame,
    timeoutMs: number,
  ): Promise<PokeResult> {
    if (this.#closed) return "closed";
    const { promise, resolve } = Promise.withResolvers<PokeResult>();
    const pending: Pending = { hostname, port, resolve, timer: undefined };
    await this.#socket.send(encodeFrame(frame), { transport: "udp", hostname, port });
    if (this.#closed) return "closed";
    pending.timer = setTimeout(() => this.#settle(pending, "timeout"), timeoutMs);
    this.#pending.push(pending);
    return promise;
  }

  /** Closes the socket, settles pending pokes as "closed" and waits for the receive loop. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const pending of [...this.#pending]) this.#settle(pending, "closed");
      try {
        this.#socket.close();
      } catch {
        // Already closed.
      }
    }
    await this.#loop;
    await Promise.all(this.#sends);
  }

  #settle(pending: Pending, result: PokeResult): void {
    const i = this.#pending.indexOf(pending);
    if (i < 0) return;
    this.#pending.splice(i, 1);
    clearTimeout(pending.timer);
    pending.resolve(result);
  }

  async #receive(): Promise<void> {
    while (!this.#closed) {
      let data: Uint8Array, addr: Deno.Addr;
      try {
        [data, addr] = await this.#socket.receive(new Uint8Array(MAX_DATAGRAM_BYTES));
      } catch (error) {
        if (!this.#closed) logger.warn("UDP receive failed: {error}", { error });
        if (this.#closed) return;
        continue;
      }
      const from = addr as Deno.NetAddr;
      try {
        this.#handle(data, from);
      } catch (error) {
        if (error instanceof ProtocolError) this.#junk(error.message, from);
        else {
          logger.error("Datagram handling failed: {error}", { error });
        }
      }
    }
  }

  #junk(why: string, from: Deno.NetAddr): void {
    logger.debug("Ignored a datagram from {host}:{port}: {why}", {
      host: from.hostname,
      port: from.port,
      why,
    });
    this.#handlers.onJunk?.(why, from);
  }

  /**
   * Whether a poke is within the limits (`atMember`: it comes from a member's
   * address, and skips the strangers' cap); reports the start and end of refusals.
   */
  #admit(from: Deno.NetAddr, atMember: boolean): boolean {
    const source = this.#perSource.take(`${from.hostname}:${from.port}`);
    if (!source.allowed) {
      if (source.first) {
        this.#handlers.onLimited?.({ scope: "source", state: "started", from, refused: 1 });
      }
      return false;
    }
    if (source.ended > 0) {
      this.#handlers.onLimited?.({ scope: "source", state: "ended", from, refused: source.ended });
    }
    if (this.#strangers.unlimited || atMember) return true;
    const strangers = this.#strangers.take("*");
    if (!strangers.allowed) {
      if (strangers.first) {
        this.#handlers.onLimited?.({ scope: "strangers", state: "started", from, refused: 1 });
      }
      return false;
    }
    if (strangers.ended > 0) {
      this.#handlers.onLimited?.({
        scope: "strangers",
        state: "ended",
        from,
        refused: strangers.ended,
      });
    }
    return true;
  }

  #handle(data: Uint8Array, from: Deno.NetAddr): void {
    const frame = decodeFrame(data);
    if (frame.type === "K") {
      const room = this.#handlers.room === undefined ? frame.room : this.#handlers.room();
      if (frame.room !== room) {
        const mine = room === undefined ? "I am in no room" : `not for my room ${room}`;
        return this.#junk(`Poke for room ${frame.room}, ${mine}`, from);
      }
      const members = this.#handlers.members?.() ?? [];
      const atMember = members.filter((m) => fromAddress(m.ip, m.port, from));
      if (!this.#admit(from, atMember.length > 0)) return;
      const sent = this.#socket.send(ACK, {
        transport: "udp",
        hostname: from.hostname,
        port: from.port,
      }).then(
        () => {},
        (error) => {
          if (!this.#closed) logger.warn("Cannot send ACK: {error}", { error });
        },
      ).finally(() => this.#sends.delete(sent));
      this.#sends.add(sent);
      this.#handlers.onPoke(frame, from, atMember.some((m) => m.name === frame.name));
    } else if (frame.type === "A") {
      // An ACK carries nothing but its source: it settles the oldest poke sent there.
      const match = this.#pending.find((p) => fromAddress(p.hostname, p.port, from));
      if (match !== undefined) return this.#settle(match, "ack");
      this.#junk(
        this.#pending.length === 0
          ? "ACK frame with no poke waiting for it"
          : "ACK frame from an address no poke waiting for it was sent to",
        from,
      );
    } else {
      this.#junk(`${frame.type} frame, not a poke`, from);
    }
  }
}

/** What a {@linkcode PokeLimitReport} tells the user, given the `limits` in force. */
export function pokeLimitMessage(report: PokeLimitReport, limits: PokeLimits): string {
  const { scope, state, from, refused } = report;
  const who = scope === "source"
    ? `from ${from.hostname}:${from.port}`
    : "from addresses that are not a member's";
  const limit = scope === "source"
    ? `${limits.pokesPerSecond} per second (burst ${limits.pokeBurst})`
    : `${limits.strangerPokesPerSecond} per second together`;
  return state === "started"
    ? `Ignoring pokes ${who}: more than ${limit}; they are neither answered nor shown`
    : `Answering pokes ${who} again after ignoring ${refused}`;
}

/** What an ignored datagram (`onJunk`) tells the user. */
export function junkMessage(why: string, from: Deno.NetAddr): string {
  return `Ignored a datagram from ${from.hostname}:${from.port}: ${why}`;
}
