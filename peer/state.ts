/**
 * The peer's state (PROTOCOL.md §6) as data: one tagged union whose every
 * state holds what exists only in it (the name once NAMED, the room while
 * JOINING, my member record once JOINED), and one guard, {@linkcode need},
 * through which every command gets its state or fails with a
 * {@linkcode PeerError} saying why it cannot run. A new command adds a row to
 * {@linkcode NEEDS} and cannot forget a check.
 *
 * START → NAMED (user) → JOINING (join) → JOINED (the registry answered);
 * JOINING falls back to NAMED when the JOIN fails; JOINED → NAMED (leave,
 * and nick on its way to JOINING again); any state → QUITTING →
 * QUIT. CONNECTED is JOINED with a link up (see {@linkcode publicState}).
 *
 * @example
 * ```ts
 * import { need } from "./state.ts";
 * const state = need({ code: "NAMED", name: "alice" }, "join");
 * state.name; // "alice"
 * ```
 *
 * @module
 */

import type { RingMember } from "../lib/ring.ts";
import { PeerError } from "./errors.ts";

/** The peer's state and the data that belongs to it. */
export type PeerStatus =
  /** Started, no user name yet. */
  | { code: "START" }
  /** Named, in no room. */
  | { code: "NAMED"; name: string }
  /** The JOIN is on its way; `done` settles when it has been answered or failed. */
  | { code: "JOINING"; name: string; room: string; done: Promise<void> }
  /** In `room` as `me` (my name, advertised ip, port and HashID). */
  | { code: "JOINED"; name: string; room: string; me: RingMember }
  /** Releasing everything; `done` settles once the peer has quit. */
  | { code: "QUITTING"; done: Promise<void> }
  /** Stopped. */
  | { code: "QUIT" };

/** Where I am in the ring while joined: my room and my member record. */
export type Place = Pick<Extract<PeerStatus, { code: "JOINED" }>, "room" | "me">;

/** The code of each state. */
export type StatusCode = PeerStatus["code"];

/** The states as {@linkcode PeerHandle.state} names them. */
export type PeerState = "START" | "NAMED" | "JOINING" | "JOINED" | "CONNECTED" | "QUIT";

/** The public name of a state; `linked` tells CONNECTED from JOINED. */
export function publicState(status: PeerStatus, linked: boolean): PeerState {
  switch (status.code) {
    case "JOINED":
      return linked ? "CONNECTED" : "JOINED";
    case "QUITTING":
    case "QUIT":
      return "QUIT";
    default:
      return status.code;
  }
}

const ALIVE = ["START", "NAMED", "JOINING", "JOINED"] as const;

/** The states each command runs in. */
export const NEEDS = {
  user: ["START", "NAMED"],
  list: ALIVE,
  join: ["NAMED"],
  send: ["JOINED"],
  poke: ["JOINED"],
  who: ["JOINED"],
  leave: ["JOINED"],
  nick: ["JOINED"],
  history: ["JOINED"],
  links: ALIVE,
  stats: [...ALIVE, "QUITTING", "QUIT"],
} as const satisfies Record<string, readonly StatusCode[]>;

/** A command the guard knows. */
export type CommandName = keyof typeof NEEDS;

/** The state a command runs in, narrowed. */
export type StateFor<C extends CommandName> = Extract<
  PeerStatus,
  { code: (typeof NEEDS)[C][number] }
>;

/** What each command needs, said to the user when it is missing. */
const NEEDS_A_ROOM: Partial<Record<CommandName, string>> = {
  send: "Join a room before sending",
  poke: "Join a room before poking",
  who: "Join a room to see its members",
  leave: "Not in a room: nothing to leave",
  nick: "Join a room before /nick (before joining, /user sets the name)",
  history: "Join a room to see its history",
};

/**
 * The state `command` runs in.
 *
 * @throws {PeerError} with why `command` cannot run in `status`
 */
export function need<C extends CommandName>(status: PeerStatus, command: C): StateFor<C> {
  const allowed: readonly StatusCode[] = NEEDS[command];
  if (allowed.includes(status.code)) return status as StateFor<C>;
  throw refusal(status, command);
}

/**
 * Checks that the peer has not quit (after a command waited).
 *
 * @throws {PeerError} `quit` when quitting or quit
 */
export function stillRunning(status: PeerStatus): void {
  if (status.code === "QUITTING" || status.code === "QUIT") throw refusal(status, "stats");
}

function refusal(status: PeerStatus, command: CommandName): PeerError {
  switch (status.code) {
    case "QUITTING":
    case "QUIT":
      return new PeerError("quit", "The peer has quit");
    case "JOINING":
    case "JOINED":
      if (command === "user") {
        return new PeerError(
          "already-joined",
          `Cannot change the user name after joining room ${status.room}`,
        );
      }
      if (command === "join") {
        return new PeerError("already-joined", `Already joined room ${status.room}`);
      }
      break;
    case "START":
      if (command === "join") {
        return new PeerError("no-name", "Set a user name before joining a room");
      }
      break;
  }
  return new PeerError("not-joined", NEEDS_A_ROOM[command] ?? `Join a room before ${command}`);
}
