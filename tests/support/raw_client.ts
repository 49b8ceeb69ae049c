/**
 * A tiny raw TCP client for tests: connect to `127.0.0.1:port`, write raw
 * bytes or strings, read the next whole frames, and close. It is a
 * {@linkcode Wire} (tools/wire.ts) with the tests' defaults: a 5 s deadline
 * on every read (a frame that does not come fails the test instead of
 * hanging it), garbage from the server thrown as `ProtocolError`, and a
 * write to a closed connection thrown rather than reported.
 *
 * @example
 * ```ts
 * import { startRegistry } from "../../registry/registry.ts";
 * import { RawClient } from "./raw_client.ts";
 * await using registry = await startRegistry({ port: 0 });
 * await using client = await RawClient.connect(registry.port);
 * await client.write("L::\r\n");
 * const reply = await client.frame(); // "G::\r\n"
 * ```
 *
 * @module
 */

import { Wire, WireError } from "../../tools/wire.ts";

/** How long a read waits by default before it fails the test. */
export const DEFAULT_TIMEOUT_MS = 5000;

/** A raw connection to a ringchat server, for tests. */
export class RawClient implements AsyncDisposable {
  readonly #wire: Wire;

  private constructor(wire: Wire) {
    this.#wire = wire;
  }

  /** Connects to `hostname:port` (default 127.0.0.1), with Nagle off. */
  static async connect(port: number, hostname = "127.0.0.1"): Promise<RawClient> {
    return new RawClient(await Wire.connect(hostname, port, { timeoutMs: DEFAULT_TIMEOUT_MS }));
  }

  /** The local port of this connection. */
  get localPort(): number {
    return this.#wire.localPort;
  }

  /** Writes all of `data` (a string is sent as UTF-8); throws if the server has closed. */
  async write(data: string | Uint8Array): Promise<void> {
    if (!(await this.#wire.write(data))) throw new WireError("the server closed the connection");
  }

  /** The next whole frame as raw bytes, terminator included. */
  frameBytes(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Uint8Array> {
    return this.#wire.frameBytes(timeoutMs);
  }

  /** The next whole frame as text, terminator included. */
  frame(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
    return this.#wire.frame(timeoutMs);
  }

  /** The next `count` frames as text. */
  async frames(count: number, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(await this.frame(timeoutMs));
    return out;
  }

  /** Writes `request` and returns the one frame that answers it. */
  request(request: string | Uint8Array, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
    return this.#wire.request(request, timeoutMs);
  }

  /**
   * Waits until the other side closes the connection (end of stream or a
   * reset) and returns the frames that arrived before, as text.
   */
  closedByPeer(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string[]> {
    return this.#wire.closedByPeer(timeoutMs);
  }

  /** Closes the connection; safe to call twice. */
  close(): void {
    this.#wire.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
