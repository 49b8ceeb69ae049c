/**
 * The one error a peer's commands fail with: a {@linkcode PeerError} carries
 * a kebab-case {@linkcode PeerErrorCode} a program can switch on, and a
 * message a person can read. Commands called through the API reject (or
 * throw, for the synchronous ones) with it; the CLIs show it as an `error`
 * event with the same code and message.
 *
 * @example
 * ```ts
 * import { PeerError } from "./errors.ts";
 * const error = new PeerError("empty-text", "Message must not be empty");
 * error.code; // "empty-text"
 * ```
 *
 * @module
 */

/** Why a command could not run. */
export type PeerErrorCode =
  /** The command needs a user name first. */
  | "no-name"
  /** A user or room name breaks the rules of names. */
  | "bad-name"
  /** Joining (or renaming) after a room was joined. */
  | "already-joined"
  /** The command needs a joined room. */
  | "not-joined"
  /** Other members are listed, but no link is up to reach them. */
  | "not-connected"
  /** A message of no text, or only spaces and tabs. */
  | "empty-text"
  /** A message longer than `maxTextBytes`. */
  | "text-too-long"
  /** No member of the room has that name. */
  | "unknown-member"
  /** A poke to myself. */
  | "self-poke"
  /** A poke's datagram could not be sent. */
  | "poke-failed"
  /** A poke got no answer in time. */
  | "poke-timeout"
  /** The registry cannot be reached, or did not answer. */
  | "registry-unreachable"
  /** The registry answered `F`. */
  | "registry-refused"
  /** The peer has quit (or is quitting). */
  | "quit";

/** A command of the peer failed; see the module doc. */
export class PeerError extends Error {
  /** Why, for programs. */
  readonly code: PeerErrorCode;

  /** An error with its code and its message (upper case first, no period). */
  constructor(code: PeerErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PeerError";
    this.code = code;
  }
}
