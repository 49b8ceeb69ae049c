/**
 * The one domain error of ringchat: bytes on the wire that do not follow the
 * P2PChat protocol.
 *
 * `frameType` is the frame's first character when one could be read, so a
 * registry can answer with the reference server's message for that type.
 * `fatal` is true when the byte stream cannot be resynchronised (the frame
 * boundary itself is lost) and the connection must be closed.
 *
 * @example
 * ```ts
 * import { ProtocolError } from "./errors.ts";
 * try {
 *   throw new ProtocolError("JOIN frame has 3 fields, expected 4", { frameType: "J" });
 * } catch (e) {
 *   if (e instanceof ProtocolError) console.error(e.frameType, e.message);
 * }
 * ```
 */
export class ProtocolError extends Error {
  /** The frame's type character, if the frame got that far. */
  readonly frameType: string | undefined;
  /** True when the stream cannot be resynchronised after this error. */
  readonly fatal: boolean;

  /** Creates a protocol error with a message that says what was wrong. */
  constructor(message: string, options: { frameType?: string; fatal?: boolean } = {}) {
    super(message);
    this.name = "ProtocolError";
    this.frameType = options.frameType;
    this.fatal = options.fatal ?? false;
  }
}

/**
 * True when `error` says a socket's connection ended (reset, broken pipe,
 * not connected, aborted, the resource already closed, or an operation
 * interrupted by our own close): the normal end of a connection, not a fault.
 */
export function isDisconnect(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted;
}
