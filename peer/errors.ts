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

import type { PeerEvent } from "./events.ts";
import type { PeopleErrorCode } from "./people.ts";
import { RegistryFailure } from "./registry_client.ts";

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
  /** A count that is not a positive integer (`/history`). */
  | "bad-count"
  /** A message of no text, or only spaces and tabs. */
  | "empty-text"
  /** A message longer than `maxTextBytes` (or than its wire form allows: parts, encryption). */
  | "text-too-long"
  /** A private room's password is missing, empty or longer than 1,024 bytes. */
  | "bad-room-password"
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
  /**
   * The registry connection is IPv6 and gives no address a P2PChat member
   * can advertise (no `:` on the wire, PROTOCOL.md §3): `--advertise` one.
   */
  | "no-ipv4-address"
  /** The peer has quit (or is quitting). */
  | "quit"
  /** A people op refused (docs/people.md), or a direct message that could not go (`peer/people.ts`). */
  | PeopleErrorCode;

/** A command of the peer failed; see the module doc. */
export class PeerError extends Error {
  /** Why, for programs. */
  readonly code: PeerErrorCode;
  /** What the code adds (`remaining`, `retryAfterMs`), shown in the `error` event. */
  readonly fields: Record<string, unknown>;

  /** An error with its code and its message (upper case first, no period). */
  constructor(
    code: PeerErrorCode,
    message: string,
    options?: ErrorOptions & { fields?: Record<string, unknown> },
  ) {
    super(message, options);
    this.name = "PeerError";
    this.code = code;
    this.fields = options?.fields ?? {};
  }
}

/** The message of `error`, or `error` as text. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The PeerError of a failed registry request for `what` ("join room1"): an
 * `F` is `registry-refused` quoting the registry's text, anything else
 * (no connection, no reply in time) is `registry-unreachable`.
 */
export function registryError(what: string, error: unknown): PeerError {
  if (error instanceof PeerError) return error;
  if (error instanceof RegistryFailure) {
    return new PeerError("registry-refused", `The registry refused to ${what}: ${error.message}`, {
      cause: error,
    });
  }
  return new PeerError("registry-unreachable", describe(error), { cause: error });
}

/**
 * The "error" event that shows a failed command, or null for a poke
 * timeout (the "poke-timeout" event has shown it already).
 */
export function errorEvent(error: unknown): Extract<PeerEvent, { type: "error" }> | null {
  if (!(error instanceof PeerError)) return { type: "error", message: describe(error) };
  if (error.code === "poke-timeout") return null;
  return { type: "error", code: error.code, message: error.message, ...error.fields };
}
