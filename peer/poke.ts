/**
 * The UDP side of a peer (PROTOCOL.md §6, Poke): sends `K:room:name::\r\n` and
 * waits for `A::\r\n`, and answers every well-formed `K` it receives with `A`.
 * Junk datagrams are logged and ignored.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { ProtocolError } from "../lib/errors.ts";
import { decodeFrame, encodeFrame, type PokeFrame } from "../lib/frames.ts";

const logger = getLogger(["ringchat", "peer", "poke"]);

/** Largest datagram read; a `K` with the longest names is under 80 bytes. */
const MAX_DATAGRAM_BYTES = 2048;

const ACK = encodeFrame({ type: "A" });

/** What the poke socket reports to its owner. */
export interface PokeHandlers {
  /** A well-formed `K` arrived (it has been answered with `A`). */
  onPoke(frame: PokeFrame, from: Deno.NetAddr): void;
}

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
  readonly #pending: Pending[] = [];
  readonly #sends = new Set<Promise<void>>();
  #closed = false;
  readonly #loop: Promise<void>;

  /**
   * Binds UDP `hostname:port` and starts answering pokes.
   *
   * @throws {Deno.errors.AddrInUse} when the port is taken
   */
  constructor(hostname: string, port: number, handlers: PokeHandlers) {
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
   * arrives, "timeout" after `timeoutMs`, or "closed" if the socket closes first.
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
        if (error instanceof ProtocolError) {
          logger.debug("Ignored a datagram from {host}:{port}: {message}", {
            host: from.hostname,
            port: from.port,
            message: error.message,
          });
        } else {
          logger.error("Datagram handling failed: {error}", { error });
        }
      }
    }
  }

  #handle(data: Uint8Array, from: Deno.NetAddr): void {
    const frame = decodeFrame(data);
    if (frame.type === "K") {
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
      this.#handlers.onPoke(frame, from);
    } else if (frame.type === "A") {
      // An ACK carries nothing: match it to a poke sent to that address, else
      // (a peer that advertised "localhost", say) to one sent to that port,
      // else to the oldest poke waiting.
      const match = this.#pending.find((p) =>
        p.port === from.port && p.hostname === from.hostname
      ) ??
        this.#pending.find((p) => p.port === from.port) ?? this.#pending[0];
      if (match !== undefined) this.#settle(match, "ack");
      else {logger.debug("Ignored an unexpected ACK from {host}:{port}", {
          host: from.hostname,
          port: from.port,
        });}
    } else {
      logger.debug("Ignored a {type} datagram", { type: frame.type });
    }
  }
}
